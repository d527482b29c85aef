package oauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// TokenEndpoint serves POST /oauth2/token.
func (p *Provider) TokenEndpoint(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(r)
	if err != nil {
		return err
	}
	gt := form.Get("grant_type")
	grants := map[string]func(context.Context, *Client, url.Values) (*TokenResponse, error){
		GrantAuthorizationCode: p.codeGrant,
		GrantRefreshToken:      p.refreshGrant,
		GrantClientCredentials: p.clientCredentialsGrant,
		GrantDeviceCode:        p.deviceGrant,
	}
	run, ok := grants[gt]
	switch {
	case gt == "":
		return ErrInvalidRequest("grant_type is required")
	case !ok:
		return protocolError(CodeUnsupportedGrantType, "Unsupported grant_type")
	}
	c, err := p.authenticateClient(r.Context(), r, form, "/oauth2/token", false)
	if err != nil {
		return err
	}
	if !c.HasGrant(gt) {
		return ErrUnauthorizedClient("The client may not use this grant type")
	}
	resp, err := run(r.Context(), c, form)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// writeJSON answers v with the no-store headers of the token endpoint.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authCode is a stored authorization code.
type authCode struct {
	id, clientRef, userID, sessionID, redirectURI, orgID string
	nonce, challenge                                     *string
	scopes, resources, amr                               []string
	authTime, expiresAt                                  time.Time
	consumedAt                                           *time.Time
}

func readCode(ctx context.Context, q db.Querier, code string) (*authCode, error) {
	c := &authCode{}
	var session *string
	err := q.QueryRowContext(ctx, `SELECT id, client_id, organisation_id, user_id,
		session_id, redirect_uri, nonce, code_challenge, scopes, resources, amr, auth_time,
		expires_at, consumed_at
		FROM authorization_codes WHERE code_hash = $1`, crypto.HashToken(code)).
		Scan(&c.id, &c.clientRef, &c.orgID, &c.userID, &session, &c.redirectURI, &c.nonce,
			&c.challenge, db.JSON(&c.scopes), db.JSON(&c.resources), db.JSON(&c.amr),
			db.Time(&c.authTime), db.Time(&c.expiresAt), db.NullTime(&c.consumedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read authorization code: %w", err)
	}
	c.sessionID = deref(session)
	return c, nil
}

var errBadCode = ErrInvalidGrant("The authorization code is invalid, expired or used")

// codeGrant exchanges an authorization code (RFC 6749 §4.1.3, PKCE).
func (p *Provider) codeGrant(ctx context.Context, c *Client, form url.Values) (
	*TokenResponse, error) {
	raw := form.Get("code")
	if raw == "" {
		return nil, ErrInvalidRequest("code is required")
	}
	code, err := readCode(ctx, p.db, raw)
	if err != nil || code == nil {
		return nil, errOr(err, errBadCode)
	}
	if code.clientRef != c.ID {
		// Only the client the code was issued to may trigger the replay
		// revocation: anyone else holding a leaked code must not be able
		// to revoke the owner's tokens with it.
		return nil, errBadCode
	}
	if code.consumedAt != nil {
		return nil, p.replayedCode(ctx, code)
	}
	if err := p.checkCode(ctx, c, code, form); err != nil {
		return nil, err
	}
	lt, err := lifetimesOf(ctx, p.db, c)
	if err != nil {
		return nil, err
	}
	g := &grant{grantType: GrantAuthorizationCode, client: c, userID: code.userID,
		scopes: code.scopes, resources: code.resources, sessionID: code.sessionID,
		authTime: code.authTime, amr: code.amr, nonce: deref(code.nonce), codeID: code.id}
	var resp *TokenResponse
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		resp, err = p.exchangeCode(ctx, tx, g, lt)
		return err
	})
	if errors.Is(err, errCodeRaced) {
		return nil, p.replayedCode(ctx, code)
	}
	return resp, err
}

func errOr(err error, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// checkCode applies the rules of a code exchange after client
// authentication: same client, unexpired, same redirect URI, PKCE, active
// user.
func (p *Provider) checkCode(ctx context.Context, c *Client, code *authCode,
	form url.Values) error {
	if code.clientRef != c.ID || !p.now().Before(code.expiresAt) ||
		form.Get("redirect_uri") != code.redirectURI {
		return errBadCode
	}
	verifier := form.Get("code_verifier")
	if code.challenge == nil {
		if verifier != "" {
			return ErrInvalidGrant("code_verifier sent for a code without code_challenge")
		}
	} else if !pkceVerifier.MatchString(verifier) || !oidc.VerifyCodeChallenge(
		&oidc.CodeChallenge{Challenge: *code.challenge, Method: oidc.CodeChallengeMethodS256},
		verifier) {
		return ErrInvalidGrant("code_verifier is missing or does not match")
	}
	u, err := readUser(ctx, p.db, code.userID)
	if err != nil {
		return err
	}
	if u == nil || !u.active {
		return ErrInvalidGrant("The user is not active")
	}
	return nil
}

var errCodeRaced = errors.New("authorization code consumed concurrently")

// exchangeCode consumes the code (exactly one exchange wins) and issues the
// tokens in tx.
func (p *Provider) exchangeCode(ctx context.Context, tx *sql.Tx, g *grant, lt lifetimes) (
	*TokenResponse, error) {
	now := p.clock()
	res, err := tx.ExecContext(ctx, `UPDATE authorization_codes SET consumed_at = $2
		WHERE id = $1 AND consumed_at IS NULL`, g.codeID, now)
	if err != nil {
		return nil, fmt.Errorf("consume authorization code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errCodeRaced
	}
	return p.issueGranted(ctx, tx, g, lt, now)
}

// issueGranted issues the tokens of a consumed user grant in tx: an access
// token, an ID token for openid, and a refresh token starting a new family
// when the client may refresh and offline_access was granted.
func (p *Provider) issueGranted(ctx context.Context, tx *sql.Tx, g *grant, lt lifetimes,
	now time.Time) (*TokenResponse, error) {
	var refresh func() (string, error)
	if g.client.HasGrant(GrantRefreshToken) && slices.Contains(g.scopes, ScopeOfflineAccess) {
		g.familyID = db.NewID()
		refresh = func() (string, error) {
			return p.issueRefresh(ctx, tx, g, "", now.Add(lt.family))
		}
	}
	resp, err := p.respond(ctx, tx, g, lt, refresh)
	if err != nil {
		return nil, err
	}
	return resp, p.tokenEvent(ctx, tx, "oauth2.token_issued", g)
}

func (p *Provider) tokenEvent(ctx context.Context, q db.Querier, typ string, g *grant) error {
	return p.events.Record(ctx, q, event.Event{Type: typ,
		OrganisationID: g.client.OrganisationID, UserID: g.userID, ClientID: g.client.ID,
		ResourceType: "client", ResourceID: g.client.ID,
		Metadata: map[string]any{"grantType": g.grantType, "scopes": g.scopes}})
}

// replayedCode revokes everything issued from a code presented a second
// time and answers invalid_grant.
func (p *Provider) replayedCode(ctx context.Context, code *authCode) error {
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		now := p.clock()
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $2
			WHERE authorization_code_id = $1 AND revoked_at IS NULL`, code.id, now)
		if err != nil {
			return fmt.Errorf("revoke tokens of replayed code: %w", err)
		}
		n, _ := res.RowsAffected()
		families, err := codeFamilies(ctx, tx, code.id)
		if err != nil {
			return err
		}
		for _, f := range families {
			live, err := revocation.Family(ctx, tx, f, now)
			if err != nil {
				return err
			}
			if live {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		p.countRevoked(int(n))
		return p.events.Record(ctx, tx, event.Event{Type: "oauth2.token_revoked",
			OrganisationID: code.orgID, UserID: code.userID, ClientID: code.clientRef,
			ResourceType: "authorization_code", ResourceID: code.id,
			Metadata: map[string]any{"reason": "authorization_code_replay"}})
	})
	if err != nil {
		return err
	}
	return errBadCode
}

func codeFamilies(ctx context.Context, q db.Querier, codeID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT family_id FROM refresh_tokens
		WHERE authorization_code_id = $1`, codeID)
	if err != nil {
		return nil, fmt.Errorf("read code families: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, fmt.Errorf("scan family: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (p *Provider) countRevoked(n int) {
	if p.metrics != nil && n > 0 {
		p.metrics.TokensRevoked.Add(float64(n))
	}
}

// clientCredentialsGrant issues an access token to a confidential client
// for itself (RFC 6749 §4.4).
func (p *Provider) clientCredentialsGrant(ctx context.Context, c *Client,
	form url.Values) (*TokenResponse, error) {
	scopes := splitScope(form.Get("scope"))
	if slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(OIDCScopes, s) }) {
		return nil, ErrInvalidScope("OpenID scopes are not available to client credentials")
	}
	if len(scopes) == 0 {
		scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool {
			return slices.Contains(OIDCScopes, s)
		})
	}
	if !subset(scopes, c.Scopes) {
		return nil, ErrInvalidScope("A requested scope is not allowed for this client")
	}
	res, perr := p.resources(form["resource"], c, scopes)
	if perr != nil {
		return nil, perr
	}
	lt, err := lifetimesOf(ctx, p.db, c)
	if err != nil {
		return nil, err
	}
	g := &grant{grantType: GrantClientCredentials, client: c, scopes: orEmpty(scopes),
		resources: res}
	var resp *TokenResponse
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		if resp, err = p.respond(ctx, tx, g, lt, nil); err != nil {
			return err
		}
		return p.tokenEvent(ctx, tx, "oauth2.token_issued", g)
	})
	return resp, err
}
