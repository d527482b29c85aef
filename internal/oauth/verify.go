package oauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// clockSkew is the tolerance on exp and nbf.
const clockSkew = 30 * time.Second

// stateTTL bounds how long an instance trusts the cached state of a jti,
// so a revocation reaches every instance within it.
const stateTTL = 5 * time.Second

// maxStates bounds the state cache; it is cleared when full.
const maxStates = 50_000

// tokenState is the stored state of an access token and of what it
// depends on.
type tokenState struct {
	live      bool // unrevoked, client usable, user active
	clientRef string
	checked   time.Time
}

// tokenStates caches the state of access tokens by jti for stateTTL.
type tokenStates struct {
	db  *db.DB
	now func() time.Time

	mu    sync.Mutex
	cache map[string]tokenState
}

func newTokenStates(d *db.DB, now func() time.Time) *tokenStates {
	return &tokenStates{db: d, now: now, cache: map[string]tokenState{}}
}

// get returns the state of jti, from the cache while fresh.
func (s *tokenStates) get(ctx context.Context, jti string) (tokenState, error) {
	s.mu.Lock()
	st, ok := s.cache[jti]
	s.mu.Unlock()
	if ok && time.Since(st.checked) < stateTTL {
		return st, nil
	}
	st, err := s.read(ctx, jti)
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	if len(s.cache) >= maxStates {
		clear(s.cache)
	}
	s.cache[jti] = st
	s.mu.Unlock()
	return st, nil
}

func (s *tokenStates) read(ctx context.Context, jti string) (tokenState, error) {
	st := tokenState{checked: time.Now()}
	if !db.ValidID(jti) {
		return st, nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT t.client_id, (t.revoked_at IS NULL
		AND c.is_active AND c.deleted_at IS NULL AND o.deleted_at IS NULL
		AND (t.user_id IS NULL OR (u.blocked_at IS NULL AND u.deleted_at IS NULL)))
		FROM tokens t JOIN clients c ON c.id = t.client_id
		JOIN organisations o ON o.id = t.organisation_id
		LEFT JOIN users u ON u.id = t.user_id WHERE t.jti = $1`, jti).
		Scan(&st.clientRef, &st.live)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read token state: %w", err)
	}
	return st, nil
}

// forget drops a jti from this instance's cache (after revoking it here).
func (s *tokenStates) forget(jti string) {
	s.mu.Lock()
	delete(s.cache, jti)
	s.mu.Unlock()
}

// errTokenInvalid is any failure of an access token check; the reason is
// never shown.
var errTokenInvalid = errors.New("access token invalid")

// verifyAccess checks an access token: signature by a published key with
// typ at+jwt and EdDSA or RS256, issuer, exp and nbf with 30 s skew, and
// the jti row unrevoked with its client and user active.
func (p *Provider) verifyAccess(ctx context.Context, raw string) (*accessClaims,
	tokenState, error) {
	payload, err := p.Keys.verifyJWS(ctx, raw, typAccessToken)
	var unread *keyLoadError
	if errors.As(err, &unread) {
		return nil, tokenState{}, err
	}
	if err != nil {
		return nil, tokenState{}, errTokenInvalid
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, tokenState{}, errTokenInvalid
	}
	now := p.now()
	if c.Issuer != p.cfg.Issuer || c.JTI == "" ||
		now.After(time.Unix(c.Expiry, 0).Add(clockSkew)) ||
		now.Before(time.Unix(c.NotBefore, 0).Add(-clockSkew)) {
		return nil, tokenState{}, errTokenInvalid
	}
	st, err := p.states.get(ctx, c.JTI)
	if err != nil {
		return nil, st, err
	}
	if !st.live {
		return nil, st, errTokenInvalid
	}
	return &c, st, nil
}

// ErrInvalidBearer is the admin API's 401 for a bad access token.
var ErrInvalidBearer = apperr.New(apperr.Unauthorized, "Invalid or expired token")

// AuthenticateToken checks a bearer access token for the admin API (its
// audience must include the issuer) and returns its principal: a user
// token, or a client token for the client credentials grant.
func (p *Provider) AuthenticateToken(ctx context.Context, raw string) (*access.Principal,
	error) {
	c, st, err := p.verifyAccess(ctx, raw)
	if err != nil {
		if errors.Is(err, errTokenInvalid) {
			return nil, ErrInvalidBearer
		}
		return nil, err
	}
	if !slices.Contains(c.Audience, p.cfg.Issuer) {
		return nil, ErrInvalidBearer
	}
	pr := &access.Principal{Kind: access.KindUserToken, OrganisationID: c.Org,
		UserID: c.Subject, SessionID: c.SessionID, Scopes: strings.Fields(c.Scope),
		ClientID: c.ClientID, ClientRef: st.clientRef, TokenID: c.JTI}
	if c.Subject == c.ClientID {
		pr.Kind, pr.UserID = access.KindClientToken, ""
	}
	return pr, nil
}
