package identity

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// maxExportedAudit bounds the audit rows of an export.
const maxExportedAudit = 10_000

// Export is the personal data export of a user (/v1/me/export). It never
// holds password hashes, TOTP secrets, backup codes, or key or token
// material.
type Export struct {
	GeneratedAt access.Timestamp `json:"generatedAt"`
	Data        ExportData       `json:"data"`
}

// ExportData is the body of an export.
type ExportData struct {
	User         ExportUser         `json:"user"`
	Organisation ExportOrganisation `json:"organisation"`
	Roles        []ExportGroup      `json:"roles"`
	Teams        []ExportGroup      `json:"teams"`
	Sessions     []ExportSession    `json:"sessions"`
	AuditLogs    []ExportAudit      `json:"auditLogs"`
	Consents     []ExportConsent    `json:"consents"`
	APIKeys      []ExportAPIKey     `json:"apiKeys"`
}

// ExportUser is the user's own record.
type ExportUser struct {
	ID              string            `json:"id"`
	Email           string            `json:"email"`
	FirstName       string            `json:"firstName"`
	LastName        string            `json:"lastName"`
	Name            string            `json:"name"`
	Phone           *string           `json:"phone"`
	EmailVerified   bool              `json:"emailVerified"`
	EmailVerifiedAt *access.Timestamp `json:"emailVerifiedAt"`
	MFAEnabled      bool              `json:"mfaEnabled"`
	LastLoginAt     *access.Timestamp `json:"lastLoginAt"`
	CreatedAt       access.Timestamp  `json:"createdAt"`
	UpdatedAt       access.Timestamp  `json:"updatedAt"`
}

// ExportOrganisation is the user's organisation.
type ExportOrganisation struct {
	ID    string  `json:"id"`
	Slug  string  `json:"slug"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

// ExportGroup is a role or team of the user.
type ExportGroup struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Description *string `json:"description"`
}

// ExportSession is a live session of the user.
type ExportSession struct {
	ID             string           `json:"id"`
	IPAddress      *string          `json:"ipAddress"`
	UserAgent      *string          `json:"userAgent"`
	CreatedAt      access.Timestamp `json:"createdAt"`
	LastActivityAt access.Timestamp `json:"lastActivityAt"`
	ExpiresAt      access.Timestamp `json:"expiresAt"`
}

// ExportAudit is an audit row about or by the user.
type ExportAudit struct {
	ID            string           `json:"id"`
	EventType     string           `json:"eventType"`
	EventCategory string           `json:"eventCategory"`
	Action        string           `json:"action"`
	IPAddress     *string          `json:"ipAddress"`
	UserAgent     *string          `json:"userAgent"`
	Success       bool             `json:"success"`
	CreatedAt     access.Timestamp `json:"createdAt"`
}

// ExportConsent is an active consent the user gave a client; ClientID is
// the client's OAuth client_id.
type ExportConsent struct {
	ID         string           `json:"id"`
	ClientID   string           `json:"clientId"`
	ClientName string           `json:"clientName"`
	Scopes     []string         `json:"scopes"`
	GrantedAt  access.Timestamp `json:"grantedAt"`
}

// ExportAPIKey is an API key the user created (never the key itself).
type ExportAPIKey struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Prefix     string            `json:"prefix"`
	Scopes     []string          `json:"scopes"`
	LastUsedAt *access.Timestamp `json:"lastUsedAt"`
	ExpiresAt  *access.Timestamp `json:"expiresAt"`
	RevokedAt  *access.Timestamp `json:"revokedAt"`
	CreatedAt  access.Timestamp  `json:"createdAt"`
}

// Export gathers the signed-in user's data: profile, organisation, roles,
// teams, live sessions, the newest 10 000 audit rows with the user as
// subject or actor, active consents and the API keys they created.
func (s *Service) Export(ctx context.Context, orgID, userID string) (*Export, error) {
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	org, err := orgByID(ctx, s.db, orgID)
	if err != nil || org == nil {
		return nil, firstErr(err, ErrInvalidSession)
	}
	out := &Export{GeneratedAt: access.Stamp(s.clock()), Data: ExportData{
		User: exportUser(u), Organisation: ExportOrganisation{ID: org.ID, Slug: org.Slug,
			Name: org.Name, Email: org.Email}}}
	d := &out.Data
	steps := []func() error{
		func() (err error) { d.Roles, err = s.exportRoles(ctx, orgID, userID); return },
		func() (err error) { d.Teams, err = s.exportTeams(ctx, orgID, userID); return },
		func() (err error) { d.Sessions, err = s.exportSessions(ctx, orgID, userID); return },
		func() (err error) { d.AuditLogs, err = s.exportAudit(ctx, orgID, userID); return },
		func() (err error) { d.Consents, err = s.exportConsents(ctx, orgID, userID); return },
		func() (err error) { d.APIKeys, err = s.exportAPIKeys(ctx, orgID, userID); return },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func exportUser(u *user) ExportUser {
	return ExportUser{ID: u.ID, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Name: u.Name, Phone: u.Phone,
		EmailVerified: u.EmailVerifiedAt != nil, EmailVerifiedAt: access.StampPtr(u.EmailVerifiedAt),
		MFAEnabled: u.MFAEnabled, LastLoginAt: access.StampPtr(u.LastLoginAt),
		CreatedAt: access.Stamp(u.CreatedAt), UpdatedAt: access.Stamp(u.UpdatedAt)}
}

// collect runs a query and scans each row with scan into a new slice.
func collect[T any](ctx context.Context, q db.Querier, what string,
	scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export %s: %w", what, err)
	}
	return out, nil
}

func scanGroup(rows *sql.Rows) (ExportGroup, error) {
	var g ExportGroup
	err := rows.Scan(&g.ID, &g.Name, &g.Slug, &g.Description)
	return g, err
}

func (s *Service) exportRoles(ctx context.Context, orgID, userID string) ([]ExportGroup,
	error) {
	return collect(ctx, s.db, "roles", scanGroup, `SELECT r.id, r.name, r.slug,
		r.description FROM user_roles ur JOIN roles r ON r.id = ur.role_id
		WHERE ur.user_id = $1 AND r.organisation_id = $2 ORDER BY r.name, r.id`,
		userID, orgID)
}

func (s *Service) exportTeams(ctx context.Context, orgID, userID string) ([]ExportGroup,
	error) {
	return collect(ctx, s.db, "teams", scanGroup, `SELECT t.id, t.name, t.slug,
		t.description FROM team_members m JOIN teams t ON t.id = m.team_id
		WHERE m.user_id = $1 AND t.organisation_id = $2 ORDER BY t.name, t.id`,
		userID, orgID)
}

func (s *Service) exportSessions(ctx context.Context, orgID, userID string) (
	[]ExportSession, error) {
	live, err := s.Sessions(ctx, orgID, userID, "")
	if err != nil {
		return nil, err
	}
	out := make([]ExportSession, len(live))
	for i, l := range live {
		out[i] = ExportSession{ID: l.ID, IPAddress: l.IPAddress, UserAgent: l.UserAgent,
			CreatedAt: l.CreatedAt, LastActivityAt: l.LastActivityAt, ExpiresAt: l.ExpiresAt}
	}
	return out, nil
}

func (s *Service) exportAudit(ctx context.Context, orgID, userID string) ([]ExportAudit,
	error) {
	scan := func(rows *sql.Rows) (ExportAudit, error) {
		var a ExportAudit
		var at time.Time
		err := rows.Scan(&a.ID, &a.EventType, &a.EventCategory, &a.Action, &a.IPAddress,
			&a.UserAgent, &a.Success, db.Time(&at))
		a.CreatedAt = access.Stamp(at)
		return a, err
	}
	return collect(ctx, s.db, "audit logs", scan, `SELECT id, event_type, event_category,
		action, ip_address, user_agent, success, created_at FROM audit_logs
		WHERE organisation_id = $1 AND (user_id = $2 OR (actor_type = 'user'
		AND actor_id = $3)) ORDER BY created_at DESC, id DESC LIMIT $4`,
		orgID, userID, userID, maxExportedAudit)
}

func (s *Service) exportConsents(ctx context.Context, orgID, userID string) (
	[]ExportConsent, error) {
	scan := func(rows *sql.Rows) (ExportConsent, error) {
		c := ExportConsent{Scopes: []string{}}
		var at time.Time
		err := rows.Scan(&c.ID, &c.ClientID, &c.ClientName, db.JSON(&c.Scopes), db.Time(&at))
		c.GrantedAt = access.Stamp(at)
		return c, err
	}
	return collect(ctx, s.db, "consents", scan, `SELECT c.id, cl.client_id, cl.name,
		c.scopes, c.granted_at FROM consents c JOIN clients cl ON cl.id = c.client_id
		WHERE c.user_id = $1 AND c.organisation_id = $2 AND c.revoked_at IS NULL
		ORDER BY c.granted_at DESC, c.id`, userID, orgID)
}

func (s *Service) exportAPIKeys(ctx context.Context, orgID, userID string) (
	[]ExportAPIKey, error) {
	scan := func(rows *sql.Rows) (ExportAPIKey, error) {
		k := ExportAPIKey{Scopes: []string{}}
		var used, expires, revoked *time.Time
		var created time.Time
		err := rows.Scan(&k.ID, &k.Name, &k.Prefix, db.JSON(&k.Scopes), db.NullTime(&used),
			db.NullTime(&expires), db.NullTime(&revoked), db.Time(&created))
		k.LastUsedAt, k.ExpiresAt = access.StampPtr(used), access.StampPtr(expires)
		k.RevokedAt, k.CreatedAt = access.StampPtr(revoked), access.Stamp(created)
		return k, err
	}
	return collect(ctx, s.db, "api keys", scan, `SELECT id, name, prefix, scopes,
		last_used_at, expires_at, revoked_at, created_at FROM api_keys
		WHERE created_by_id = $1 AND organisation_id = $2 ORDER BY created_at DESC, id`,
		userID, orgID)
}
