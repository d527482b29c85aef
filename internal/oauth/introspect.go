package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// IntrospectEndpoint serves POST /oauth2/introspect (RFC 7662). Only
// confidential clients may call it; a client sees its own tokens, or any
// token of its organisation with introspect enabled.
func (p *Provider) IntrospectEndpoint(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(r)
	if err != nil {
		return err
	}
	c, err := p.authenticateClient(r.Context(), r, form, "/oauth2/introspect", true)
	if err != nil {
		return err
	}
	token := form.Get("token")
	if token == "" {
		return ErrInvalidRequest("token is required")
	}
	body, err := p.introspect(r.Context(), c, token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

var inactive = map[string]any{"active": false}

// introspect describes token to caller; the token type hint is not needed
// because access tokens are JWTs and refresh tokens are not.
func (p *Provider) introspect(ctx context.Context, caller *Client, token string) (
	map[string]any, error) {
	if strings.Count(token, ".") == 2 {
		return p.introspectAccess(ctx, caller, token)
	}
	return p.introspectRefresh(ctx, caller, token)
}

func (p *Provider) visibleTo(caller *Client, clientRef, orgID string) bool {
	return clientRef == caller.ID || caller.Introspect && orgID == caller.OrganisationID
}

// introspectAccess describes an access token. Unlike a bearer check it
// allows no clock skew on exp: the token was issued by this server's clock,
// and a token at or past its exp is not active (RFC 7662 §2.2).
func (p *Provider) introspectAccess(ctx context.Context, caller *Client, token string) (
	map[string]any, error) {
	c, st, err := p.verifyAccess(ctx, token)
	if errors.Is(err, errTokenInvalid) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if !p.now().Before(time.Unix(c.Expiry, 0)) || !p.visibleTo(caller, st.clientRef, c.Org) {
		return inactive, nil
	}
	out := map[string]any{"active": true, "scope": c.Scope, "client_id": c.ClientID,
		"token_type": "Bearer", "exp": c.Expiry, "iat": c.IssuedAt, "nbf": c.NotBefore,
		"sub": c.Subject, "aud": c.Audience, "iss": c.Issuer, "jti": c.JTI, "org": c.Org}
	if c.Subject != c.ClientID {
		u, err := readUser(ctx, p.db, c.Subject)
		if err != nil {
			return nil, err
		}
		if u == nil || !u.active {
			return inactive, nil
		}
		out["username"] = u.Email
	}
	return out, nil
}

func (p *Provider) introspectRefresh(ctx context.Context, caller *Client, token string) (
	map[string]any, error) {
	t, err := readRefresh(ctx, p.db, token)
	if err != nil || t == nil {
		return inactive, err
	}
	owner, err := clientByRef(ctx, p.db, t.clientRef)
	if err != nil {
		return nil, err
	}
	if t.rotatedAt != nil || t.revokedAt != nil || !p.now().Before(t.expiresAt) ||
		owner == nil || !owner.usable() || !p.visibleTo(caller, t.clientRef, t.orgID) {
		return inactive, nil
	}
	u, err := readUser(ctx, p.db, t.userID)
	if err != nil || u == nil || !u.active {
		return inactive, err
	}
	var issued time.Time
	if err := p.db.QueryRowContext(ctx, `SELECT created_at FROM refresh_tokens
		WHERE id = $1`, t.id).Scan(db.Time(&issued)); err != nil {
		return nil, fmt.Errorf("read refresh token: %w", err)
	}
	return map[string]any{"active": true, "scope": joinScopes(t.scopes),
		"client_id": owner.ClientID, "username": u.Email, "token_type": "refresh_token",
		"exp": t.expiresAt.Unix(), "iat": issued.Unix(), "sub": t.userID,
		"iss": p.cfg.Issuer, "org": t.orgID}, nil
}

// RevokeEndpoint serves POST /oauth2/revoke (RFC 7009): 200 {} for every
// well-formed request; only the caller's own tokens are touched.
func (p *Provider) RevokeEndpoint(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(r)
	if err != nil {
		return err
	}
	c, err := p.authenticateClient(r.Context(), r, form, "/oauth2/revoke", false)
	if err != nil {
		return err
	}
	token := form.Get("token")
	if token == "" {
		return ErrInvalidRequest("token is required")
	}
	if strings.Count(token, ".") == 2 {
		err = p.revokeAccess(r.Context(), c, token)
	} else {
		err = p.revokeRefresh(r.Context(), c, token)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// revokeAccess revokes an access token of the caller. The signature is
// checked (expiry is not: an expired token is simply left alone).
func (p *Provider) revokeAccess(ctx context.Context, c *Client, token string) error {
	c2, _, err := p.verifyAccess(ctx, token)
	if errors.Is(err, errTokenInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		var user *string
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $3
			WHERE jti = $1 AND client_id = $2 AND revoked_at IS NULL`, c2.JTI, c.ID, p.clock())
		if err != nil {
			return fmt.Errorf("revoke access token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		p.states.forget(c2.JTI)
		if c2.Subject != c2.ClientID {
			user = &c2.Subject
		}
		return p.revokedEvent(ctx, tx, c, deref(user), "access_token", c2.JTI, 1)
	})
}

// revokeRefresh revokes the family of a refresh token of the caller and
// the access tokens issued from it.
func (p *Provider) revokeRefresh(ctx context.Context, c *Client, token string) error {
	t, err := readRefresh(ctx, p.db, token)
	if err != nil || t == nil || t.clientRef != c.ID {
		return err
	}
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		live, err := revocation.Family(ctx, tx, t.familyID, p.clock())
		if err != nil || !live {
			return err
		}
		return p.revokedEvent(ctx, tx, c, t.userID, "refresh_token", t.familyID, 1)
	})
}

func (p *Provider) revokedEvent(ctx context.Context, q db.Querier, c *Client, userID,
	tokenType, resource string, n int) error {
	p.countRevoked(n)
	return p.events.Record(ctx, q, event.Event{Type: "oauth2.token_revoked",
		OrganisationID: c.OrganisationID, UserID: userID, ClientID: c.ID,
		ResourceType: tokenType, ResourceID: resource,
		Webhooks: []event.Webhook{{Type: "oauth2.token.revoked", ClientID: c.ID,
			Data: map[string]any{"clientId": c.ClientID, "userId": nullable(userID),
				"tokenType": tokenType}}}})
}
