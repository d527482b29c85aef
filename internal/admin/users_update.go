package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/patch"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// UserPatch is the body of a user update; absent members stay. BlockedAt
// with any timestamp blocks the user now and null unblocks; MFAEnabled
// accepts only false and LockedAt only null.
type UserPatch struct {
	FirstName     patch.Field[string] `json:"firstName"`
	LastName      patch.Field[string] `json:"lastName"`
	Phone         patch.Field[string] `json:"phone"`
	BlockedAt     patch.Field[string] `json:"blockedAt"`
	BlockedReason patch.Field[string] `json:"blockedReason"`
	MFAEnabled    patch.Field[bool]   `json:"mfaEnabled"`
	LockedAt      patch.Field[string] `json:"lockedAt"`
}

// checkPatch validates a patch and normalises its names.
func checkPatch(p *UserPatch) error {
	var c checker
	for _, f := range []struct {
		name string
		v    *patch.Field[string]
	}{{"firstName", &p.FirstName}, {"lastName", &p.LastName}} {
		if f.v.Set && f.v.Null {
			c.Add(f.name, apperr.CodeInvalidType, "Must not be null")
		} else if f.v.Set {
			f.v.Value = c.Text(f.name, f.v.Value, maxName)
		}
	}
	if p.Phone.Set && !p.Phone.Null {
		c.phone("phone", p.Phone.Value)
	}
	if p.BlockedAt.Set && !p.BlockedAt.Null {
		if _, err := time.Parse(time.RFC3339Nano, p.BlockedAt.Value); err != nil {
			c.Add("blockedAt", apperr.CodeInvalidFormat, "Must be an RFC 3339 timestamp")
		}
	}
	if p.BlockedReason.Set && utf8.RuneCountInString(p.BlockedReason.Value) > maxReason {
		c.Add("blockedReason", apperr.CodeTooLong, "Must be at most 500 characters")
	}
	if p.MFAEnabled.Set && (p.MFAEnabled.Null || p.MFAEnabled.Value) {
		c.Add("mfaEnabled", apperr.CodeInvalidValue, "Only false is accepted")
	}
	if p.LockedAt.Set && !p.LockedAt.Null {
		c.Add("lockedAt", apperr.CodeInvalidValue, "Only null is accepted")
	}
	return c.Err()
}

// blocks reports a patch that blocks the user.
func (p *UserPatch) blocks() bool { return p.BlockedAt.Set && !p.BlockedAt.Null }

// UpdateUser applies a patch to a user of the actor's organisation, in one
// transaction:
//   - names and phone: name recomputed; audit and webhook user.updated;
//   - block: sessions deleted, refresh and access tokens revoked, codes and
//     pending approvals dropped; audit and webhook user.blocked; unblock:
//     user.unblocked;
//   - mfaEnabled false: secret and backup codes cleared; audit
//     user.mfa.disabled, webhook mfa.disabled, notice email;
//   - lockedAt null: lock and failure counter cleared; audit user.updated.
//
// Errors: 404 "User not found", 400 "Invalid input", 403 "Only the
// organisation owner can change the owner's account", 400 "The
// organisation owner cannot be blocked or deleted", 400 "You cannot block
// or delete your own account".
func (s *Service) UpdateUser(ctx context.Context, actor *access.Principal, id string,
	p UserPatch) (*UserDetail, error) {
	if err := checkPatch(&p); err != nil {
		return nil, err
	}
	ended := 0
	mailed := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err := s.target(ctx, tx, actor, id, p.blocks())
		if err != nil {
			return err
		}
		ch := &userChange{u: u, now: s.clock()}
		if err := s.applyPatch(ctx, tx, ch, p); err != nil {
			return err
		}
		ended, mailed = ch.ended, ch.mailed
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.sessionsEnded(ended)
	if mailed {
		s.kick()
	}
	return s.User(ctx, actor.OrganisationID, id)
}

// target reads the user an actor wants to change and applies the owner
// and self guards; destructive marks a block or a deletion. On PostgreSQL
// it holds the user's row until tx ends, so that concurrent changes to one
// user run one after the other and each sees what the previous committed
// (a user deleted or blocked twice at once is deleted or blocked once);
// SQLite transactions already exclude each other.
func (s *Service) target(ctx context.Context, tx *sql.Tx, actor *access.Principal,
	id string, destructive bool) (*User, error) {
	if db.ValidID(id) {
		err := s.db.LockRows(ctx, tx, `SELECT 1 FROM users WHERE id = $1
			AND organisation_id = $2`, id, actor.OrganisationID)
		if err != nil {
			return nil, err
		}
	}
	u, err := readUser(ctx, tx, actor.OrganisationID, id)
	if err != nil {
		return nil, err
	}
	owner, err := ownerID(ctx, tx, actor.OrganisationID)
	if err != nil {
		return nil, err
	}
	switch {
	case destructive && u.ID == owner:
		return nil, errOwnerProtected
	case destructive && u.ID == actor.UserID:
		return nil, errSelf
	case u.ID == owner && actor.UserID != owner:
		return nil, errOwnerOnly
	}
	return u, nil
}

// ownerID returns the owner of an organisation, "" when none.
func ownerID(ctx context.Context, q db.Querier, orgID string) (string, error) {
	var owner sql.NullString
	err := q.QueryRowContext(ctx, `SELECT owner_id FROM organisations WHERE id = $1`,
		orgID).Scan(&owner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read organisation owner: %w", err)
	}
	return owner.String, nil
}

// userChange accumulates what one update did.
type userChange struct {
	u       *User
	now     time.Time
	changes []string
	ended   int
	mailed  bool
}

func (s *Service) applyPatch(ctx context.Context, tx *sql.Tx, ch *userChange,
	p UserPatch) error {
	if err := s.applyProfile(ctx, tx, ch, p); err != nil {
		return err
	}
	if err := s.applyBlock(ctx, tx, ch, p); err != nil {
		return err
	}
	if p.MFAEnabled.Set && ch.u.MFAEnabled {
		if err := s.disableMFA(ctx, tx, ch); err != nil {
			return err
		}
	}
	if p.LockedAt.Set {
		if err := s.unlock(ctx, tx, ch); err != nil {
			return err
		}
	}
	if len(ch.changes) == 0 {
		return nil
	}
	return s.userEvent(ctx, tx, ch.u, "user.updated", "user.updated",
		map[string]any{"changes": ch.changes}, map[string]any{"changes": ch.changes})
}

// applyProfile changes names, phone and the reason of a block.
func (s *Service) applyProfile(ctx context.Context, tx *sql.Tx, ch *userChange,
	p UserPatch) error {
	u := ch.u
	first, last, phone, reason := u.FirstName, u.LastName, u.Phone, u.BlockedReason
	if p.FirstName.Set && p.FirstName.Value != first {
		first, ch.changes = p.FirstName.Value, append(ch.changes, "firstName")
	}
	if p.LastName.Set && p.LastName.Value != last {
		last, ch.changes = p.LastName.Value, append(ch.changes, "lastName")
	}
	if p.Phone.Set && !samePtr(p.Phone.Ptr(), phone) {
		phone, ch.changes = p.Phone.Ptr(), append(ch.changes, "phone")
	}
	if p.BlockedReason.Set && !samePtr(reasonPtr(p.BlockedReason), reason) {
		reason = reasonPtr(p.BlockedReason)
		if !p.blocks() || u.BlockedAt != nil {
			// A reason given with a new block travels in user.blocked.
			ch.changes = append(ch.changes, "blockedReason")
		}
	}
	if len(ch.changes) == 0 && samePtr(reason, u.BlockedReason) {
		return nil
	}
	u.FirstName, u.LastName, u.Name = first, last, first+" "+last
	u.Phone, u.BlockedReason = phone, reason
	_, err := tx.ExecContext(ctx, `UPDATE users SET first_name = $1, last_name = $2,
		name = $3, phone = $4, blocked_reason = $5, updated_at = $6
		WHERE id = $7 AND organisation_id = $8`, first, last, u.Name, phone, reason,
		ch.now, u.ID, u.orgID)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// reasonPtr maps an empty or null reason to nil.
func reasonPtr(f patch.Field[string]) *string {
	v := strings.TrimSpace(f.Value)
	if f.Null || v == "" {
		return nil
	}
	return &v
}

func samePtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// applyBlock blocks or unblocks the user.
func (s *Service) applyBlock(ctx context.Context, tx *sql.Tx, ch *userChange,
	p UserPatch) error {
	u := ch.u
	switch {
	case !p.BlockedAt.Set:
		return nil
	case p.blocks() && u.BlockedAt == nil:
		return s.block(ctx, tx, ch)
	case !p.blocks() && u.BlockedAt != nil:
		return s.unblock(ctx, tx, ch)
	}
	return nil
}

// block marks the user blocked and ends everything it holds.
func (s *Service) block(ctx context.Context, tx *sql.Tx, ch *userChange) error {
	u := ch.u
	_, err := tx.ExecContext(ctx, `UPDATE users SET blocked_at = $1, updated_at = $1
		WHERE id = $2 AND organisation_id = $3`, ch.now, u.ID, u.orgID)
	if err != nil {
		return fmt.Errorf("block user: %w", err)
	}
	if ch.ended, err = endAccess(ctx, tx, u.ID, ch.now); err != nil {
		return err
	}
	// A blocked user holds no permission: cached sets must see it.
	if err := access.BumpRBAC(ctx, tx, u.orgID); err != nil {
		return err
	}
	u.BlockedAt = access.StampPtr(&ch.now)
	reason := any(nil)
	if u.BlockedReason != nil {
		reason = *u.BlockedReason
	}
	return s.userEvent(ctx, tx, u, "user.blocked", "user.blocked",
		map[string]any{"reason": reason}, map[string]any{"reason": reason})
}

// endAccess deletes a user's sessions and revokes their grants; it
// returns how many sessions ended.
func endAccess(ctx context.Context, q db.Querier, userID string, now time.Time) (int,
	error) {
	ids, err := revocation.EndSessions(ctx, q, userID, "")
	if err != nil {
		return 0, err
	}
	return len(ids), revocation.UserGrants(ctx, q, userID, now)
}

func (s *Service) unblock(ctx context.Context, tx *sql.Tx, ch *userChange) error {
	u := ch.u
	_, err := tx.ExecContext(ctx, `UPDATE users SET blocked_at = NULL,
		blocked_reason = NULL, updated_at = $1 WHERE id = $2 AND organisation_id = $3`,
		ch.now, u.ID, u.orgID)
	if err != nil {
		return fmt.Errorf("unblock user: %w", err)
	}
	if err := access.BumpRBAC(ctx, tx, u.orgID); err != nil {
		return err
	}
	u.BlockedAt, u.BlockedReason = nil, nil
	return s.userEvent(ctx, tx, u, "user.unblocked", "user.unblocked", nil, nil)
}

// disableMFA clears the user's second factor and tells them.
func (s *Service) disableMFA(ctx context.Context, tx *sql.Tx, ch *userChange) error {
	u := ch.u
	_, err := tx.ExecContext(ctx, `UPDATE users SET mfa_enabled = FALSE, totp_secret = NULL,
		totp_pending_secret = NULL, totp_last_step = NULL, updated_at = $1
		WHERE id = $2 AND organisation_id = $3`, ch.now, u.ID, u.orgID)
	if err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM mfa_backup_codes WHERE user_id = $1`, u.ID)
	if err != nil {
		return fmt.Errorf("clear backup codes: %w", err)
	}
	u.MFAEnabled = false
	if err := s.userEvent(ctx, tx, u, "user.mfa.disabled", "mfa.disabled",
		map[string]any{"byAdministrator": true}, nil); err != nil {
		return err
	}
	data := map[string]any{mail.DataChange: mail.ChangeMFADisabled, mail.DataName: u.Name,
		mail.DataTime: ch.now}
	if ip := event.RequestFrom(ctx).IP; ip != "" {
		data[mail.DataIP] = ip
	}
	ch.mailed = true
	return s.outbox.Enqueue(ctx, tx, mail.Mail{OrganisationID: u.orgID, To: u.Email,
		Template: mail.TemplateSecurityNotice, Data: data})
}

// unlock clears a login lock and the failure counter.
func (s *Service) unlock(ctx context.Context, tx *sql.Tx, ch *userChange) error {
	u := ch.u
	_, err := tx.ExecContext(ctx, `UPDATE users SET locked_at = NULL,
		failed_login_count = 0, updated_at = $1 WHERE id = $2 AND organisation_id = $3`,
		ch.now, u.ID, u.orgID)
	if err != nil {
		return fmt.Errorf("unlock user: %w", err)
	}
	if u.LockedAt != nil {
		ch.changes = append(ch.changes, "lockedAt")
	}
	u.LockedAt = nil
	return nil
}

// userEvent records an audit entry about a user and, when hook is not
// empty, its webhook carrying the user and extra data.
func (s *Service) userEvent(ctx context.Context, q db.Querier, u *User, audit, hook string,
	meta, extra map[string]any) error {
	e := event.Event{Type: audit, OrganisationID: u.orgID, UserID: u.ID,
		ResourceType: "user", ResourceID: u.ID, Metadata: meta}
	if hook != "" {
		data := map[string]any{"user": u.summary()}
		for k, v := range extra {
			data[k] = v
		}
		e.Webhooks = []event.Webhook{{Type: hook, Data: data}}
	}
	return s.events.Record(ctx, q, e)
}
