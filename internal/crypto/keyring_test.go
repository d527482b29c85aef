package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

var sealedFormat = regexp.MustCompile(`^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$`)

func newRing(t *testing.T, current []byte, previous ...[]byte) *crypto.KeyRing {
	t.Helper()
	k, err := crypto.NewKeyRing(current, previous...)
	if err != nil {
		t.Fatalf("NewKeyRing: %v", err)
	}
	return k
}

func TestKeyRingRoundTrip(t *testing.T) {
	key := crypto.RandomBytes(32)
	k := newRing(t, key)

	for _, plain := range []string{"", "JBSWY3DPEHPK3PXP", strings.Repeat("x", 5000)} {
		sealed, err := k.SealString(plain)
		if err != nil {
			t.Fatalf("SealString: %v", err)
		}
		if !sealedFormat.MatchString(sealed) {
			t.Fatalf("sealed value %q does not match v1.<keyId>.<b64url>", sealed)
		}
		got, err := k.OpenString(sealed)
		if err != nil || got != plain {
			t.Fatalf("OpenString = %q, %v; want %q", got, err, plain)
		}
	}
}

func TestKeyRingFormat(t *testing.T) {
	key := crypto.RandomBytes(32)
	k := newRing(t, key)
	sum := sha256.Sum256(key)
	wantID := hex.EncodeToString(sum[:])[:8]
	if k.KeyID() != wantID {
		t.Errorf("KeyID() = %s, want %s", k.KeyID(), wantID)
	}

	plain := []byte("seven b")
	sealed, err := k.Seal(plain)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != wantID {
		t.Fatalf("sealed = %q, want v1.%s.<payload>", sealed, wantID)
	}
	box, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("payload is not unpadded base64url: %v", err)
	}
	if want := 12 + len(plain) + 16; len(box) != want {
		t.Errorf("payload is %d bytes, want nonce+ciphertext+tag = %d",
			len(box), want)
	}

	again, _ := k.Seal(plain)
	if again == sealed {
		t.Error("sealing twice gave the same value; nonce is not random")
	}
}

func TestKeyRingCurrentIsACopy(t *testing.T) {
	key := crypto.RandomBytes(32)
	k := newRing(t, key)
	got := k.Current()
	if !bytes.Equal(got, key) {
		t.Fatal("Current() differs from the current key")
	}
	got[0] ^= 0xff
	key[1] ^= 0xff
	if bytes.Equal(k.Current(), got) || bytes.Equal(k.Current(), key) {
		t.Error("key ring shares memory with its caller")
	}
}

func TestKeyRingRotation(t *testing.T) {
	oldKey, newKey := crypto.RandomBytes(32), crypto.RandomBytes(32)
	before := newRing(t, oldKey)
	sealedOld, _ := before.SealString("webhook secret")

	after := newRing(t, newKey, oldKey)
	got, err := after.OpenString(sealedOld)
	if err != nil || got != "webhook secret" {
		t.Fatalf("open with previous key = %q, %v", got, err)
	}
	if after.IsCurrent(sealedOld) {
		t.Error("IsCurrent is true for a value sealed with a previous key")
	}

	sealedNew, _ := after.SealString("webhook secret")
	if !after.IsCurrent(sealedNew) {
		t.Error("IsCurrent is false for a value sealed with the current key")
	}
	if _, err := before.Open(sealedNew); !errors.Is(err, crypto.ErrUnsealable) {
		t.Errorf("old ring opened a value sealed with an unknown key: %v", err)
	}
}

func TestKeyRingUnsealable(t *testing.T) {
	k := newRing(t, crypto.RandomBytes(32))
	sealed, _ := k.SealString("totp seed")
	parts := strings.Split(sealed, ".")
	box, _ := base64.RawURLEncoding.DecodeString(parts[2])

	flip := func(i int) string {
		b := bytes.Clone(box)
		b[i] ^= 0x01
		return "v1." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(b)
	}
	// current says whether the value still names the current key.
	tests := map[string]struct {
		in      string
		current bool
	}{
		"empty":          {"", false},
		"not sealed":     {"plain text", false},
		"other version":  {"v2." + parts[1] + "." + parts[2], false},
		"unknown key id": {"v1.00000000." + parts[2], false},
		"short key id":   {"v1.abc." + parts[2], false},
		"no payload":     {"v1." + parts[1] + ".", false},
		"bad base64":     {"v1." + parts[1] + ".!!!!", true},
		"too short":      {"v1." + parts[1] + ".AAAA", true},
		"nonce altered":  {flip(0), true},
		"ciphertext":     {flip(12), true},
		"tag altered":    {flip(len(box) - 1), true},
		"truncated":      {sealed[:len(sealed)-2], true},
	}
	for name, tt := range tests {
		if _, err := k.Open(tt.in); !errors.Is(err, crypto.ErrUnsealable) {
			t.Errorf("%s: Open error = %v, want ErrUnsealable", name, err)
		}
		if got := k.IsCurrent(tt.in); got != tt.current {
			t.Errorf("%s: IsCurrent = %v, want %v", name, got, tt.current)
		}
	}
}

func TestNewKeyRingRejectsBadKeys(t *testing.T) {
	good := crypto.RandomBytes(32)
	tests := map[string]struct {
		current  []byte
		previous [][]byte
		want     string
	}{
		"short current": {good[:16], nil,
			"current key: key must be 32 bytes, got 16"},
		"nil current": {nil, nil,
			"current key: key must be 32 bytes, got 0"},
		"long previous": {good, [][]byte{make([]byte, 33)},
			"previous key 1: key must be 32 bytes, got 33"},
		"second previous": {good, [][]byte{crypto.RandomBytes(32), {1}},
			"previous key 2: key must be 32 bytes, got 1"},
	}
	for name, tt := range tests {
		_, err := crypto.NewKeyRing(tt.current, tt.previous...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error = %v, want %q", name, err, tt.want)
		}
	}
}

func TestNewKeyRingIgnoresCurrentAmongPrevious(t *testing.T) {
	key := crypto.RandomBytes(32)
	k := newRing(t, key, key)
	sealed, _ := k.SealString("x")
	if got, err := k.OpenString(sealed); err != nil || got != "x" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
}

func TestParseKey(t *testing.T) {
	key := crypto.RandomBytes(32)
	key[0], key[1] = 0xfb, 0xff // force '+' and '/' (or '-' and '_')
	forms := map[string]string{
		"std":         base64.StdEncoding.EncodeToString(key),
		"raw std":     base64.RawStdEncoding.EncodeToString(key),
		"url":         base64.URLEncoding.EncodeToString(key),
		"raw url":     base64.RawURLEncoding.EncodeToString(key),
		"with spaces": " " + base64.StdEncoding.EncodeToString(key) + "\n",
	}
	for name, s := range forms {
		got, err := crypto.ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: ParseKey(%q) = %x, %v; want the key", name, s, got, err)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	tests := map[string]string{
		"":           "key is empty",
		"   ":        "key is empty",
		"not*base64": "key is not valid base64",
		base64.StdEncoding.EncodeToString(make([]byte, 16)): "key must decode to 32 bytes, got 16",
		base64.StdEncoding.EncodeToString(make([]byte, 33)): "key must decode to 32 bytes, got 33",
		"ab+c-d" + strings.Repeat("A", 38):                  "key is not valid base64",
	}
	for in, want := range tests {
		_, err := crypto.ParseKey(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseKey(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	s := crypto.GenerateKey()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 {
		t.Fatalf("GenerateKey() = %q: %d bytes, %v; want 32 bytes std base64",
			s, len(raw), err)
	}
	if crypto.GenerateKey() == s {
		t.Error("GenerateKey returned the same key twice")
	}
	if _, err := crypto.NewKeyRing(raw); err != nil {
		t.Errorf("generated key refused by NewKeyRing: %v", err)
	}
}

func TestIsWeakKey(t *testing.T) {
	fifteen := make([]byte, 32)
	sixteen := make([]byte, 32)
	for i := range 32 {
		fifteen[i] = byte(i % 15)
		sixteen[i] = byte(i % 16)
	}
	tests := map[string]struct {
		key  []byte
		want bool
	}{
		"zeros":       {make([]byte, 32), true},
		"repeated":    {bytes.Repeat([]byte("ab"), 16), true},
		"15 distinct": {fifteen, true},
		"16 distinct": {sixteen, false},
		"random":      {crypto.RandomBytes(32), false},
	}
	for name, tt := range tests {
		if got := crypto.IsWeakKey(tt.key); got != tt.want {
			t.Errorf("IsWeakKey(%s) = %v, want %v", name, got, tt.want)
		}
	}
}
