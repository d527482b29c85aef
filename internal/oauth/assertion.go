package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits of client assertions.
const (
	// maxAssertionAhead is how far in the future exp may lie.
	maxAssertionAhead = 5 * time.Minute
	maxJTILength      = 255
)

// audience is the aud claim: one string or an array of strings.
type audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// assertionClaims are the claims of a client assertion. Times are
// numbers, possibly with a fraction.
type assertionClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	IssuedAt  *float64 `json:"iat"`
	JTI       string   `json:"jti"`
}

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// errAssertion is the cause of a refused assertion: logged, never shown.
type errAssertion string

func (e errAssertion) Error() string { return "client assertion: " + string(e) }

// refuse returns the invalid_client answer with the reason as its cause.
func refuse(reason string) *Error {
	return &Error{Code: errClientAuth.Code, Description: errClientAuth.Description,
		Status: errClientAuth.Status, Cause: errAssertion(reason)}
}

// assertedClient authenticates a client by a private_key_jwt assertion
// (RFC 7523 §3): a JWS signed with RS256, ES256 or EdDSA by a key of the
// client's set, whose iss and sub are the client_id, whose aud names the
// issuer, the token endpoint or endpoint (the URL path of the request),
// which expires within five minutes, and whose jti was never accepted
// before. Every failure is invalid_client.
func (p *Provider) assertedClient(ctx context.Context, form url.Values, endpoint string) (
	*Client, error) {
	if form.Get("client_assertion_type") != ClientAssertionType {
		return nil, refuse("unsupported client_assertion_type")
	}
	jws, err := jose.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refuse("not a compact JWS with one signature")
	}
	var unverified assertionClaims
	if json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified) != nil ||
		unverified.Issuer == "" {
		return nil, refuse("claims unreadable")
	}
	if id := form.Get("client_id"); id != "" && id != unverified.Issuer {
		return nil, refuse("client_id differs from iss")
	}
	c, err := p.ClientByClientID(ctx, unverified.Issuer)
	if err != nil {
		return nil, err
	}
	if c == nil || c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, refuse("unknown client or other authentication method")
	}
	payload, err := p.verifyAssertion(ctx, c, jws)
	if err != nil {
		return nil, err
	}
	var claims assertionClaims
	if json.Unmarshal(payload, &claims) != nil {
		return nil, refuse("claims unreadable")
	}
	if reason := p.checkAssertion(&claims, c, endpoint); reason != "" {
		return nil, refuse(reason)
	}
	return c, p.recordAssertion(ctx, c, &claims)
}

// verifyAssertion checks the signature with the client's keys and returns
// the payload. A jwks_uri is fetched again (within the refetch spacing)
// when none of its cached keys verifies, so a client's key rotation is
// picked up.
func (p *Provider) verifyAssertion(ctx context.Context, c *Client,
	jws *jose.JSONWebSignature) ([]byte, error) {
	keys, err := p.clientKeys(ctx, c, false)
	if err != nil {
		return nil, &Error{Code: errClientAuth.Code, Description: errClientAuth.Description,
			Status: errClientAuth.Status, Cause: err}
	}
	if payload, ok := verifyWithKeys(jws, keys); ok {
		return payload, nil
	}
	if c.JWKS == nil {
		if keys, err = p.clientKeys(ctx, c, true); err == nil {
			if payload, ok := verifyWithKeys(jws, keys); ok {
				return payload, nil
			}
		}
	}
	return nil, refuse("no key of the client verifies the signature")
}

// verifyWithKeys tries the keys whose kid (when the header names one) and
// algorithm match the header.
func verifyWithKeys(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, bool) {
	h := jws.Signatures[0].Protected
	for _, k := range keys {
		if h.KeyID != "" && k.KeyID != h.KeyID ||
			string(keyAlg(k)) != h.Algorithm {
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// checkAssertion applies the claim rules and returns the reason of a
// refusal, or "".
func (p *Provider) checkAssertion(cl *assertionClaims, c *Client, endpoint string) string {
	now := p.now()
	iss := p.cfg.Issuer
	accepted := []string{iss, iss + "/oauth2/token", iss + endpoint}
	switch {
	case cl.Issuer != c.ClientID || cl.Subject != c.ClientID:
		return "iss and sub must be the client_id"
	case !slices.ContainsFunc(cl.Audience, func(a string) bool {
		return slices.Contains(accepted, a)
	}):
		return "aud names neither the issuer nor the endpoint"
	case cl.JTI == "" || len(cl.JTI) > maxJTILength || !plainText(cl.JTI):
		return "jti missing, too long or not plain text"
	case cl.Expiry == nil:
		return "exp missing"
	case !now.Before(unixTime(*cl.Expiry).Add(clockSkew)):
		return "expired"
	case unixTime(*cl.Expiry).After(now.Add(maxAssertionAhead + clockSkew)):
		return "exp more than five minutes ahead"
	case cl.NotBefore != nil && now.Add(clockSkew).Before(unixTime(*cl.NotBefore)):
		return "not yet valid"
	case cl.IssuedAt != nil && now.Add(clockSkew).Before(unixTime(*cl.IssuedAt)):
		return "issued in the future"
	}
	return ""
}

// recordAssertion stores the jti until the assertion can no longer be
// accepted; the unique index on (client_id, jti) makes a replay, even a
// concurrent one, fail.
func (p *Provider) recordAssertion(ctx context.Context, c *Client,
	cl *assertionClaims) error {
	expires := unixTime(*cl.Expiry).Add(clockSkew).Truncate(time.Millisecond)
	_, err := p.db.ExecContext(ctx, `INSERT INTO client_assertions (id, jti, client_id,
		expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		db.NewID(), cl.JTI, c.ID, expires, p.clock())
	if p.db.Dialect.IsUniqueViolation(err) {
		return refuse("jti replayed")
	}
	if err != nil {
		return fmt.Errorf("record client assertion: %w", err)
	}
	return nil
}
