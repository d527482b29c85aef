package oauth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/patch"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// ClientCreate is the body of a client creation; nil members take their
// defaults.
type ClientCreate struct {
	Name                     *string         `json:"name"`
	Description              *string         `json:"description"`
	ClientType               *string         `json:"clientType"`
	GrantTypes               *[]string       `json:"grantTypes"`
	RedirectURIs             *[]string       `json:"redirectUris"`
	PostLogoutRedirectURIs   *[]string       `json:"postLogoutRedirectUris"`
	AllowedOrigins           *[]string       `json:"allowedOrigins"`
	AllowedResources         *[]string       `json:"allowedResources"`
	Scopes                   *[]string       `json:"scopes"`
	TokenEndpointAuthMethod  *string         `json:"tokenEndpointAuthMethod"`
	JWKS                     *map[string]any `json:"jwks"`
	JWKSURI                  *string         `json:"jwksUri"`
	RequirePKCE              *bool           `json:"requirePkce"`
	IsFirstParty             *bool           `json:"isFirstParty"`
	RequireConsent           *bool           `json:"requireConsent"`
	Introspect               *bool           `json:"introspect"`
	IDTokenSignedResponseAlg *string         `json:"idTokenSignedResponseAlg"`
	AccessTokenLifetime      *int            `json:"accessTokenLifetime"`
	IDTokenLifetime          *int            `json:"idTokenLifetime"`
	RefreshTokenLifetime     *int            `json:"refreshTokenLifetime"`
	LogoURI                  *string         `json:"logoUri"`
	PolicyURI                *string         `json:"policyUri"`
	TosURI                   *string         `json:"tosUri"`
	IsActive                 *bool           `json:"isActive"`
}

// ClientPatch is the body of a client update: absent members stay, null
// clears nullable ones.
type ClientPatch struct {
	Name                     patch.Field[string]         `json:"name"`
	Description              patch.Field[string]         `json:"description"`
	GrantTypes               patch.Field[[]string]       `json:"grantTypes"`
	RedirectURIs             patch.Field[[]string]       `json:"redirectUris"`
	PostLogoutRedirectURIs   patch.Field[[]string]       `json:"postLogoutRedirectUris"`
	AllowedOrigins           patch.Field[[]string]       `json:"allowedOrigins"`
	AllowedResources         patch.Field[[]string]       `json:"allowedResources"`
	Scopes                   patch.Field[[]string]       `json:"scopes"`
	TokenEndpointAuthMethod  patch.Field[string]         `json:"tokenEndpointAuthMethod"`
	JWKS                     patch.Field[map[string]any] `json:"jwks"`
	JWKSURI                  patch.Field[string]         `json:"jwksUri"`
	IsFirstParty             patch.Field[bool]           `json:"isFirstParty"`
	RequireConsent           patch.Field[bool]           `json:"requireConsent"`
	Introspect               patch.Field[bool]           `json:"introspect"`
	IDTokenSignedResponseAlg patch.Field[string]         `json:"idTokenSignedResponseAlg"`
	AccessTokenLifetime      patch.Field[int]            `json:"accessTokenLifetime"`
	IDTokenLifetime          patch.Field[int]            `json:"idTokenLifetime"`
	RefreshTokenLifetime     patch.Field[int]            `json:"refreshTokenLifetime"`
	LogoURI                  patch.Field[string]         `json:"logoUri"`
	PolicyURI                patch.Field[string]         `json:"policyUri"`
	TosURI                   patch.Field[string]         `json:"tosUri"`
	IsActive                 patch.Field[bool]           `json:"isActive"`
}

// newClientID returns a client_id: 32 lowercase hex characters.
func newClientID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// defaultGrants are the grant types of a client created without any.
var defaultGrants = []string{GrantAuthorizationCode, GrantRefreshToken}

// clientFromCreate applies the defaults of the contract to a creation body.
func clientFromCreate(orgID string, in ClientCreate, now time.Time) *Client {
	grants := slices.Clone(defaultGrants)
	c := &Client{ID: db.NewID(), OrganisationID: orgID, ClientID: newClientID(),
		Name: or(in.Name, ""), Description: in.Description, ClientType: or(in.ClientType, ""),
		GrantTypes:             or(in.GrantTypes, grants),
		RedirectURIs:           or(in.RedirectURIs, []string{}),
		PostLogoutRedirectURIs: or(in.PostLogoutRedirectURIs, []string{}),
		AllowedOrigins:         or(in.AllowedOrigins, []string{}),
		AllowedResources:       or(in.AllowedResources, []string{}),
		Scopes:                 or(in.Scopes, []string{ScopeOpenID}),
		JWKS:                   in.JWKS, JWKSURI: in.JWKSURI,
		RequirePKCE: or(in.RequirePKCE, true), IsFirstParty: or(in.IsFirstParty, false),
		Introspect:               or(in.Introspect, false),
		IDTokenSignedResponseAlg: or(in.IDTokenSignedResponseAlg, AlgRS256),
		AccessTokenLifetime:      in.AccessTokenLifetime, IDTokenLifetime: in.IDTokenLifetime,
		RefreshTokenLifetime: in.RefreshTokenLifetime, LogoURI: in.LogoURI,
		PolicyURI: in.PolicyURI, TosURI: in.TosURI, IsActive: or(in.IsActive, true),
		CreatedAt: now, UpdatedAt: now, orgLive: true}
	c.RequireConsent = or(in.RequireConsent, !c.IsFirstParty)
	method := AuthSecretBasic
	if c.Public() {
		method = AuthNone
	}
	c.TokenEndpointAuthMethod = or(in.TokenEndpointAuthMethod, method)
	if !c.IsActive {
		c.RevokedAt = &now
	}
	return c
}

// CreateClient creates a client in the actor's organisation and returns
// it with its secret (empty for methods without one), shown only now.
func (p *Provider) CreateClient(ctx context.Context, actor *access.Principal,
	in ClientCreate) (*Client, string, error) {
	now := p.clock()
	c := clientFromCreate(actor.OrganisationID, in, now)
	var errs []apperr.FieldError
	if in.Name == nil {
		errs = append(errs, apperr.Field("name", apperr.CodeRequired, "Required"))
	}
	if in.ClientType == nil {
		errs = append(errs, apperr.Field("clientType", apperr.CodeRequired, "Required"))
	}
	if errs = append(errs, validateClient(c, p.cfg.Production)...); len(errs) > 0 {
		return nil, "", apperr.InvalidInput(errs...)
	}
	if err := p.checkScopeGrant(ctx, actor, nil, c.Scopes); err != nil {
		return nil, "", err
	}
	secret := p.newSecret(c)
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertClient(ctx, tx, c, actor.UserID); err != nil {
			return err
		}
		return p.clientEvent(ctx, tx, "client.created", "client.created", c, nil)
	})
	if err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// newSecret sets a fresh secret digest on c when its method uses one and
// returns the secret.
func (p *Provider) newSecret(c *Client) string {
	if !c.hasSecret() {
		c.secretHash = nil
		return ""
	}
	secret := crypto.NewToken()
	h := crypto.HashToken(secret)
	c.secretHash = &h
	return secret
}

// checkScopeGrant applies the no-escalation guard to the permission
// scopes added to a client.
func (p *Provider) checkScopeGrant(ctx context.Context, actor *access.Principal,
	before, after []string) error {
	var added []string
	for _, s := range after {
		if isPermission(s) && !slices.Contains(before, s) {
			added = append(added, s)
		}
	}
	if len(added) == 0 {
		return nil
	}
	held, err := p.authz.Held(ctx, actor)
	if err != nil {
		return err
	}
	return access.CheckGrant(held, added...)
}

func insertClient(ctx context.Context, q db.Querier, c *Client, createdBy string) error {
	var creator any
	if createdBy != "" {
		creator = createdBy
	}
	_, err := q.ExecContext(ctx, `INSERT INTO clients (id, organisation_id, client_id,
		secret_hash, name, description, client_type, grant_types, redirect_uris,
		post_logout_redirect_uris, allowed_origins, allowed_resources, scopes,
		token_endpoint_auth_method, jwks, jwks_uri, require_pkce, is_first_party,
		require_consent, introspect, id_token_signed_response_alg, access_token_lifetime,
		id_token_lifetime, refresh_token_lifetime, logo_uri, policy_uri, tos_uri, is_active,
		revoked_at, created_by_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6,
		$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
		$24, $25, $26, $27, $28, $29, $30, $31, $31)`,
		c.ID, c.OrganisationID, c.ClientID, c.secretHash, c.Name, c.Description,
		c.ClientType, db.MustJSON(c.GrantTypes), db.MustJSON(c.RedirectURIs),
		db.MustJSON(c.PostLogoutRedirectURIs), db.MustJSON(c.AllowedOrigins),
		db.MustJSON(c.AllowedResources), db.MustJSON(c.Scopes), c.TokenEndpointAuthMethod,
		jwksValue(c.JWKS), c.JWKSURI, c.RequirePKCE, c.IsFirstParty, c.RequireConsent,
		c.Introspect, c.IDTokenSignedResponseAlg, c.AccessTokenLifetime, c.IDTokenLifetime,
		c.RefreshTokenLifetime, c.LogoURI, c.PolicyURI, c.TosURI, c.IsActive, c.RevokedAt,
		creator, c.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert client: %w", err)
	}
	return nil
}

func jwksValue(j *map[string]any) any {
	if j == nil {
		return nil
	}
	return db.MustJSON(*j)
}

// clientEvent records an audit entry and, when hook is set, the webhook
// of a client change.
func (p *Provider) clientEvent(ctx context.Context, q db.Querier, audit, hook string,
	c *Client, extra map[string]any) error {
	data := map[string]any{"client": map[string]any{"id": c.ID, "clientId": c.ClientID,
		"name": c.Name}}
	for k, v := range extra {
		data[k] = v
	}
	e := event.Event{Type: audit, OrganisationID: c.OrganisationID, ClientID: c.ID,
		ResourceType: "client", ResourceID: c.ID}
	if hook != "" {
		e.Webhooks = []event.Webhook{{Type: hook, Data: data, ClientID: c.ID}}
	}
	return p.events.Record(ctx, q, e)
}

// GetClient returns a live client of the organisation, or a 404.
func (p *Provider) GetClient(ctx context.Context, orgID, id string) (*Client, error) {
	return tenantClient(ctx, p.db, orgID, id)
}

// revokeClient deactivates c and revokes what it holds, in tx.
func (p *Provider) revokeClient(ctx context.Context, tx *sql.Tx, c *Client,
	now time.Time) error {
	c.IsActive, c.RevokedAt, c.UpdatedAt = false, &now, now
	_, err := tx.ExecContext(ctx, `UPDATE clients SET is_active = FALSE, revoked_at = $2,
		updated_at = $2 WHERE id = $1`, c.ID, now)
	if err != nil {
		return fmt.Errorf("revoke client: %w", err)
	}
	return revocation.Client(ctx, tx, c.ID, now)
}

// RevokeClient deactivates a client: its tokens are revoked and its codes
// and pending requests deleted. Repeating it is harmless.
func (p *Provider) RevokeClient(ctx context.Context, orgID, id string) error {
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := tenantClient(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if err := p.revokeClient(ctx, tx, c, p.clock()); err != nil {
			return err
		}
		return p.clientEvent(ctx, tx, "client.revoked", "client.revoked", c, nil)
	})
}

// RotateSecret replaces the secret of a client of the actor's
// organisation; the old one stops at once. The new secret lets its holder
// use every permission scope of the client, so the actor must hold them
// all (403 access.ErrCannotGrant). A client without a secret method gets a
// 422.
func (p *Provider) RotateSecret(ctx context.Context, actor *access.Principal,
	id string) (*Client, string, error) {
	var c *Client
	var secret string
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = tenantClient(ctx, tx, actor.OrganisationID, id); err != nil {
			return err
		}
		if !c.hasSecret() {
			return apperr.New(apperr.Unprocessable, "Client has no secret")
		}
		if err := p.checkScopeGrant(ctx, actor, nil, c.Scopes); err != nil {
			return err
		}
		secret = p.newSecret(c)
		c.UpdatedAt = p.clock()
		_, err = tx.ExecContext(ctx, `UPDATE clients SET secret_hash = $2, updated_at = $3
			WHERE id = $1`, c.ID, c.secretHash, c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("rotate client secret: %w", err)
		}
		return p.clientEvent(ctx, tx, "client.secret_regenerated", "client.updated", c, nil)
	})
	if err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// DeleteClient soft-deletes a client: tokens and consents revoked, codes
// and requests deleted, webhook endpoints bound to it deactivated. The
// client_id stays reserved.
func (p *Provider) DeleteClient(ctx context.Context, orgID, id string) error {
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := tenantClient(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		now := p.clock()
		if err := p.revokeClient(ctx, tx, c, now); err != nil {
			return err
		}
		if err := revocation.ClientConsents(ctx, tx, c.ID, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET deleted_at = $2 WHERE id = $1`,
			c.ID, now); err != nil {
			return fmt.Errorf("delete client: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET is_active = FALSE,
			updated_at = $2 WHERE client_id = $1`, c.ID, now); err != nil {
			return fmt.Errorf("deactivate client webhooks: %w", err)
		}
		return p.clientEvent(ctx, tx, "client.deleted", "client.revoked", c,
			map[string]any{"deleted": true})
	})
}
