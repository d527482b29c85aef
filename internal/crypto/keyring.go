package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of a key-ring key (AES-256).
const KeySize = 32

const (
	sealVersion = "v1"
	nonceSize   = 12
	tagSize     = 16
)

// ErrUnsealable means a sealed value cannot be opened: it is malformed, was
// sealed with a key the ring does not hold, or has been altered. Errors
// returned by KeyRing.Open wrap it with the reason.
var ErrUnsealable = errors.New("sealed value cannot be opened")

// KeyRing seals secrets that must be read back (TOTP seeds, webhook secrets,
// signing keys, mail payloads, the MFA cookie) with AES-256-GCM. A sealed
// value has the form v1.<keyId>.<base64url(nonce‖ciphertext‖tag)>, where
// keyId is the first 8 hex characters of SHA-256(key) and the nonce is 12
// random bytes. The current key seals; the current and previous keys open,
// so keys can be rotated while old values are re-sealed.
//
// A KeyRing is safe for concurrent use.
type KeyRing struct {
	current []byte
	id      string
	aeads   map[string]cipher.AEAD
}

// NewKeyRing returns a key ring that seals with current and opens with
// current or any of previous. Every key must be exactly 32 bytes; a previous
// key equal to the current one is ignored. Distinct keys with the same key id
// are refused.
func NewKeyRing(current []byte, previous ...[]byte) (*KeyRing, error) {
	k := &KeyRing{aeads: make(map[string]cipher.AEAD)}
	id, err := k.add(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k.current = append([]byte(nil), current...)
	k.id = id

	for i, key := range previous {
		if _, err := k.add(key); err != nil {
			return nil, fmt.Errorf("previous key %d: %w", i+1, err)
		}
	}
	return k, nil
}

// add registers key under its key id and returns the id.
func (k *KeyRing) add(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("key must be %d bytes, got %d",
			KeySize, len(key))
	}
	id := keyID(key)
	if _, ok := k.aeads[id]; ok {
		if id == k.id && string(key) == string(k.current) {
			return id, nil
		}
		return "", fmt.Errorf("key id %s is already used by another key", id)
	}

	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("gcm: %w", err)
	}
	k.aeads[id] = aead
	return id, nil
}

// keyID is the first 8 hex characters of SHA-256(key).
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// Seal encrypts plaintext with the current key under a fresh random nonce.
// The error is non-nil only if the platform's cipher fails.
func (k *KeyRing) Seal(plaintext []byte) (string, error) {
	nonce := RandomBytes(nonceSize)
	box := k.aeads[k.id].Seal(nonce, nonce, plaintext, nil)
	return sealVersion + "." + k.id + "." +
		base64.RawURLEncoding.EncodeToString(box), nil
}

// SealString is Seal for a string.
func (k *KeyRing) SealString(s string) (string, error) {
	return k.Seal([]byte(s))
}

// Open decrypts a value made by Seal with the current or a previous key,
// chosen by the key id in the value. Any failure wraps ErrUnsealable.
func (k *KeyRing) Open(sealed string) ([]byte, error) {
	id, payload, err := splitSealed(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrUnsealable, id)
	}

	box, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrUnsealable)
	}
	if len(box) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: payload too short", ErrUnsealable)
	}
	plain, err := aead.Open(nil, box[:nonceSize], box[nonceSize:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrUnsealable)
	}
	return plain, nil
}

// OpenString is Open for a value that was sealed from a string.
func (k *KeyRing) OpenString(sealed string) (string, error) {
	b, err := k.Open(sealed)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// IsCurrent reports whether sealed names the current key, that is, whether it
// needs no re-sealing after a rotation. It does not authenticate the value.
func (k *KeyRing) IsCurrent(sealed string) bool {
	id, _, err := splitSealed(sealed)
	return err == nil && id == k.id
}

// Current returns a copy of the current key, the master key for DeriveKey.
func (k *KeyRing) Current() []byte {
	return append([]byte(nil), k.current...)
}

// KeyID returns the key id of the current key.
func (k *KeyRing) KeyID() string {
	return k.id
}

// splitSealed returns the key id and payload of a sealed value.
func splitSealed(sealed string) (id, payload string, err error) {
	version, rest, ok := strings.Cut(sealed, ".")
	if !ok || version != sealVersion {
		return "", "", fmt.Errorf("%w: not a %s sealed value",
			ErrUnsealable, sealVersion)
	}
	id, payload, ok = strings.Cut(rest, ".")
	if !ok || len(id) != 8 || payload == "" {
		return "", "", fmt.Errorf("%w: malformed sealed value", ErrUnsealable)
	}
	return id, payload, nil
}

// ParseKey decodes a key given in standard or URL-safe base64, with or
// without padding, ignoring surrounding white space. The key must decode to
// exactly 32 bytes. Errors never contain the key.
func ParseKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return nil, errors.New("key is empty")
	}
	key, err := decodeAnyBase64(s)
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key must decode to %d bytes, got %d",
			KeySize, len(key))
	}
	return key, nil
}

// decodeAnyBase64 accepts the standard and URL alphabets, padded or not.
func decodeAnyBase64(s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.Strict().DecodeString(strings.TrimRight(s, "="))
}

// GenerateKey returns a new random 32-byte key in standard base64, the form
// SECRET_ENCRYPTION_KEY takes.
func GenerateKey() string {
	return base64.StdEncoding.EncodeToString(RandomBytes(KeySize))
}

// IsWeakKey reports whether k has fewer than 16 distinct byte values, a sign
// of a key typed by hand or made from a pattern rather than drawn at random.
func IsWeakKey(k []byte) bool {
	var seen [256]bool
	distinct := 0
	for _, b := range k {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	return distinct < 16
}
