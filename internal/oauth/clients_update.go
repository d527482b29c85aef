package oauth

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

func set[T any](dst *T, f patch.Field[T]) {
	if f.Set && !f.Null {
		*dst = f.Value
	}
}

func setNullable[T any](dst **T, f patch.Field[T]) {
	if f.Set {
		*dst = f.Ptr()
	}
}

// applyPatch returns the client as the patch would leave it and the field
// problems of members that must not be null.
func applyPatch(c Client, in ClientPatch) (*Client, []apperr.FieldError) {
	var errs []apperr.FieldError
	notNull := map[string]bool{"name": in.Name.Null, "grantTypes": in.GrantTypes.Null,
		"redirectUris": in.RedirectURIs.Null, "scopes": in.Scopes.Null,
		"postLogoutRedirectUris":  in.PostLogoutRedirectURIs.Null,
		"allowedOrigins":          in.AllowedOrigins.Null,
		"allowedResources":        in.AllowedResources.Null,
		"tokenEndpointAuthMethod": in.TokenEndpointAuthMethod.Null,
		"isFirstParty":            in.IsFirstParty.Null, "requireConsent": in.RequireConsent.Null,
		"introspect": in.Introspect.Null, "isActive": in.IsActive.Null,
		"idTokenSignedResponseAlg": in.IDTokenSignedResponseAlg.Null}
	for field, null := range notNull {
		if null {
			errs = append(errs, apperr.Field(field, apperr.CodeInvalidType, "Must not be null"))
		}
	}
	set(&c.Name, in.Name)
	setNullable(&c.Description, in.Description)
	set(&c.GrantTypes, in.GrantTypes)
	set(&c.RedirectURIs, in.RedirectURIs)
	set(&c.PostLogoutRedirectURIs, in.PostLogoutRedirectURIs)
	set(&c.AllowedOrigins, in.AllowedOrigins)
	set(&c.AllowedResources, in.AllowedResources)
	set(&c.Scopes, in.Scopes)
	set(&c.TokenEndpointAuthMethod, in.TokenEndpointAuthMethod)
	setNullable(&c.JWKS, in.JWKS)
	setNullable(&c.JWKSURI, in.JWKSURI)
	set(&c.IsFirstParty, in.IsFirstParty)
	c.RequireConsent = !c.IsFirstParty
	set(&c.RequireConsent, in.RequireConsent)
	set(&c.Introspect, in.Introspect)
	set(&c.IDTokenSignedResponseAlg, in.IDTokenSignedResponseAlg)
	setNullable(&c.AccessTokenLifetime, in.AccessTokenLifetime)
	setNullable(&c.IDTokenLifetime, in.IDTokenLifetime)
	setNullable(&c.RefreshTokenLifetime, in.RefreshTokenLifetime)
	setNullable(&c.LogoURI, in.LogoURI)
	setNullable(&c.PolicyURI, in.PolicyURI)
	setNullable(&c.TosURI, in.TosURI)
	set(&c.IsActive, in.IsActive)
	return &c, errs
}

// UpdateClient changes a client. The auth method may only switch between
// client_secret_basic and client_secret_post; isActive false revokes the
// client, true reactivates it for new tokens. The actor must hold every
// permission scope the change adds, and every permission scope of the
// client when the change opens a new way to obtain its tokens (see
// opensAccess); otherwise 403 access.ErrCannotGrant.
func (p *Provider) UpdateClient(ctx context.Context, actor *access.Principal, id string,
	in ClientPatch) (*Client, error) {
	var out *Client
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		old, err := tenantClient(ctx, tx, actor.OrganisationID, id)
		if err != nil {
			return err
		}
		c, errs := applyPatch(*old, in)
		if c.TokenEndpointAuthMethod != old.TokenEndpointAuthMethod &&
			!(old.hasSecret() && c.hasSecret()) {
			errs = append(errs, apperr.Field("tokenEndpointAuthMethod",
				apperr.CodeInvalidValue, "May only switch between client_secret_basic "+
					"and client_secret_post"))
		}
		if errs = append(errs, validateClient(c, p.cfg.Production)...); len(errs) > 0 {
			return apperr.InvalidInput(errs...)
		}
		granted := old.Scopes
		if opensAccess(old, c) {
			granted = nil
		}
		if err := p.checkScopeGrant(ctx, actor, granted, c.Scopes); err != nil {
			return err
		}
		out = c
		return p.saveUpdate(ctx, tx, old, c)
	})
	return out, err
}

// opensAccess reports whether changing old into c opens a new way to obtain
// tokens carrying the client's scopes: a grant type added, another
// authentication method, a redirect URI added, or other client keys.
func opensAccess(old, c *Client) bool {
	added := func(before, after []string) bool {
		return slices.ContainsFunc(after, func(s string) bool {
			return !slices.Contains(before, s)
		})
	}
	return added(old.GrantTypes, c.GrantTypes) || added(old.RedirectURIs, c.RedirectURIs) ||
		old.TokenEndpointAuthMethod != c.TokenEndpointAuthMethod ||
		!reflect.DeepEqual(old.JWKS, c.JWKS) || !reflect.DeepEqual(old.JWKSURI, c.JWKSURI)
}

func (p *Provider) saveUpdate(ctx context.Context, tx *sql.Tx, old, c *Client) error {
	now := p.clock()
	c.UpdatedAt = now
	if c.IsActive && !old.IsActive {
		c.RevokedAt = nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE clients SET name = $2, description = $3,
		grant_types = $4, redirect_uris = $5, post_logout_redirect_uris = $6,
		allowed_origins = $7, allowed_resources = $8, scopes = $9,
		token_endpoint_auth_method = $10, jwks = $11, jwks_uri = $12, is_first_party = $13,
		require_consent = $14, introspect = $15, id_token_signed_response_alg = $16,
		access_token_lifetime = $17, id_token_lifetime = $18, refresh_token_lifetime = $19,
		logo_uri = $20, policy_uri = $21, tos_uri = $22, is_active = $23, revoked_at = $24,
		updated_at = $25 WHERE id = $1`,
		c.ID, c.Name, c.Description, db.MustJSON(c.GrantTypes), db.MustJSON(c.RedirectURIs),
		db.MustJSON(c.PostLogoutRedirectURIs), db.MustJSON(c.AllowedOrigins),
		db.MustJSON(c.AllowedResources), db.MustJSON(c.Scopes), c.TokenEndpointAuthMethod,
		jwksValue(c.JWKS), c.JWKSURI, c.IsFirstParty, c.RequireConsent, c.Introspect,
		c.IDTokenSignedResponseAlg, c.AccessTokenLifetime, c.IDTokenLifetime,
		c.RefreshTokenLifetime, c.LogoURI, c.PolicyURI, c.TosURI, c.IsActive, c.RevokedAt, now)
	if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	if !c.IsActive && old.IsActive {
		if err := p.revokeClient(ctx, tx, c, now); err != nil {
			return err
		}
		return p.clientEvent(ctx, tx, "client.revoked", "client.revoked", c, nil)
	}
	return p.clientEvent(ctx, tx, "client.updated", "client.updated", c, nil)
}

// ClientQuery selects a page of clients.
type ClientQuery struct {
	Q        string // name contains, case-insensitive
	IsActive *bool
	Sort     string // name, -name, createdAt, -createdAt
	Page     int
	Limit    int
}

// ClientSorts are the accepted sort values, the default first.
var ClientSorts = map[string]string{
	"name": "c.name ASC, c.id", "-name": "c.name DESC, c.id",
	"createdAt": "c.created_at ASC, c.id", "-createdAt": "c.created_at DESC, c.id",
}

// ListClients returns a page of the organisation's live clients and the
// total count. Q matches literally (% and _ are no wildcards); a Q that is
// not plain text is invalid input.
func (p *Provider) ListClients(ctx context.Context, orgID string, q ClientQuery) (
	[]*Client, int, error) {
	if !plainText(q.Q) {
		return nil, 0, apperr.InvalidInput(apperr.Field("q", apperr.CodeInvalidFormat,
			"Must be text without control characters"))
	}
	where := ` WHERE c.organisation_id = $1 AND c.deleted_at IS NULL`
	args := []any{orgID}
	if q.Q != "" {
		args = append(args, access.Like(q.Q))
		where += fmt.Sprintf(` AND LOWER(c.name) LIKE $%d ESCAPE '\'`, len(args))
	}
	if q.IsActive != nil {
		args = append(args, *q.IsActive)
		where += fmt.Sprintf(" AND c.is_active = $%d", len(args))
	}
	var total int
	err := p.db.QueryRowContext(ctx, `SELECT COUNT(*)`+clientFrom+where, args...).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count clients: %w", err)
	}
	order, ok := ClientSorts[q.Sort]
	if !ok {
		order = ClientSorts["name"]
	}
	args = append(args, q.Limit, (q.Page-1)*q.Limit)
	rows, err := p.db.QueryContext(ctx, `SELECT `+clientColumns+clientFrom+where+
		" ORDER BY "+order+fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args)),
		args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	out := []*Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan client: %w", err)
		}
		out = append(out, c)
	}
	return out, total, rows.Err()
}
