package admin

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Session is a session of a user as an administrator sees it.
type Session struct {
	ID             string           `json:"id"`
	IPAddress      *string          `json:"ipAddress"`
	UserAgent      *string          `json:"userAgent"`
	CreatedAt      access.Timestamp `json:"createdAt"`
	LastActivityAt access.Timestamp `json:"lastActivityAt"`
	ExpiresAt      access.Timestamp `json:"expiresAt"`
}

var errSessionNotFound = apperr.NotFoundf("Session")

// UserSessions lists the usable sessions of a live user of the
// organisation (before their absolute expiry and within their idle limit),
// most recently active first. Error: 404 "User not found".
func (s *Service) UserSessions(ctx context.Context, orgID, userID string) ([]Session,
	error) {
	if _, err := readUser(ctx, s.db, orgID, userID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, ip_address, user_agent, created_at,
		last_activity_at, expires_at, idle_timeout FROM sessions
		WHERE user_id = $1 AND organisation_id = $2 AND expires_at > $3
		ORDER BY last_activity_at DESC, id DESC`, userID, orgID, s.clock())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	now := s.clock()
	out := []Session{}
	for rows.Next() {
		var ss Session
		var created, active, expires time.Time
		var idle int
		err := rows.Scan(&ss.ID, &ss.IPAddress, &ss.UserAgent, db.Time(&created),
			db.Time(&active), db.Time(&expires), &idle)
		if err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		if now.Sub(active) > time.Duration(idle)*time.Second {
			continue
		}
		ss.CreatedAt, ss.LastActivityAt = access.Stamp(created), access.Stamp(active)
		ss.ExpiresAt = access.Stamp(expires)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// RevokeSession ends one session of a user (audit and webhook
// session.revoked, reason admin). Errors: 404 "User not found", 404
// "Session not found", 403 "Only the organisation owner can change the
// owner's account".
func (s *Service) RevokeSession(ctx context.Context, actor *access.Principal, userID,
	sessionID string) error {
	if !db.ValidID(sessionID) {
		if _, err := readUser(ctx, s.db, actor.OrganisationID, userID); err != nil {
			return err
		}
		return errSessionNotFound
	}
	return s.revokeSessions(ctx, actor, userID, sessionID)
}

// RevokeSessions ends every session of a user (audit and webhook
// session.revoked per session). Errors: 404 "User not found", 403 "Only
// the organisation owner can change the owner's account".
func (s *Service) RevokeSessions(ctx context.Context, actor *access.Principal,
	userID string) error {
	return s.revokeSessions(ctx, actor, userID, "")
}

// revokeSessions deletes one session of the user (only, when not empty)
// or all of them.
func (s *Service) revokeSessions(ctx context.Context, actor *access.Principal, userID,
	only string) error {
	n := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err := s.target(ctx, tx, actor, userID, false)
		if err != nil {
			return err
		}
		ids, err := deleteSessions(ctx, tx, u, only)
		if err != nil {
			return err
		}
		if only != "" && len(ids) == 0 {
			return errSessionNotFound
		}
		n = len(ids)
		for _, id := range ids {
			if err := s.sessionRevoked(ctx, tx, u, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.sessionsEnded(n)
	}
	return err
}

func deleteSessions(ctx context.Context, tx *sql.Tx, u *User, only string) ([]string,
	error) {
	query := `DELETE FROM sessions WHERE user_id = $1 AND organisation_id = $2`
	args := []any{u.ID, u.orgID}
	if only != "" {
		query += ` AND id = $3`
		args = append(args, only)
	}
	rows, err := tx.QueryContext(ctx, query+` RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("revoke sessions: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Service) sessionRevoked(ctx context.Context, tx *sql.Tx, u *User, id string) error {
	return s.events.Record(ctx, tx, event.Event{Type: "session.revoked",
		OrganisationID: u.orgID, UserID: u.ID, ResourceType: "session", ResourceID: id,
		Metadata: map[string]any{"reason": "admin"},
		Webhooks: []event.Webhook{{Type: "session.revoked", Data: map[string]any{
			"session": map[string]any{"id": id, "userId": u.ID}, "reason": "admin"}}}})
}
