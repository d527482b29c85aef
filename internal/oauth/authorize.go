package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Lifetimes of the authorization request and code.
const (
	requestLifetime = 10 * time.Minute
	codeLifetime    = 10 * time.Minute
)

// Outcome is the answer of the authorization endpoint, rendered by the
// hosted pages: exactly one member is set.
type Outcome struct {
	// Page is an error shown on a 400 page: the client or its redirect
	// URI cannot be trusted with a redirect.
	Page *Error
	// Redirect is the Location of a 302 (login, consent, or the client's
	// redirect URI in query mode).
	Redirect string
	// FormPost is the response in form_post mode.
	FormPost *FormPost
}

// FormPost is an authorization response delivered by an HTML form that
// posts Fields to Action.
type FormPost struct {
	Action string
	Fields url.Values
}

// authRequest is a stored authorization request.
type authRequest struct {
	ID          string
	client      *Client
	params      authParams
	requestedAt time.Time
}

// sessionInfo is the browser session an authorization request runs with.
type sessionInfo struct {
	id, userID, orgID string
	authTime          time.Time
	amr               []string
}

// pageError builds an error shown on the error page.
func pageError(code, desc string) *Outcome {
	return &Outcome{Page: &Error{Code: code, Description: desc, Status: http.StatusBadRequest}}
}

// Authorize runs the authorization endpoint with the request's parameters
// (query or form) and its session principal (nil without one).
func (p *Provider) Authorize(ctx context.Context, v url.Values,
	session *access.Principal) (*Outcome, error) {
	var req *authRequest
	var out *Outcome
	var err error
	if v.Has("request_id") {
		req, out, err = p.resume(ctx, v.Get("request_id"))
	} else {
		req, out, err = p.newRequest(ctx, v)
	}
	if err != nil || out != nil {
		return out, err
	}
	sess, err := p.sessionOf(ctx, session)
	if err != nil {
		return nil, err
	}
	return p.proceed(ctx, req, sess)
}

// newRequest validates a fresh request and stores it.
func (p *Provider) newRequest(ctx context.Context, v url.Values) (*authRequest, *Outcome,
	error) {
	if len(v["client_id"]) != 1 || len(v["redirect_uri"]) > 1 {
		return nil, pageError(CodeInvalidRequest, "client_id is missing or repeated"), nil
	}
	c, err := p.ClientByClientID(ctx, v.Get("client_id"))
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, pageError(CodeInvalidClient, "Unknown or inactive client"), nil
	}
	redirect := v.Get("redirect_uri")
	if redirect == "" || !MatchRedirectURI(c.RedirectURIs, redirect) {
		return nil, pageError(CodeInvalidRequest,
			"redirect_uri is missing or not registered for this client"), nil
	}
	a := authParams{ClientID: c.ClientID, RedirectURI: redirect, ResponseMode: ModeQuery}
	if v.Get("response_mode") == ModeFormPost {
		a.ResponseMode = ModeFormPost
	}
	if st := v.Get("state"); len(st) <= maxState && plainText(st) {
		a.State = st
	}
	if perr := p.parseAuthParams(v, c, &a); perr != nil {
		return nil, p.errorResponse(&a, perr), nil
	}
	if m := v.Get("response_mode"); m != "" && m != ModeQuery && m != ModeFormPost {
		return nil, p.errorResponse(&a, ErrInvalidRequest("Unsupported response_mode")), nil
	}
	req := &authRequest{ID: db.NewID(), client: c, params: a, requestedAt: p.clock()}
	_, err = p.db.ExecContext(ctx, `INSERT INTO authorization_requests (id, client_id,
		organisation_id, parameters, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, req.ID, c.ID, c.OrganisationID,
		db.MustJSON(a), req.requestedAt.Add(requestLifetime), req.requestedAt)
	if err != nil {
		return nil, nil, fmt.Errorf("store authorization request: %w", err)
	}
	return req, nil, nil
}

var errUnknownRequest = pageError(CodeInvalidRequest,
	"The authorization request is unknown or has expired")

// resume loads a stored, pending, unexpired request.
func (p *Provider) resume(ctx context.Context, id string) (*authRequest, *Outcome, error) {
	req, err := p.loadRequest(ctx, id)
	if err != nil || req == nil {
		return nil, errUnknownRequest, err
	}
	if req.client == nil || !req.client.usable() {
		return nil, pageError(CodeInvalidClient, "Unknown or inactive client"), nil
	}
	if !MatchRedirectURI(req.client.RedirectURIs, req.params.RedirectURI) {
		return nil, pageError(CodeInvalidRequest, "redirect_uri is no longer registered"), nil
	}
	return req, nil, nil
}

func (p *Provider) loadRequest(ctx context.Context, id string) (*authRequest, error) {
	if !db.ValidID(id) {
		return nil, nil
	}
	req := &authRequest{ID: id}
	var clientRef string
	err := p.db.QueryRowContext(ctx, `SELECT client_id, parameters, created_at
		FROM authorization_requests WHERE id = $1 AND done = FALSE AND expires_at > $2`,
		id, p.clock()).Scan(&clientRef, db.JSON(&req.params), db.Time(&req.requestedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read authorization request: %w", err)
	}
	req.client, err = clientByRef(ctx, p.db, clientRef)
	return req, err
}

// sessionOf reads the authentication time of a full session principal;
// restricted sessions do not count.
func (p *Provider) sessionOf(ctx context.Context, pr *access.Principal) (*sessionInfo,
	error) {
	if pr == nil || pr.Kind != access.KindSession || pr.Restricted {
		return nil, nil
	}
	s := &sessionInfo{id: pr.SessionID, userID: pr.UserID, orgID: pr.OrganisationID}
	err := p.db.QueryRowContext(ctx, `SELECT authenticated_at, amr FROM sessions
		WHERE id = $1`, pr.SessionID).Scan(db.Time(&s.authTime), db.JSON(&s.amr))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	return s, nil
}

// proceed decides between sign-in, consent and the code.
func (p *Provider) proceed(ctx context.Context, req *authRequest,
	sess *sessionInfo) (*Outcome, error) {
	a := &req.params
	if p.needsLogin(req, sess) {
		if a.prompts(PromptNone) {
			return p.errorResponse(a, protocolError(CodeLoginRequired,
				"The user is not signed in")), nil
		}
		return &Outcome{Redirect: p.loginURL(req, sess != nil)}, nil
	}
	needed, err := p.needsConsent(ctx, req, sess)
	if err != nil {
		return nil, err
	}
	if needed {
		if a.prompts(PromptNone) {
			return p.errorResponse(a, protocolError(CodeConsentRequired,
				"The user has not consented")), nil
		}
		return &Outcome{Redirect: p.cfg.Issuer + "/oauth2/consent?request_id=" +
			url.QueryEscape(req.ID)}, nil
	}
	return p.issueCode(ctx, req, sess)
}

// needsLogin applies the sign-in rules: a full session of the client's
// organisation, fresh enough for prompt=login and max_age (a session
// authenticated after the request satisfies both).
func (p *Provider) needsLogin(req *authRequest, sess *sessionInfo) bool {
	if sess == nil || sess.orgID != req.client.OrganisationID {
		return true
	}
	fresh := !sess.authTime.Before(req.requestedAt)
	if req.params.prompts(PromptLogin) && !fresh {
		return true
	}
	if m := req.params.MaxAge; m != nil && !fresh &&
		p.now().Sub(sess.authTime) > time.Duration(*m)*time.Second {
		return true
	}
	return false
}

// ResumeURL is where the hosted pages send the browser to continue a
// stored authorization request.
func (p *Provider) ResumeURL(requestID string) string {
	return p.cfg.Issuer + "/oauth2/authorize?request_id=" + url.QueryEscape(requestID)
}

func (p *Provider) loginURL(req *authRequest, hasSession bool) string {
	base := p.cfg.LoginUIURL
	if base == "" {
		base = p.cfg.Issuer + "/auth/login"
	}
	q := url.Values{"redirect_uri": {p.ResumeURL(req.ID)}}
	if req.params.LoginHint != "" {
		q.Set("login_hint", req.params.LoginHint)
	}
	if hasSession {
		q.Set("prompt", PromptLogin)
	}
	return base + "?" + q.Encode()
}

// issueCode stores a single-use code bound to the request and session and
// answers it to the client.
func (p *Provider) issueCode(ctx context.Context, req *authRequest,
	sess *sessionInfo) (*Outcome, error) {
	code := crypto.NewToken()
	now := p.clock()
	a := req.params
	err := p.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE authorization_requests SET done = TRUE,
			user_id = $2, session_id = $3, auth_time = $4, amr = $5, updated_at = $6
			WHERE id = $1 AND done = FALSE`, req.ID, sess.userID, sess.id, sess.authTime,
			db.MustJSON(sess.amr), now)
		if err != nil {
			return fmt.Errorf("complete authorization request: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errRequestUsed
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO authorization_codes (id, code_hash,
			client_id, user_id, organisation_id, session_id, authorization_request_id,
			redirect_uri, scopes, nonce, code_challenge, resources, auth_time, amr,
			expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
			$13, $14, $15, $16)`, db.NewID(), crypto.HashToken(code), req.client.ID,
			sess.userID, req.client.OrganisationID, sess.id, req.ID, a.RedirectURI,
			db.MustJSON(a.Scopes), nullable(a.Nonce), nullable(a.CodeChallenge),
			db.MustJSON(orEmpty(a.Resources)), sess.authTime, db.MustJSON(sess.amr),
			now.Add(codeLifetime), now)
		if err != nil {
			return fmt.Errorf("store authorization code: %w", err)
		}
		return p.events.Record(ctx, tx, event.Event{Type: "oauth2.authorize",
			OrganisationID: req.client.OrganisationID, UserID: sess.userID,
			ClientID: req.client.ID, ResourceType: "client", ResourceID: req.client.ID,
			Metadata: map[string]any{"scopes": a.Scopes}})
	})
	if errors.Is(err, errRequestUsed) {
		return errUnknownRequest, nil
	}
	if err != nil {
		return nil, err
	}
	return p.response(&a, url.Values{"code": {code}}), nil
}

var errRequestUsed = errors.New("authorization request already completed")

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// errorResponse sends a protocol error back to the client's redirect URI.
func (p *Provider) errorResponse(a *authParams, e *Error) *Outcome {
	return p.response(a, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// response delivers parameters to the redirect URI with state and iss, in
// the request's response mode.
func (p *Provider) response(a *authParams, v url.Values) *Outcome {
	if a.State != "" {
		v.Set("state", a.State)
	}
	v.Set("iss", p.cfg.Issuer)
	if a.ResponseMode == ModeFormPost {
		return &Outcome{FormPost: &FormPost{Action: a.RedirectURI, Fields: v}}
	}
	return &Outcome{Redirect: appendQuery(a.RedirectURI, v)}
}

// appendQuery adds v to the query of uri, keeping its existing query text
// as registered.
func appendQuery(uri string, v url.Values) string {
	sep := "?"
	if u, err := url.Parse(uri); err == nil && u.RawQuery != "" {
		sep = "&"
	}
	return uri + sep + v.Encode()
}
