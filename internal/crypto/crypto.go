// Package crypto holds the cryptographic primitives of Cerberus IAM: random
// tokens and their SHA-256 digests, constant-time comparisons, HMAC and HKDF
// derivations, the AES-256-GCM key ring that seals secrets which must be read
// back, and the Argon2id hasher for passwords and backup codes.
//
// Randomness comes only from the operating system's CSPRNG (crypto/rand).
// Nothing in this package logs, and no error it returns contains a secret.
package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// TokenBytes is the number of random bytes in a token made by NewToken.
const TokenBytes = 32

// NewToken returns a new high-entropy secret: 32 random bytes encoded as
// base64url without padding (43 characters). Store it as HashToken(token).
func NewToken() string {
	return base64.RawURLEncoding.EncodeToString(RandomBytes(TokenBytes))
}

// RandomBytes returns n bytes from the operating system's CSPRNG. It panics
// only if the CSPRNG fails, which leaves nothing safe to do.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(fmt.Sprintf("crypto: operating system CSPRNG failed: %v", err))
	}
	return b
}

// RandomString returns n symbols drawn uniformly and independently from
// alphabet, which must hold between 1 and 256 distinct symbols (a shorter or
// longer alphabet is a programming error and panics). Random bytes that would
// bias the draw are rejected rather than folded, so every symbol is equally
// likely.
func RandomString(alphabet string, n int) string {
	symbols := []rune(alphabet)
	if len(symbols) == 0 || len(symbols) > 256 {
		panic(fmt.Sprintf("crypto: RandomString alphabet has %d symbols, "+
			"want 1 to 256", len(symbols)))
	}

	// Bytes at or above limit would make the low symbols more likely.
	size := len(symbols)
	limit := 256 - 256%size
	out := make([]rune, 0, n)
	for len(out) < n {
		for _, b := range RandomBytes(n - len(out) + 8) {
			if int(b) < limit && len(out) < n {
				out = append(out, symbols[int(b)%size])
			}
		}
	}
	return string(out)
}

// HashToken returns the lowercase hex SHA-256 digest of s: the stored form of
// a high-entropy secret, by which the secret is looked up.
func HashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// EqualHash reports whether two hex digests are equal, in time that does not
// depend on where they differ. Digests of different lengths, and empty
// digests, never match.
func EqualHash(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// EqualString reports whether two secrets are equal by comparing their
// SHA-256 digests in constant time, so the time taken reveals neither where
// they differ nor their lengths.
func EqualString(a, b string) bool {
	da := sha256.Sum256([]byte(a))
	db := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// Purposes of keys derived from SECRET_ENCRYPTION_KEY with DeriveKey.
const (
	InfoCSRF = "cerberus csrf v1" // CSRF token MAC key
	InfoForm = "cerberus form v1" // hosted-page form cookie MAC key
)

// DeriveKey derives a 32-byte key for one purpose from the master key with
// HKDF-SHA256 (RFC 5869, no salt). Different info strings give independent
// keys; use the Info constants.
func DeriveKey(master []byte, info string) []byte {
	key, err := hkdf.Key(sha256.New, master, nil, info, 32)
	if err != nil {
		// Only a key longer than 255 hash blocks can fail.
		panic(fmt.Sprintf("crypto: derive key %q: %v", info, err))
	}
	return key
}

// MAC returns HMAC-SHA256 of msg under key, encoded as base64url without
// padding (43 characters).
func MAC(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyMAC reports whether mac is MAC(key, msg), comparing in constant time.
func VerifyMAC(key []byte, msg, mac string) bool {
	return hmac.Equal([]byte(MAC(key, msg)), []byte(mac))
}
