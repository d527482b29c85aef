package crypto

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// ErrMixedCodeSet means the hashes given to MatchCode do not share one salt
// and one set of parameters, so they were not made by one HashCodeSet call.
var ErrMixedCodeSet = errors.New("backup code hashes are not one set")

// HashCodeSet hashes a set of backup codes with Argon2id under one fresh
// salt shared by the whole set, so that MatchCode can check a candidate
// against every code with a single hash. It returns one PHC string per code,
// in order. Codes are normalised first (surrounding space trimmed, hyphens
// removed, upper-cased), so a candidate matches in any case, with or
// without its hyphen.
//
// The shared salt is safe because backup codes are random, not chosen by
// people; it only lets an attacker with the hashes attack the set at once.
// Each code takes its own slot, so a set of ten costs ten hashes. Errors are
// those of Hash.
func (h *PasswordHasher) HashCodeSet(ctx context.Context, codes []string) (
	[]string, error) {
	salt := RandomBytes(SaltSize)
	out := make([]string, len(codes))
	for i, code := range codes {
		ph := phc{params: h.params, salt: salt}
		err := h.compute(ctx, func() {
			ph.hash = idKey(normalizeCode(code), salt, h.params, HashSize)
		})
		if err != nil {
			return nil, fmt.Errorf("hash backup code %d: %w", i+1, err)
		}
		out[i] = ph.String()
	}
	return out, nil
}

// MatchCode returns the index of the hash in hashes that matches candidate,
// or -1 if none does. The candidate is normalised like the codes of
// HashCodeSet, hashed once with the set's salt and parameters, and compared
// in constant time with every hash. An empty set matches nothing and costs
// nothing. Errors: ErrMalformedHash, ErrMixedCodeSet, and those of Hash.
func (h *PasswordHasher) MatchCode(ctx context.Context, candidate string,
	hashes []string) (int, error) {
	if len(hashes) == 0 {
		return -1, nil
	}
	set, err := parseCodeSet(hashes)
	if err != nil {
		return -1, err
	}

	first := set[0]
	var got []byte
	err = h.compute(ctx, func() {
		got = idKey(normalizeCode(candidate), first.salt, first.params,
			uint32(len(first.hash)))
	})
	if err != nil {
		return -1, fmt.Errorf("hash backup code candidate: %w", err)
	}

	// Look at every hash whatever matches, so timing does not reveal which.
	match := -1
	for i, ph := range set {
		if subtle.ConstantTimeCompare(got, ph.hash) == 1 && match < 0 {
			match = i
		}
	}
	return match, nil
}

// parseCodeSet parses the hashes of a set and checks that they share the
// salt, parameters and hash size of the first.
func parseCodeSet(hashes []string) ([]phc, error) {
	set := make([]phc, len(hashes))
	for i, s := range hashes {
		ph, err := parsePHC(s)
		if err != nil {
			return nil, fmt.Errorf("backup code hash %d: %w", i+1, err)
		}
		set[i] = ph
	}
	for i, ph := range set[1:] {
		if ph.params != set[0].params || !bytes.Equal(ph.salt, set[0].salt) ||
			len(ph.hash) != len(set[0].hash) {
			return nil, fmt.Errorf("backup code hash %d: %w", i+2,
				ErrMixedCodeSet)
		}
	}
	return set, nil
}

// normalizeCode puts a backup code in the form that is hashed.
func normalizeCode(code string) string {
	code = strings.ReplaceAll(strings.TrimSpace(code), "-", "")
	return strings.ToUpper(code)
}
