package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length in bytes of SECRET_ENCRYPTION_KEY and of each
// previous key.
const KeySize = 32

// minDistinctKeyBytes is the number of distinct byte values below which a
// key is weak: a random 32-byte key has about 30, a hand-typed pattern far
// fewer.
const minDistinctKeyBytes = 16

const (
	keyVar         = "SECRET_ENCRYPTION_KEY"
	previousKeyVar = "SECRET_ENCRYPTION_KEY_PREVIOUS"
	keyFix         = "set SECRET_ENCRYPTION_KEY to the output of " +
		"`cerberus secrets generate`"
)

// errBadKey says a value is not base64 of exactly KeySize bytes.
var errBadKey = errors.New("not base64 of exactly 32 bytes")

// decodeKey decodes a base64 key of exactly KeySize bytes, in the standard
// or URL-safe alphabet, padded or not.
func decodeKey(s string) ([]byte, error) {
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	}
	for _, enc := range encodings {
		key, err := enc.DecodeString(s)
		if err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, errBadKey
}

// weakKey reports a key with fewer than 16 distinct byte values.
func weakKey(key []byte) bool {
	var seen [256]bool
	distinct := 0
	for _, b := range key {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	return distinct < minDistinctKeyBytes
}

// loadSecrets reads the current and previous encryption keys. Outside
// production an unset key falls back to the development key file.
func (l *loader) loadSecrets(c *Config, dir string) error {
	raw, ok := l.lookup(keyVar)
	switch {
	case ok:
		c.SecretKey = l.key(raw)
	case l.prod:
		l.fail(keyVar, "must be set in production")
	default:
		if err := l.devKey(c, dir); err != nil {
			return err
		}
	}
	l.loadPreviousKeys(c)
	return nil
}

// key decodes the configured key and judges its strength.
func (l *loader) key(raw string) []byte {
	key, err := decodeKey(raw)
	if err != nil {
		l.fail(keyVar, "must be base64 of exactly 32 bytes ("+
			"`cerberus secrets generate` prints one)")
		return nil
	}
	if weakKey(key) {
		const reason = "is weak: fewer than 16 distinct byte values"
		l.refuse(keyVar, reason)
		if !l.prod {
			l.warn(keyVar, reason, keyFix)
		}
	}
	return key
}

func (l *loader) loadPreviousKeys(c *Config) {
	raw, ok := l.lookup(previousKeyVar)
	if !ok {
		return
	}
	for i, entry := range list(raw) {
		key, err := decodeKey(entry)
		if err != nil {
			l.fail(previousKeyVar, entryReason(i, "base64 of exactly 32 bytes"))
			continue
		}
		c.PreviousKeys = append(c.PreviousKeys, key)
	}
}

// devKey reads dir/data/secret.key, creating it on first use, and marks
// the configuration as running on a generated key.
func (l *loader) devKey(c *Config, dir string) error {
	path := filepath.Join(dir, "data", "secret.key")
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
	}
	if errors.Is(err, errBadKey) {
		l.fail(keyVar, "is unset and "+path+" is not base64 of exactly "+
			"32 bytes: restore the file, or set "+keyVar)
		return nil
	}
	if err != nil {
		return err
	}
	c.SecretKey, c.SecretKeyGenerated = key, true
	l.checkKeyFileMode(path)
	return nil
}

// readKeyFile reads a base64 key file. A file that does not hold a key is
// errBadKey; a missing file is fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read development key: %w", err)
	}
	return decodeKey(strings.TrimSpace(string(data)))
}

// createKeyFile writes a new random key to path with mode 0600. The key is
// written to a temporary file and linked into place, so a concurrent
// creator or a crash never leaves a partial file; when another process
// wins the race its key is used.
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create development key directory: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate development key: %w", err)
	}
	tmp, err := writeTemp(dir, base64.StdEncoding.EncodeToString(key)+"\n")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("install development key: %w", err)
	}
	return key, nil
}

// writeTemp writes content to a new 0600 file in dir and returns its path.
func writeTemp(dir, content string) (string, error) {
	f, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return "", fmt.Errorf("create development key: %w", err)
	}
	_, werr := f.WriteString(content)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write development key: %w", werr)
	}
	return f.Name(), nil
}

// checkKeyFileMode warns when other users may read the key file.
func (l *loader) checkKeyFileMode(path string) {
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return
	}
	l.warn(keyVar, path+" is readable by other users", "chmod 600 "+path)
}
