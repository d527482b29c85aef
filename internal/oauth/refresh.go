package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// reuseGrace is how long after its rotation a refresh token is refused
// without treating the presentation as reuse (a client's retry).
const reuseGrace = 5 * time.Second

// refreshToken is a stored refresh token.
type refreshToken struct {
	id, familyID, clientRef, userID, orgID, sessionID, codeID string
	scopes, resources, amr                                    []string
	authTime, expiresAt                                       time.Time
	rotatedAt, revokedAt                                      *time.Time
}

func readRefresh(ctx context.Context, q db.Querier, token string) (*refreshToken, error) {
	t := &refreshToken{}
	var session, code *string
	err := q.QueryRowContext(ctx, `SELECT id, family_id, client_id, user_id,
		organisation_id, session_id, authorization_code_id, scopes, audience, amr,
		auth_time, expires_at, rotated_at, revoked_at FROM refresh_tokens
		WHERE token_hash = $1`, crypto.HashToken(token)).
		Scan(&t.id, &t.familyID, &t.clientRef, &t.userID, &t.orgID, &session, &code,
			db.JSON(&t.scopes), db.JSON(&t.resources), db.JSON(&t.amr),
			db.Time(&t.authTime), db.Time(&t.expiresAt), db.NullTime(&t.rotatedAt),
			db.NullTime(&t.revokedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read refresh token: %w", err)
	}
	t.sessionID, t.codeID = deref(session), deref(code)
	return t, nil
}

var errBadRefresh = ErrInvalidGrant("The refresh token is invalid, expired or revoked")

// refreshGrant rotates a refresh token (RFC 6749 §6, OAuth 2.1 rotation):
// exactly one presentation wins; a later presentation of a rotated token
// revokes its family.
func (p *Provider) refreshGrant(ctx context.Context, c *Client, form url.Values) (
	*TokenResponse, error) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, ErrInvalidRequest("refresh_token is required")
	}
	t, err := readRefresh(ctx, p.db, raw)
	if err != nil || t == nil || t.clientRef != c.ID {
		return nil, errOr(err, errBadRefresh)
	}
	if t.rotatedAt != nil || t.revokedAt != nil {
		return nil, p.reused(ctx, c, t)
	}
	scopes, err := p.checkRefresh(ctx, t, form)
	if err != nil {
		return nil, err
	}
	lt, err := lifetimesOf(ctx, p.db, c)
	if err != nil {
		return nil, err
	}
	g := &grant{grantType: GrantRefreshToken, client: c, userID: t.userID, scopes: scopes,
		resources: t.resources, sessionID: t.sessionID, authTime: t.authTime, amr: t.amr,
		codeID: t.codeID, familyID: t.familyID}
	var resp *TokenResponse
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		resp, err = p.rotate(ctx, tx, g, t, lt)
		return err
	})
	if err == nil && p.metrics != nil {
		p.metrics.TokensRefreshed.Inc()
	}
	return resp, err
}

// checkRefresh applies expiry, user state and the scope narrowing rule,
// and returns the scopes of the new access token.
func (p *Provider) checkRefresh(ctx context.Context, t *refreshToken, form url.Values) (
	[]string, error) {
	if !p.now().Before(t.expiresAt) {
		return nil, errBadRefresh
	}
	u, err := readUser(ctx, p.db, t.userID)
	if err != nil {
		return nil, err
	}
	if u == nil || !u.active {
		return nil, ErrInvalidGrant("The user is not active")
	}
	scopes := splitScope(form.Get("scope"))
	if len(scopes) == 0 {
		return t.scopes, nil
	}
	if !subset(scopes, t.scopes) {
		return nil, ErrInvalidScope("The scope exceeds the granted scope")
	}
	return scopes, nil
}

// rotate marks t rotated — the conditional update lets exactly one
// concurrent request through — and issues its successor in the same family
// and the new access (and ID) token.
func (p *Provider) rotate(ctx context.Context, tx *sql.Tx, g *grant, t *refreshToken,
	lt lifetimes) (*TokenResponse, error) {
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = $2
		WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL`, t.id, p.clock())
	if err != nil {
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errBadRefresh
	}
	successor := *g
	successor.scopes = t.scopes
	resp, err := p.respond(ctx, tx, g, lt, func() (string, error) {
		return p.issueRefresh(ctx, tx, &successor, t.id, t.expiresAt)
	})
	if err != nil {
		return nil, err
	}
	return resp, p.tokenEvent(ctx, tx, "oauth2.token_refreshed", g)
}

// reused answers the presentation of a rotated or revoked refresh token:
// within the grace period of its rotation nothing happens; otherwise the
// family and its access tokens are revoked and, for a rotated token, the
// reuse is recorded.
func (p *Provider) reused(ctx context.Context, c *Client, t *refreshToken) error {
	now := p.clock()
	if t.revokedAt == nil && now.Sub(*t.rotatedAt) < reuseGrace {
		return errBadRefresh
	}
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := revocation.Family(ctx, tx, t.familyID, now); err != nil {
			return err
		}
		if t.rotatedAt == nil {
			return nil
		}
		return p.events.Record(ctx, tx, event.Event{
			Type: "oauth2.refresh_token_reuse_detected", OrganisationID: t.orgID,
			UserID: t.userID, ClientID: c.ID, ResourceType: "refresh_token_family",
			ResourceID: t.familyID, Webhooks: []event.Webhook{{
				Type: "oauth2.refresh_token.reuse_detected", ClientID: c.ID,
				Data: map[string]any{"clientId": c.ClientID, "userId": t.userID,
					"familyId": t.familyID}}}})
	})
	if err != nil {
		return err
	}
	if t.rotatedAt != nil && p.metrics != nil {
		p.metrics.RefreshTokenReuse.Inc()
	}
	return errBadRefresh
}
