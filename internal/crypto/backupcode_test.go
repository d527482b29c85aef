package crypto_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// Made by the Argon2 reference implementation with one salt for the set:
// echo -n ABCD1234 | argon2 cerberusbackup16 -id -m 10 -t 2 -p 1 -l 32 -e
// echo -n 0F0F9A9A | argon2 cerberusbackup16 -id -m 10 -t 2 -p 1 -l 32 -e
var refCodeSet = []string{
	"$argon2id$v=19$m=1024,t=2,p=1$Y2VyYmVydXNiYWNrdXAxNg" +
		"$Ax6PL7F5ja4QrfRkfYWmOxgpsd6GOUdm3IsZCoHWZQw",
	"$argon2id$v=19$m=1024,t=2,p=1$Y2VyYmVydXNiYWNrdXAxNg" +
		"$SS7ePM/J3oOT+J33UDcU2Flwuxh5yP2Q6X33Fdxv4RA",
}

func newCodes(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		s := crypto.RandomString("0123456789ABCDEF", 8)
		codes[i] = s[:4] + "-" + s[4:]
	}
	return codes
}

func TestHashCodeSetSharesSalt(t *testing.T) {
	h := newHasher(fastParams, 2)
	hashes, err := h.HashCodeSet(t.Context(), newCodes(10))
	if err != nil {
		t.Fatalf("HashCodeSet: %v", err)
	}
	if len(hashes) != 10 {
		t.Fatalf("HashCodeSet returned %d hashes, want 10", len(hashes))
	}
	salt := strings.Split(hashes[0], "$")[4]
	seen := make(map[string]bool)
	for i, phc := range hashes {
		if !phcFormat.MatchString(phc) {
			t.Fatalf("hash %d = %q, not an argon2id PHC string", i, phc)
		}
		if got := strings.Split(phc, "$")[4]; got != salt {
			t.Errorf("hash %d salt %s, want the set's salt %s", i, got, salt)
		}
		if seen[phc] {
			t.Errorf("hash %d repeats an earlier hash", i)
		}
		seen[phc] = true
	}
}

func TestMatchCode(t *testing.T) {
	var computations atomic.Int32
	h := newHasher(fastParams, 2)
	codes := newCodes(10)
	hashes, err := h.HashCodeSet(t.Context(), codes)
	if err != nil {
		t.Fatalf("HashCodeSet: %v", err)
	}
	crypto.SetSlotHook(h, func(delta int) {
		if delta > 0 {
			computations.Add(1)
		}
	})

	tests := map[string]int{
		codes[0]:                                0,
		codes[7]:                                7,
		strings.ToLower(codes[3]):               3,
		strings.ReplaceAll(codes[9], "-", ""):   9,
		" " + strings.ToLower(codes[5]) + "\t":  5,
		"0000-0000":                             -1,
		"":                                      -1,
		codes[1] + "0":                          -1,
		strings.ReplaceAll(codes[2], "-", "--"): 2,
	}
	for candidate, want := range tests {
		before := computations.Load()
		got, err := h.MatchCode(t.Context(), candidate, hashes)
		if err != nil || got != want {
			t.Errorf("MatchCode(%q) = %d, %v; want %d", candidate, got, err, want)
		}
		if n := computations.Load() - before; n != 1 {
			t.Errorf("MatchCode(%q) ran %d hashes, want 1", candidate, n)
		}
	}
}

func TestMatchCodeReferenceVector(t *testing.T) {
	h := newHasher(fastParams, 1)
	tests := map[string]int{"abcd-1234": 0, "0F0F-9A9A": 1, "ABCD-1235": -1}
	for candidate, want := range tests {
		got, err := h.MatchCode(t.Context(), candidate, refCodeSet)
		if err != nil || got != want {
			t.Errorf("MatchCode(%q) = %d, %v; want %d", candidate, got, err, want)
		}
	}
}

func TestMatchCodeEmptySet(t *testing.T) {
	h := newHasher(fastParams, 1)
	got, err := h.MatchCode(t.Context(), "ABCD-1234", nil)
	if err != nil || got != -1 {
		t.Errorf("MatchCode(empty set) = %d, %v; want -1, nil", got, err)
	}
}

func TestMatchCodeRejectsBadSets(t *testing.T) {
	h := newHasher(fastParams, 1)
	other, err := h.HashCodeSet(t.Context(), []string{"ABCD-1234"})
	if err != nil {
		t.Fatalf("HashCodeSet: %v", err)
	}

	mixed := []string{refCodeSet[0], other[0]}
	if _, err := h.MatchCode(t.Context(), "ABCD-1234", mixed); !errors.Is(err,
		crypto.ErrMixedCodeSet) {
		t.Errorf("MatchCode(two salts) error = %v, want ErrMixedCodeSet", err)
	}

	broken := []string{refCodeSet[0], "$argon2id$v=19$garbage"}
	if _, err := h.MatchCode(t.Context(), "ABCD-1234", broken); !errors.Is(err,
		crypto.ErrMalformedHash) {
		t.Errorf("MatchCode(malformed) error = %v, want ErrMalformedHash", err)
	}
}
