package oauth

import (
	"context"
	"errors"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The JWT types of the tokens the provider signs.
const (
	typAccessToken = "at+jwt"
	typIDToken     = "JWT"
)

// acceptedAlgs are the only algorithms a token may carry: never none and
// never HMAC, so a public key cannot be abused as a shared secret.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256}

var errBadSignature = errors.New("token signature invalid")

// keyLoadError is a failure to read the key set while verifying: it says
// nothing about the token, so callers must not answer "invalid token".
type keyLoadError struct{ err error }

func (e *keyLoadError) Error() string { return "load signing keys: " + e.err.Error() }
func (e *keyLoadError) Unwrap() error { return e.err }

// verifyJWS checks a compact JWS signed by a published key: an accepted
// algorithm equal to the key's, a known kid, the signature, and the typ
// header when typ is not empty. It returns the payload.
func (k *KeyStore) verifyJWS(ctx context.Context, raw, typ string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, acceptedAlgs)
	if err != nil {
		return nil, err
	}
	if typ != "" && !typeIs(jws, typ) {
		return nil, errors.New("unexpected token type")
	}
	return k.VerifySignature(ctx, jws)
}

// VerifySignature verifies a parsed JWS with the published key its kid
// names and returns the payload. It implements the key set of the oidc
// package's verifiers.
func (k *KeyStore) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) (
	[]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errBadSignature
	}
	h := jws.Signatures[0].Protected
	key, ok, err := k.publicKey(ctx, h.KeyID)
	if err != nil {
		return nil, &keyLoadError{err}
	}
	if !ok || h.KeyID == "" || h.Algorithm != key.Alg {
		return nil, errBadSignature
	}
	payload, err := jws.Verify(key.public.Key)
	if err != nil {
		return nil, errBadSignature
	}
	return payload, nil
}

// typeIs compares the typ header with want, ignoring case and an
// "application/" prefix (RFC 9068 §4).
func typeIs(jws *jose.JSONWebSignature, want string) bool {
	if len(jws.Signatures) != 1 {
		return false
	}
	got, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	got = strings.TrimPrefix(strings.ToLower(got), "application/")
	return got == strings.ToLower(want)
}
