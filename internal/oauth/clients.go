package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Token endpoint authentication methods.
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// Client is an OAuth client of an organisation. The secret is never part
// of it; only its digest is kept, unexported.
type Client struct {
	ID                       string          `json:"id"`
	OrganisationID           string          `json:"organisationId"`
	ClientID                 string          `json:"clientId"`
	Name                     string          `json:"name"`
	Description              *string         `json:"description"`
	ClientType               string          `json:"clientType"`
	GrantTypes               []string        `json:"grantTypes"`
	RedirectURIs             []string        `json:"redirectUris"`
	PostLogoutRedirectURIs   []string        `json:"postLogoutRedirectUris"`
	AllowedOrigins           []string        `json:"allowedOrigins"`
	AllowedResources         []string        `json:"allowedResources"`
	Scopes                   []string        `json:"scopes"`
	TokenEndpointAuthMethod  string          `json:"tokenEndpointAuthMethod"`
	JWKS                     *map[string]any `json:"jwks"`
	JWKSURI                  *string         `json:"jwksUri"`
	RequirePKCE              bool            `json:"requirePkce"`
	IsFirstParty             bool            `json:"isFirstParty"`
	RequireConsent           bool            `json:"requireConsent"`
	Introspect               bool            `json:"introspect"`
	IDTokenSignedResponseAlg string          `json:"idTokenSignedResponseAlg"`
	AccessTokenLifetime      *int            `json:"accessTokenLifetime"`
	IDTokenLifetime          *int            `json:"idTokenLifetime"`
	RefreshTokenLifetime     *int            `json:"refreshTokenLifetime"`
	LogoURI                  *string         `json:"logoUri"`
	PolicyURI                *string         `json:"policyUri"`
	TosURI                   *string         `json:"tosUri"`
	IsActive                 bool            `json:"isActive"`
	RevokedAt                *time.Time      `json:"revokedAt"`
	CreatedAt                time.Time       `json:"createdAt"`
	UpdatedAt                time.Time       `json:"updatedAt"`

	secretHash *string
	deletedAt  *time.Time
	orgLive    bool
}

// Public reports a public client.
func (c *Client) Public() bool { return c.ClientType == ClientPublic }

// HasGrant reports whether the client may use grant.
func (c *Client) HasGrant(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// usable reports a client that may take part in a flow: active, not
// deleted, of a live organisation.
func (c *Client) usable() bool {
	return c.IsActive && c.deletedAt == nil && c.orgLive
}

// hasSecret reports a client authenticated by a secret.
func (c *Client) hasSecret() bool {
	return c.TokenEndpointAuthMethod == AuthSecretBasic ||
		c.TokenEndpointAuthMethod == AuthSecretPost
}

// checkSecret compares secret with the stored digest in constant time.
func (c *Client) checkSecret(secret string) bool {
	return c.secretHash != nil && secret != "" &&
		crypto.EqualHash(crypto.HashToken(secret), *c.secretHash)
}

const clientColumns = `c.id, c.organisation_id, c.client_id, c.name, c.description,
	c.client_type, c.grant_types, c.redirect_uris, c.post_logout_redirect_uris,
	c.allowed_origins, c.allowed_resources, c.scopes, c.token_endpoint_auth_method, c.jwks,
	c.jwks_uri, c.require_pkce, c.is_first_party, c.require_consent, c.introspect,
	c.id_token_signed_response_alg, c.access_token_lifetime, c.id_token_lifetime,
	c.refresh_token_lifetime, c.logo_uri, c.policy_uri, c.tos_uri, c.is_active,
	c.revoked_at, c.created_at, c.updated_at, c.secret_hash, c.deleted_at,
	(o.deleted_at IS NULL)`

const clientFrom = ` FROM clients c JOIN organisations o ON o.id = c.organisation_id`

func scanClient(row interface{ Scan(...any) error }) (*Client, error) {
	c := &Client{}
	var jwks map[string]any
	var atl, itl, rtl sql.NullInt64
	err := row.Scan(&c.ID, &c.OrganisationID, &c.ClientID, &c.Name, &c.Description,
		&c.ClientType, db.JSON(&c.GrantTypes), db.JSON(&c.RedirectURIs),
		db.JSON(&c.PostLogoutRedirectURIs), db.JSON(&c.AllowedOrigins),
		db.JSON(&c.AllowedResources), db.JSON(&c.Scopes), &c.TokenEndpointAuthMethod,
		db.JSON(&jwks), &c.JWKSURI, &c.RequirePKCE, &c.IsFirstParty, &c.RequireConsent,
		&c.Introspect, &c.IDTokenSignedResponseAlg, &atl, &itl, &rtl, &c.LogoURI,
		&c.PolicyURI, &c.TosURI, &c.IsActive, db.NullTime(&c.RevokedAt),
		db.Time(&c.CreatedAt), db.Time(&c.UpdatedAt), &c.secretHash,
		db.NullTime(&c.deletedAt), &c.orgLive)
	if err != nil {
		return nil, err
	}
	if jwks != nil {
		c.JWKS = &jwks
	}
	c.AccessTokenLifetime = intPtr(atl)
	c.IDTokenLifetime = intPtr(itl)
	c.RefreshTokenLifetime = intPtr(rtl)
	for _, s := range []*[]string{&c.GrantTypes, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.AllowedOrigins, &c.AllowedResources, &c.Scopes} {
		if *s == nil {
			*s = []string{}
		}
	}
	return c, nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

// clientByClientID loads a client by its public client_id, deleted or
// not; nil when there is none. An id that is not plain text cannot be
// registered, so it is unknown without a query.
func clientByClientID(ctx context.Context, q db.Querier, clientID string) (*Client, error) {
	if !plainText(clientID) {
		return nil, nil
	}
	c, err := scanClient(q.QueryRowContext(ctx, `SELECT `+clientColumns+clientFrom+
		` WHERE c.client_id = $1`, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	return c, nil
}

// clientByRef loads a client by its id (clients.id); nil when none.
func clientByRef(ctx context.Context, q db.Querier, id string) (*Client, error) {
	c, err := scanClient(q.QueryRowContext(ctx, `SELECT `+clientColumns+clientFrom+
		` WHERE c.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	return c, nil
}

// errClientNotFound is the admin API's 404.
var errClientNotFound = apperr.NotFoundf("Client")

// tenantClient loads a live client of orgID by id, or the 404.
func tenantClient(ctx context.Context, q db.Querier, orgID, id string) (*Client, error) {
	if !db.ValidID(id) {
		return nil, errClientNotFound
	}
	c, err := scanClient(q.QueryRowContext(ctx, `SELECT `+clientColumns+clientFrom+
		` WHERE c.id = $1 AND c.organisation_id = $2 AND c.deleted_at IS NULL`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errClientNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	return c, nil
}

// ClientByClientID returns the usable client with that client_id, or nil
// when it is unknown, inactive, deleted or of a deleted organisation.
func (p *Provider) ClientByClientID(ctx context.Context, clientID string) (*Client, error) {
	c, err := clientByClientID(ctx, p.db, clientID)
	if err != nil || c == nil || !c.usable() {
		return nil, err
	}
	return c, nil
}
