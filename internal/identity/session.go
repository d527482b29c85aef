package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// Session lifetimes fixed by the contract.
const (
	// restrictedLifetime caps an MFA-enrollment session.
	restrictedLifetime = 15 * time.Minute
	// touchInterval is how stale lastActivityAt must be before a request
	// writes it again.
	touchInterval = 60 * time.Second
	// maxUserAgent is how much of the User-Agent header a session keeps.
	maxUserAgent = 512
)

// Authentication methods recorded in a session's amr.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
)

// Session is a browser session. Its expiry and idle limit are fixed when it
// is created from the organisation's settings of that moment.
type Session struct {
	ID             string
	UserID         string
	OrganisationID string
	// Restricted marks an MFA-enrollment session (only enrollment routes).
	Restricted      bool
	AMR             []string
	AuthenticatedAt time.Time
	IPAddress       string
	UserAgent       string
	IdleTimeout     time.Duration
	LastActivityAt  time.Time
	ExpiresAt       time.Time
	CreatedAt       time.Time
}

// MaxAge is the cookie Max-Age of the session: its absolute lifetime in
// seconds.
func (s *Session) MaxAge() int {
	return int(s.ExpiresAt.Sub(s.CreatedAt) / time.Second)
}

// valid reports whether the session may still be used at now.
func (s *Session) valid(now time.Time) bool {
	return now.Before(s.ExpiresAt) && now.Sub(s.LastActivityAt) <= s.IdleTimeout
}

// Principal returns the access principal of the session.
func (s *Session) Principal() *access.Principal {
	return &access.Principal{Kind: access.KindSession, OrganisationID: s.OrganisationID,
		UserID: s.UserID, SessionID: s.ID, Restricted: s.Restricted,
		AMR: append([]string(nil), s.AMR...)}
}

// newSession describes a session to create.
type newSession struct {
	user       *user
	org        *organisation
	restricted bool
	amr        []string
	ip, ua     string
}

// createSession inserts a session and returns its cookie value.
func (s *Service) createSession(ctx context.Context, q db.Querier, n newSession,
	now time.Time) (string, *Session, error) {
	lifetime := time.Duration(n.org.SessionLifetime) * time.Second
	if n.restricted {
		lifetime = min(lifetime, restrictedLifetime)
	}
	sess := &Session{
		ID: db.NewID(), UserID: n.user.ID, OrganisationID: n.org.ID,
		Restricted: n.restricted, AMR: n.amr, AuthenticatedAt: now,
		IPAddress: n.ip, UserAgent: truncate(n.ua, maxUserAgent),
		IdleTimeout:    time.Duration(n.org.SessionIdleTimeout) * time.Second,
		LastActivityAt: now, ExpiresAt: now.Add(lifetime), CreatedAt: now,
	}
	token := crypto.NewToken()
	_, err := q.ExecContext(ctx, `INSERT INTO sessions (id, session_token, user_id,
		organisation_id, restricted, amr, authenticated_at, ip_address, user_agent,
		idle_timeout, last_activity_at, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $7, $11, $7, $7)`,
		sess.ID, crypto.HashToken(token), sess.UserID, sess.OrganisationID,
		sess.Restricted, db.MustJSON(sess.AMR), now, nullable(sess.IPAddress),
		nullable(sess.UserAgent), n.org.SessionIdleTimeout, sess.ExpiresAt)
	if err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// storedSession is a session row with the state of its user and
// organisation.
type storedSession struct {
	Session
	userGone, userBlocked, orgGone bool
}

const sessionColumns = `s.id, s.user_id, s.organisation_id, s.restricted, s.amr,
	s.authenticated_at, s.ip_address, s.user_agent, s.idle_timeout, s.last_activity_at,
	s.expires_at, s.created_at`

func scanSession(sc interface{ Scan(...any) error }, extra ...any) (*Session, error) {
	var sess Session
	var ip, ua sql.NullString
	var idle int
	dst := []any{&sess.ID, &sess.UserID, &sess.OrganisationID, &sess.Restricted,
		db.JSON(&sess.AMR), db.Time(&sess.AuthenticatedAt), &ip, &ua, &idle,
		db.Time(&sess.LastActivityAt), db.Time(&sess.ExpiresAt), db.Time(&sess.CreatedAt)}
	if err := sc.Scan(append(dst, extra...)...); err != nil {
		return nil, err
	}
	sess.IPAddress, sess.UserAgent = ip.String, ua.String
	sess.IdleTimeout = time.Duration(idle) * time.Second
	return &sess, nil
}

// lookupSession finds the session of a cookie value; nil when none.
func (s *Service) lookupSession(ctx context.Context, token string) (*storedSession, error) {
	if token == "" {
		return nil, nil
	}
	var st storedSession
	var userDeleted, blocked, orgDeleted *time.Time
	row := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+`, u.deleted_at,
		u.blocked_at, o.deleted_at FROM sessions s
		JOIN users u ON u.id = s.user_id
		JOIN organisations o ON o.id = s.organisation_id
		WHERE s.session_token = $1`, crypto.HashToken(token))
	sess, err := scanSession(row, db.NullTime(&userDeleted), db.NullTime(&blocked),
		db.NullTime(&orgDeleted))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	st.Session = *sess
	st.userGone, st.userBlocked = userDeleted != nil, blocked != nil
	st.orgGone = orgDeleted != nil
	return &st, nil
}

// usable reports whether a stored session may be used at now, and if not
// the reason it ended for the sessions-ended metric.
func (st *storedSession) usable(now time.Time) (bool, string) {
	if st.userGone || st.userBlocked || st.orgGone {
		return false, telemetry.SessionEndRevoked
	}
	if !st.valid(now) {
		return false, telemetry.SessionEndExpired
	}
	return true, ""
}

// SessionByToken validates a session cookie value: the session exists, is
// before its absolute expiry and within its idle limit, and its user is
// present, not deleted or blocked, in a live organisation. A failing
// session is deleted and ErrInvalidSession returned. A valid session's
// lastActivityAt is written when older than 60 s.
func (s *Service) SessionByToken(ctx context.Context, token string) (*Session, error) {
	st, err := s.lookupSession(ctx, token)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrInvalidSession
	}
	now := s.clock()
	if ok, reason := st.usable(now); !ok {
		if err := s.dropSession(ctx, st.ID, reason); err != nil {
			return nil, err
		}
		return nil, ErrInvalidSession
	}
	if now.Sub(st.LastActivityAt) > touchInterval {
		if err := s.touch(ctx, &st.Session, now); err != nil {
			return nil, err
		}
	}
	return &st.Session, nil
}

func (s *Service) touch(ctx context.Context, sess *Session, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_activity_at = $1,
		updated_at = $1 WHERE id = $2`, now, sess.ID)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	sess.LastActivityAt = now
	return nil
}

// dropSession deletes an unusable session and counts it.
func (s *Service) dropSession(ctx context.Context, id, reason string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.metrics.SessionsEnded.WithLabelValues(reason).Add(float64(n))
	}
	return nil
}

// AuthenticateSession implements the session credential of the HTTP
// guards: the principal of a valid session cookie, nil and no error without
// a cookie, or ErrInvalidSession after deleting the session and clearing
// the cookie on w.
func (s *Service) AuthenticateSession(w http.ResponseWriter,
	r *http.Request) (*access.Principal, error) {
	token := s.cookies.SessionToken(r)
	if token == "" {
		return nil, nil
	}
	sess, err := s.SessionByToken(r.Context(), token)
	if err != nil {
		if apperr.Is(err, apperr.Unauthorized) {
			s.cookies.ClearSessionCookie(w)
		}
		return nil, err
	}
	return sess.Principal(), nil
}

// CSRFToken returns the CSRF token of a session: base64url of
// HMAC-SHA256 under a key derived from SECRET_ENCRYPTION_KEY ("cerberus
// csrf v1") over the session id. It is stable for the session's life.
func (s *Service) CSRFToken(sessionID string) string {
	return crypto.MAC(s.csrfKey, sessionID)
}

// Logout ends the session of a cookie value, if any. A valid session's
// row is deleted with an audit user.logout and a session.revoked webhook;
// an invalid one is just deleted. It succeeds whatever the token.
func (s *Service) Logout(ctx context.Context, token string) error {
	st, err := s.lookupSession(ctx, token)
	if err != nil || st == nil {
		return err
	}
	ok, reason := st.usable(s.clock())
	if !ok {
		return s.dropSession(ctx, st.ID, reason)
	}
	ended := false
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := deleteSession(ctx, tx, st.ID)
		if err != nil || n == 0 {
			return err
		}
		ended = true
		return s.events.Record(ctx, tx, sessionEndEvent(&st.Session, "user.logout",
			revokeLogout))
	})
	if err != nil {
		return err
	}
	if ended {
		s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndLogout).Inc()
	}
	return nil
}

// Reasons of a session.revoked webhook.
const (
	revokeLogout = "logout"
	revokeSelf   = "self"
)

// sessionEndEvent is the audit entry and session.revoked webhook of a
// session a user ended.
func sessionEndEvent(sess *Session, auditType, reason string) event.Event {
	return event.Event{
		Type: auditType, OrganisationID: sess.OrganisationID, UserID: sess.UserID,
		Actor:        &event.Actor{Type: event.ActorUser, ID: sess.UserID},
		ResourceType: "session", ResourceID: sess.ID,
		Webhooks: []event.Webhook{{Type: "session.revoked", Data: map[string]any{
			"session": sessionRef(sess), "reason": reason}}},
	}
}

func sessionRef(sess *Session) map[string]any {
	return map[string]any{"id": sess.ID, "userId": sess.UserID}
}

func deleteSession(ctx context.Context, q db.Querier, id string) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err != nil {
		return 0, fmt.Errorf("delete session: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SessionInfo is a session as its user sees it in /v1/me/sessions.
type SessionInfo struct {
	ID             string           `json:"id"`
	IPAddress      *string          `json:"ipAddress"`
	UserAgent      *string          `json:"userAgent"`
	CreatedAt      access.Timestamp `json:"createdAt"`
	LastActivityAt access.Timestamp `json:"lastActivityAt"`
	ExpiresAt      access.Timestamp `json:"expiresAt"`
	Current        bool             `json:"current"`
}

// Sessions lists the user's unexpired full sessions, most recently active
// first, marking currentID.
func (s *Service) Sessions(ctx context.Context, orgID, userID,
	currentID string) ([]SessionInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = $1 AND s.organisation_id = $2 AND s.restricted = FALSE
		AND s.expires_at > $3 ORDER BY s.last_activity_at DESC, s.id DESC`,
		userID, orgID, s.clock())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	now := s.clock()
	out := []SessionInfo{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		if !sess.valid(now) {
			continue
		}
		out = append(out, SessionInfo{ID: sess.ID, IPAddress: ptrOrNil(sess.IPAddress),
			UserAgent: ptrOrNil(sess.UserAgent), CreatedAt: access.Stamp(sess.CreatedAt),
			LastActivityAt: access.Stamp(sess.LastActivityAt), ExpiresAt: access.Stamp(sess.ExpiresAt),
			Current: sess.ID == currentID})
	}
	return out, rows.Err()
}

// RevokeSession ends one session of the user, identified by id; ids of
// other users' sessions and unknown ids change nothing. It reports whether
// the caller's current session was the one ended, so the caller clears
// its cookie.
func (s *Service) RevokeSession(ctx context.Context, orgID, userID, currentID,
	id string) (bool, error) {
	if !db.ValidID(id) {
		return false, nil
	}
	ended := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions s
			WHERE s.id = $1 AND s.user_id = $2 AND s.organisation_id = $3`, id, userID, orgID)
		sess, err := scanSession(row)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read session: %w", err)
		}
		if _, err := deleteSession(ctx, tx, id); err != nil {
			return err
		}
		ended = true
		return s.events.Record(ctx, tx, sessionEndEvent(sess, "session.revoked",
			revokeSelf))
	})
	if err != nil {
		return false, err
	}
	if ended {
		s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndRevoked).Inc()
	}
	return ended && id == currentID, nil
}

// endUserSessions deletes a user's sessions except keep and returns how
// many went, for the sessions-ended metric after the commit.
func endUserSessions(ctx context.Context, q db.Querier, userID, keep string) (int, error) {
	ids, err := revocation.EndSessions(ctx, q, userID, keep)
	return len(ids), err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
