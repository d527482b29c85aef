package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// consent is a user's stored consent to a client.
type consent struct {
	id        string
	scopes    []string
	updatedAt time.Time
	active    bool
}

func readConsent(ctx context.Context, q db.Querier, userID, clientRef string) (*consent,
	error) {
	c := &consent{}
	err := q.QueryRowContext(ctx, `SELECT id, scopes, updated_at, revoked_at IS NULL
		FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientRef).
		Scan(&c.id, db.JSON(&c.scopes), db.Time(&c.updatedAt), &c.active)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read consent: %w", err)
	}
	return c, nil
}

// needsConsent applies the consent rules: none for first-party clients;
// otherwise an active consent must cover every scope, and prompt=consent
// asks again unless the consent was given after the request.
func (p *Provider) needsConsent(ctx context.Context, req *authRequest,
	sess *sessionInfo) (bool, error) {
	if req.client.IsFirstParty {
		return false, nil
	}
	c, err := readConsent(ctx, p.db, sess.userID, req.client.ID)
	if err != nil {
		return false, err
	}
	if c == nil || !c.active || !subset(req.params.Scopes, c.scopes) {
		return true, nil
	}
	return req.params.prompts(PromptConsent) && c.updatedAt.Before(req.requestedAt), nil
}

// ConsentView is what the consent page shows.
type ConsentView struct {
	RequestID  string
	ClientName string
	LogoURI    string
	PolicyURI  string
	TosURI     string
	Scopes     []ScopeDescription
	Branding   Branding
	// RedirectOrigin is the origin of the client's redirect URI.
	RedirectOrigin string
}

// ConsentPage returns the view of a pending request for the session's
// user. A nil view with a nil Outcome never happens: when the request is
// unknown the Outcome is the error page, and when the session cannot
// consent (none, other organisation) the Outcome resumes the flow, which
// signs the user in first.
func (p *Provider) ConsentPage(ctx context.Context, requestID string,
	session *access.Principal) (*ConsentView, *Outcome, error) {
	req, _, out, err := p.consentRequest(ctx, requestID, session)
	if err != nil || out != nil {
		return nil, out, err
	}
	scopes, err := describeScopes(ctx, p.db, req.params.Scopes)
	if err != nil {
		return nil, nil, err
	}
	b, err := p.Branding(ctx, req.client.OrganisationID)
	if err != nil {
		return nil, nil, err
	}
	c := req.client
	return &ConsentView{RequestID: req.ID, ClientName: c.Name, LogoURI: deref(c.LogoURI),
		PolicyURI: deref(c.PolicyURI), TosURI: deref(c.TosURI), Scopes: scopes,
		Branding: b, RedirectOrigin: origin(req.params.RedirectURI)}, nil, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (p *Provider) consentRequest(ctx context.Context, requestID string,
	session *access.Principal) (*authRequest, *sessionInfo, *Outcome, error) {
	req, out, err := p.resume(ctx, requestID)
	if err != nil || out != nil {
		return nil, nil, out, err
	}
	sess, err := p.sessionOf(ctx, session)
	if err != nil {
		return nil, nil, nil, err
	}
	if p.needsLogin(req, sess) {
		return nil, nil, &Outcome{Redirect: p.ResumeURL(req.ID)}, nil
	}
	return req, sess, nil, nil
}

// DecideConsent records the user's decision on a pending request: allow
// stores the consent (scopes merged) and resumes the flow; deny answers
// access_denied to the client.
func (p *Provider) DecideConsent(ctx context.Context, requestID string,
	session *access.Principal, allow bool) (*Outcome, error) {
	req, sess, out, err := p.consentRequest(ctx, requestID, session)
	if err != nil || out != nil {
		return out, err
	}
	if !allow {
		if _, err := p.db.ExecContext(ctx, `UPDATE authorization_requests SET done = TRUE,
			updated_at = $2 WHERE id = $1`, req.ID, p.clock()); err != nil {
			return nil, fmt.Errorf("close authorization request: %w", err)
		}
		return p.errorResponse(&req.params, protocolError(CodeAccessDenied,
			"The user denied the request")), nil
	}
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		return p.grantConsent(ctx, tx, sess.userID, req.client, req.params.Scopes)
	})
	if err != nil {
		return nil, err
	}
	return &Outcome{Redirect: p.ResumeURL(req.ID)}, nil
}

// grantConsent stores or widens the user's consent to c, and records
// oauth2.consent.granted.
func (p *Provider) grantConsent(ctx context.Context, tx *sql.Tx, userID string, c *Client,
	scopes []string) error {
	now := p.clock()
	old, err := readConsent(ctx, tx, userID, c.ID)
	if err != nil {
		return err
	}
	switch {
	case old == nil:
		_, err = tx.ExecContext(ctx, `INSERT INTO consents (id, user_id, client_id,
			organisation_id, scopes, granted_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`, db.NewID(), userID, c.ID,
			c.OrganisationID, db.MustJSON(scopes), now)
	default:
		merged := scopes
		if old.active {
			merged = union(old.scopes, scopes)
		}
		_, err = tx.ExecContext(ctx, `UPDATE consents SET scopes = $2, revoked_at = NULL,
			granted_at = CASE WHEN revoked_at IS NULL THEN granted_at ELSE $3 END,
			updated_at = $3 WHERE id = $1`, old.id, db.MustJSON(merged), now)
	}
	if err != nil {
		return fmt.Errorf("store consent: %w", err)
	}
	return p.events.Record(ctx, tx, event.Event{Type: "oauth2.consent.granted",
		OrganisationID: c.OrganisationID, UserID: userID, ClientID: c.ID,
		ResourceType: "client", ResourceID: c.ID, Metadata: map[string]any{"scopes": scopes}})
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ConsentInfo is a consent as /v1/me/consents shows it.
type ConsentInfo struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"clientId"`
	ClientName string    `json:"clientName"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"grantedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ListConsents returns the user's active consents, newest first.
func (p *Provider) ListConsents(ctx context.Context, userID string) ([]ConsentInfo, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT s.id, c.client_id, c.name, s.scopes,
		s.granted_at, s.updated_at FROM consents s JOIN clients c ON c.id = s.client_id
		WHERE s.user_id = $1 AND s.revoked_at IS NULL AND c.deleted_at IS NULL
		ORDER BY s.updated_at DESC, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	defer rows.Close()
	out := []ConsentInfo{}
	for rows.Next() {
		var ci ConsentInfo
		if err := rows.Scan(&ci.ID, &ci.ClientID, &ci.ClientName, db.JSON(&ci.Scopes),
			db.Time(&ci.GrantedAt), db.Time(&ci.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("scan consent: %w", err)
		}
		out = append(out, ci)
	}
	return out, rows.Err()
}

var errConsentNotFound = apperr.NotFoundf("Consent")

// RevokeConsent revokes an active consent of the user and the user's
// refresh and access tokens for that client; another id is a 404.
func (p *Provider) RevokeConsent(ctx context.Context, userID, id string) error {
	if !db.ValidID(id) {
		return errConsentNotFound
	}
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		var clientRef, orgID string
		err := tx.QueryRowContext(ctx, `SELECT client_id, organisation_id FROM consents
			WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID).
			Scan(&clientRef, &orgID)
		if errors.Is(err, sql.ErrNoRows) {
			return errConsentNotFound
		}
		if err != nil {
			return fmt.Errorf("read consent: %w", err)
		}
		if err := revocation.UserClient(ctx, tx, userID, clientRef, p.clock()); err != nil {
			return err
		}
		return p.events.Record(ctx, tx, event.Event{Type: "oauth2.consent.revoked",
			OrganisationID: orgID, UserID: userID, ClientID: clientRef,
			ResourceType: "consent", ResourceID: id})
	})
}

// Branding is an organisation's look on the hosted pages.
type Branding struct {
	LogoURL      string `json:"logoUrl"`
	PrimaryColor string `json:"primaryColor"`
	Name         string `json:"-"`
}

// Branding returns the branding and name of an organisation.
func (p *Provider) Branding(ctx context.Context, orgID string) (Branding, error) {
	var b struct {
		LogoURL      *string `json:"logoUrl"`
		PrimaryColor *string `json:"primaryColor"`
	}
	var name string
	err := p.db.QueryRowContext(ctx, `SELECT name, branding FROM organisations
		WHERE id = $1`, orgID).Scan(&name, db.JSON(&b))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Branding{}, fmt.Errorf("read branding: %w", err)
	}
	return Branding{LogoURL: deref(b.LogoURL), PrimaryColor: deref(b.PrimaryColor),
		Name: name}, nil
}
