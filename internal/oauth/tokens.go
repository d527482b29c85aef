package oauth

import (
	"context"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Authentication context classes of ID tokens.
const (
	ACRPassword = "urn:cerberus:loa:1"
	ACRMFA      = "urn:cerberus:loa:2"
)

// grant is what a token response is issued for.
type grant struct {
	grantType string
	client    *Client
	userID    string // empty for client credentials
	scopes    []string
	resources []string
	sessionID string
	authTime  time.Time
	amr       []string
	nonce     string
	codeID    string
	familyID  string
}

// accessClaims are the claims of an access token (RFC 9068).
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	JTI       string   `json:"jti"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Org       string   `json:"org"`
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid,omitempty"`
}

// TokenResponse is the 200 body of the token endpoint.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// audience is [client_id, resources…].
func (g *grant) audience() []string {
	aud := []string{g.client.ClientID}
	for _, r := range g.resources {
		if !slices.Contains(aud, r) {
			aud = append(aud, r)
		}
	}
	return aud
}

func (g *grant) subject() string {
	if g.userID == "" {
		return g.client.ClientID
	}
	return g.userID
}

// issueAccess signs an access token for g and stores its jti row.
func (p *Provider) issueAccess(ctx context.Context, q db.Querier, g *grant,
	lt lifetimes) (string, error) {
	now := p.clock()
	roles := []string{}
	if g.userID != "" {
		var err error
		if roles, err = roleSlugs(ctx, q, g.userID); err != nil {
			return "", err
		}
	}
	c := accessClaims{Issuer: p.cfg.Issuer, Subject: g.subject(), Audience: g.audience(),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(lt.access).Unix(),
		JTI: db.NewID(), Scope: joinScopes(g.scopes), ClientID: g.client.ClientID,
		Org: g.client.OrganisationID, Roles: roles, SessionID: g.sessionID}
	raw, err := p.Keys.sign(ctx, q, p.cfg.AccessTokenAlg, typAccessToken, c)
	if err != nil {
		return "", err
	}
	req := event.RequestFrom(ctx)
	_, err = q.ExecContext(ctx, `INSERT INTO tokens (id, jti, client_id, user_id,
		organisation_id, scopes, audience, authorization_code_id, family_id, session_id,
		issued_at, expires_at, ip_address, user_agent, created_at) VALUES ($1, $2, $3, $4,
		$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11)`,
		db.NewID(), c.JTI, g.client.ID, nullable(g.userID), g.client.OrganisationID,
		db.MustJSON(g.scopes), db.MustJSON(c.Audience), nullable(g.codeID),
		nullable(g.familyID), nullable(g.sessionID), now, now.Add(lt.access),
		nullable(req.IP), nullable(truncate(req.UserAgent, 512)))
	if err != nil {
		return "", fmt.Errorf("insert access token: %w", err)
	}
	p.countIssued(g.grantType, "access_token")
	return raw, nil
}

// issueRefresh stores a new refresh token of g's family, expiring with the
// family, and returns it.
func (p *Provider) issueRefresh(ctx context.Context, q db.Querier, g *grant,
	parentID string, expires time.Time) (string, error) {
	token := crypto.NewToken()
	_, err := q.ExecContext(ctx, `INSERT INTO refresh_tokens (id, token_hash, family_id,
		parent_id, client_id, user_id, organisation_id, scopes, audience,
		authorization_code_id, session_id, auth_time, amr, expires_at, created_at) VALUES ($1,
		$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		db.NewID(), crypto.HashToken(token), g.familyID, nullable(parentID), g.client.ID,
		g.userID, g.client.OrganisationID, db.MustJSON(g.scopes), db.MustJSON(g.resources),
		nullable(g.codeID), nullable(g.sessionID), g.authTime, db.MustJSON(g.amr), expires,
		p.clock())
	if err != nil {
		return "", fmt.Errorf("insert refresh token: %w", err)
	}
	p.countIssued(g.grantType, "refresh_token")
	return token, nil
}

// issueID signs an ID token for g, bound to accessToken by at_hash, with
// the client's algorithm.
func (p *Provider) issueID(ctx context.Context, q db.Querier, g *grant, lt lifetimes,
	accessToken string) (string, error) {
	u, err := readUser(ctx, q, g.userID)
	if err != nil || u == nil {
		return "", fmt.Errorf("id token user %s: %w", g.userID, err)
	}
	alg := g.client.IDTokenSignedResponseAlg
	atHash, err := oidc.ClaimHash(accessToken, jose.SignatureAlgorithm(alg))
	if err != nil {
		return "", fmt.Errorf("at_hash: %w", err)
	}
	now := p.clock()
	claims := u.scopeClaims(g.scopes)
	for k, v := range map[string]any{"iss": p.cfg.Issuer, "sub": g.userID,
		"aud": g.client.ClientID, "exp": now.Add(lt.id).Unix(), "iat": now.Unix(),
		"auth_time": g.authTime.Unix(), "azp": g.client.ClientID, "at_hash": atHash,
		"amr": g.amr, "acr": acrOf(g.amr)} {
		claims[k] = v
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if g.sessionID != "" {
		claims["sid"] = g.sessionID
	}
	raw, err := p.Keys.sign(ctx, q, alg, typIDToken, claims)
	if err != nil {
		return "", err
	}
	p.countIssued(g.grantType, "id_token")
	return raw, nil
}

// acrOf maps the authentication methods to the context class.
func acrOf(amr []string) string {
	if slices.Contains(amr, "otp") {
		return ACRMFA
	}
	return ACRPassword
}

// respond issues the access token, and the refresh and ID tokens g calls
// for, inside q's transaction. refresh is "" for no refresh token.
func (p *Provider) respond(ctx context.Context, q db.Querier, g *grant, lt lifetimes,
	refresh func() (string, error)) (*TokenResponse, error) {
	at, err := p.issueAccess(ctx, q, g, lt)
	if err != nil {
		return nil, err
	}
	resp := &TokenResponse{AccessToken: at, TokenType: "Bearer",
		ExpiresIn: int64(lt.access.Seconds()), Scope: joinScopes(g.scopes)}
	if refresh != nil {
		if resp.RefreshToken, err = refresh(); err != nil {
			return nil, err
		}
	}
	if g.userID != "" && slices.Contains(g.scopes, ScopeOpenID) {
		if resp.IDToken, err = p.issueID(ctx, q, g, lt, at); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (p *Provider) countIssued(grantType, tokenType string) {
	if p.metrics != nil {
		p.metrics.TokensIssued.WithLabelValues(grantType, tokenType).Inc()
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
