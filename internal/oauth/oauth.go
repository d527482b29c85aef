// Package oauth is the OAuth 2.1 and OpenID Connect provider of Cerberus
// IAM: clients, signing keys, authorization requests and codes, access,
// refresh and ID tokens, consents, device authorization, dynamic client
// registration, and the protocol endpoints (token, introspection,
// revocation, userinfo, discovery, JWKS).
//
// The wire types, PKCE verification, token hashes and ID-token-hint
// verification come from github.com/zitadel/oidc/v3 (packages oidc and op);
// the endpoints themselves are ours, because the contract differs from the
// library on points that live inside its handlers (see docs/architecture.md,
// "OAuth engine"). Every table the provider owns is read and written here.
package oauth

import (
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// Config holds the settings of the provider.
type Config struct {
	// Issuer is ISSUER_URL, without a trailing slash.
	Issuer string
	// AccessTokenAlg is JWT_ALG: EdDSA or RS256.
	AccessTokenAlg string
	// RotateEvery is JWKS_ROTATE_DAYS as a duration.
	RotateEvery time.Duration
	// LoginUIURL is LOGIN_UI_URL; empty sends users to the hosted login.
	LoginUIURL string
	// Production refuses plain http redirect URIs outside loopback.
	Production bool
}

// Provider is the OAuth 2.1 / OpenID Connect provider.
type Provider struct {
	db      *db.DB
	ring    *crypto.KeyRing
	events  *event.Recorder
	authz   *access.Authorizer
	metrics *telemetry.Metrics
	now     func() time.Time
	cfg     Config

	// Keys manages the signing keys.
	Keys    *KeyStore
	states  *tokenStates
	keySets *keySets
}

// Deps are the services a Provider uses. Metrics may be nil.
type Deps struct {
	DB         *db.DB
	Ring       *crypto.KeyRing
	Events     *event.Recorder
	Authorizer *access.Authorizer
	Metrics    *telemetry.Metrics
	Now        func() time.Time
	// JWKSClient fetches clients' jwks_uri; nil means NewJWKSClient.
	JWKSClient *http.Client
}

// New returns a Provider. Call Keys.Ensure and SyncScopes before serving.
func New(d Deps, cfg Config) *Provider {
	p := &Provider{db: d.DB, ring: d.Ring, events: d.Events, authz: d.Authorizer,
		metrics: d.Metrics, now: d.Now, cfg: cfg}
	p.Keys = NewKeyStore(d.DB, d.Ring, d.Events, d.Now, cfg.RotateEvery)
	p.states = newTokenStates(d.DB, d.Now)
	p.keySets = newKeySets(d.JWKSClient)
	return p
}

// Issuer returns ISSUER_URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// clock returns the current time truncated to milliseconds, the precision
// of stored times.
func (p *Provider) clock() time.Time {
	return p.now().UTC().Truncate(time.Millisecond)
}
