package crypto_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

var base64URLToken = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok := crypto.NewToken()
		if !base64URLToken.MatchString(tok) {
			t.Fatalf("NewToken() = %q, want 43 base64url characters", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("NewToken() %q decodes to %d bytes (%v), want 32",
				tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("NewToken() returned %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestRandomBytes(t *testing.T) {
	a, b := crypto.RandomBytes(32), crypto.RandomBytes(32)
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("RandomBytes(32) lengths %d, %d; want 32", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two RandomBytes(32) calls returned the same bytes")
	}
	if got := crypto.RandomBytes(0); len(got) != 0 {
		t.Fatalf("RandomBytes(0) = %x, want empty", got)
	}
}

func TestRandomString(t *testing.T) {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	counts := make(map[rune]int)
	for range 2000 {
		s := crypto.RandomString(alphabet, 8)
		if len(s) != 8 {
			t.Fatalf("RandomString(_, 8) = %q, want 8 symbols", s)
		}
		for _, r := range s {
			if !strings.ContainsRune(alphabet, r) {
				t.Fatalf("RandomString returned %q outside the alphabet", r)
			}
			counts[r]++
		}
	}
	// 16000 draws over 20 symbols: each expected 800 times. A symbol that
	// never appears, or appears over twice as often, means a broken draw.
	for _, r := range alphabet {
		if counts[r] == 0 || counts[r] > 1600 {
			t.Errorf("symbol %q drawn %d times in 16000, want about 800",
				r, counts[r])
		}
	}
}

func TestRandomStringSingleSymbolAndUnicode(t *testing.T) {
	if got := crypto.RandomString("x", 5); got != "xxxxx" {
		t.Errorf("RandomString(\"x\", 5) = %q, want xxxxx", got)
	}
	got := crypto.RandomString("äö", 4)
	if n := len([]rune(got)); n != 4 || strings.Trim(got, "äö") != "" {
		t.Errorf("RandomString(\"äö\", 4) = %q, want 4 of ä and ö", got)
	}
}

func TestRandomStringBadAlphabetPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("RandomString with an empty alphabet did not panic")
		}
	}()
	crypto.RandomString("", 4)
}

func TestHashToken(t *testing.T) {
	tests := map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	}
	for in, want := range tests {
		if got := crypto.HashToken(in); got != want {
			t.Errorf("HashToken(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestEqualHash(t *testing.T) {
	a := crypto.HashToken("a")
	tests := []struct {
		x, y string
		want bool
	}{
		{a, crypto.HashToken("a"), true},
		{a, crypto.HashToken("b"), false},
		{a, a[:63], false},
		{a, "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := crypto.EqualHash(tt.x, tt.y); got != tt.want {
			t.Errorf("EqualHash(%q, %q) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

func TestEqualString(t *testing.T) {
	tests := []struct {
		x, y string
		want bool
	}{
		{"secret", "secret", true},
		{"secret", "secreT", false},
		{"secret", "secret-longer", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := crypto.EqualString(tt.x, tt.y); got != tt.want {
			t.Errorf("EqualString(%q, %q) = %v, want %v",
				tt.x, tt.y, got, tt.want)
		}
	}
}

// RFC 5869 test case 3 (no salt, empty info); DeriveKey returns the first
// 32 bytes of the 42-byte output.
func TestDeriveKeyRFC5869(t *testing.T) {
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	want := "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	if got := hex.EncodeToString(crypto.DeriveKey(ikm, "")); got != want {
		t.Errorf("DeriveKey(RFC 5869 case 3) = %s, want %s", got, want)
	}
}

func TestDeriveKeyPurposesDiffer(t *testing.T) {
	master := crypto.RandomBytes(32)
	csrf := crypto.DeriveKey(master, crypto.InfoCSRF)
	form := crypto.DeriveKey(master, crypto.InfoForm)
	if len(csrf) != 32 || len(form) != 32 {
		t.Fatalf("derived key lengths %d, %d; want 32", len(csrf), len(form))
	}
	if bytes.Equal(csrf, form) {
		t.Error("CSRF and form keys are equal")
	}
	if !bytes.Equal(csrf, crypto.DeriveKey(master, crypto.InfoCSRF)) {
		t.Error("DeriveKey is not deterministic")
	}
}

// RFC 4231 test case 2.
func TestMAC(t *testing.T) {
	key := []byte("Jefe")
	msg := "what do ya want for nothing?"
	want := "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM"
	got := crypto.MAC(key, msg)
	if got != want {
		t.Fatalf("MAC(RFC 4231 case 2) = %s, want %s", got, want)
	}
	if !crypto.VerifyMAC(key, msg, got) {
		t.Error("VerifyMAC rejects the right MAC")
	}
	if crypto.VerifyMAC(key, msg+".", got) {
		t.Error("VerifyMAC accepts the MAC of another message")
	}
	if crypto.VerifyMAC([]byte("other"), msg, got) {
		t.Error("VerifyMAC accepts a MAC under another key")
	}
	if crypto.VerifyMAC(key, msg, got[:42]) {
		t.Error("VerifyMAC accepts a truncated MAC")
	}
}
