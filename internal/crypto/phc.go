package crypto

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on stored hashes. They keep a corrupt or hostile hash from asking
// for absurd work or memory and keep Argon2 from panicking.
const (
	maxIterations = 64
	maxMemoryKiB  = 4 << 20 // 4 GiB
	minSaltSize   = 8
	minHashSize   = 16
	maxPHCSize    = 64
)

// phc is a parsed Argon2id hash in the PHC string format.
type phc struct {
	params HashParams
	salt   []byte
	hash   []byte
}

var phcB64 = base64.RawStdEncoding.Strict()

// String encodes ph as $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>.
func (ph phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, ph.params.MemoryKiB, ph.params.Iterations,
		ph.params.Parallelism, phcB64.EncodeToString(ph.salt),
		phcB64.EncodeToString(ph.hash))
}

// ErrMalformedHash means a stored password or backup-code hash is not a
// supported Argon2id PHC string. Errors wrapping it never contain the hash.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// parsePHC parses and checks a PHC string made by phc.String.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, fmt.Errorf("%w: not an argon2id PHC string",
			ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("%w: unsupported version %q",
			ErrMalformedHash, parts[2])
	}

	var ph phc
	var err error
	if ph.params, err = parseParams(parts[3]); err != nil {
		return phc{}, err
	}
	if ph.salt, err = decodePHCField("salt", parts[4], minSaltSize); err != nil {
		return phc{}, err
	}
	if ph.hash, err = decodePHCField("hash", parts[5], minHashSize); err != nil {
		return phc{}, err
	}
	return ph, nil
}

// parseParams parses "m=<KiB>,t=<passes>,p=<lanes>" in that order.
func parseParams(s string) (HashParams, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return HashParams{}, fmt.Errorf("%w: parameters %q", ErrMalformedHash, s)
	}
	m, errM := parseParam(fields[0], "m", maxMemoryKiB)
	t, errT := parseParam(fields[1], "t", maxIterations)
	p, errP := parseParam(fields[2], "p", 255)
	if err := errors.Join(errM, errT, errP); err != nil {
		return HashParams{}, err
	}

	params := HashParams{MemoryKiB: m, Iterations: t, Parallelism: uint8(p)}
	if !params.valid() {
		return HashParams{}, fmt.Errorf("%w: parameters %q out of range",
			ErrMalformedHash, s)
	}
	return params, nil
}

// parseParam parses "<name>=<decimal>" with a value of at most max.
func parseParam(field, name string, max uint32) (uint32, error) {
	digits, ok := strings.CutPrefix(field, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %s, got %q",
			ErrMalformedHash, name, field)
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v > uint64(max) {
		return 0, fmt.Errorf("%w: parameter %s=%q invalid",
			ErrMalformedHash, name, digits)
	}
	return uint32(v), nil
}

// decodePHCField decodes the salt or hash, which must be unpadded standard
// base64 of between min and maxPHCSize bytes.
func decodePHCField(name, s string, min int) ([]byte, error) {
	b, err := phcB64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrMalformedHash, name)
	}
	if len(b) < min || len(b) > maxPHCSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d to %d",
			ErrMalformedHash, name, len(b), min, maxPHCSize)
	}
	return b, nil
}
