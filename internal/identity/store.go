package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// user is a row of users as the flows of this package need it.
type user struct {
	ID, OrganisationID, Email string
	FirstName, LastName, Name string
	Phone                     *string
	EmailVerifiedAt           *time.Time
	PasswordHash              *string
	MFAEnabled                bool
	TOTPSecret, TOTPPending   *string
	TOTPLastStep              *int64
	BlockedAt, LockedAt       *time.Time
	FailedLoginCount          int
	LastLoginAt               *time.Time
	LoginCount                int
	PasswordResetRequired     bool
	CreatedAt, UpdatedAt      time.Time
}

const userColumns = `id, organisation_id, email, first_name, last_name, name, phone,
	email_verified_at, password_hash, mfa_enabled, totp_secret, totp_pending_secret,
	totp_last_step, blocked_at, locked_at, failed_login_count, last_login_at,
	login_count, password_reset_required, created_at, updated_at`

// scanUser reads a row selected with userColumns; nil, nil when none.
func scanUser(row *sql.Row) (*user, error) {
	var u user
	err := row.Scan(&u.ID, &u.OrganisationID, &u.Email, &u.FirstName, &u.LastName,
		&u.Name, &u.Phone, db.NullTime(&u.EmailVerifiedAt), &u.PasswordHash, &u.MFAEnabled,
		&u.TOTPSecret, &u.TOTPPending, &u.TOTPLastStep, db.NullTime(&u.BlockedAt),
		db.NullTime(&u.LockedAt), &u.FailedLoginCount, db.NullTime(&u.LastLoginAt),
		&u.LoginCount, &u.PasswordResetRequired, db.Time(&u.CreatedAt),
		db.Time(&u.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return &u, nil
}

// userByEmail finds the live user with a normalised email in any
// organisation (emails are unique across organisations); nil when none.
func userByEmail(ctx context.Context, q db.Querier, email string) (*user, error) {
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE email = $1 AND deleted_at IS NULL`, email))
}

// userByID finds a live user of an organisation; nil when none.
func userByID(ctx context.Context, q db.Querier, orgID, id string) (*user, error) {
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE id = $1 AND organisation_id = $2 AND deleted_at IS NULL`, id, orgID))
}

// userByIDAnyOrg finds a live user by id alone, for callers that know the
// user but not yet the organisation (the second login step); nil when none.
func userByIDAnyOrg(ctx context.Context, q db.Querier, id string) (*user, error) {
	if !db.ValidID(id) {
		return nil, nil
	}
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE id = $1 AND deleted_at IS NULL`, id))
}

// emailTaken reports whether any user row, deleted or not, holds email:
// an address stays reserved until its row is purged.
func emailTaken(ctx context.Context, q db.Querier, email string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = $1`,
		email).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check email: %w", err)
	}
	return n > 0, nil
}

// organisation is a row of organisations as this package needs it.
type organisation struct {
	ID, Slug, Name     string
	Email              *string
	SessionLifetime    int // seconds
	SessionIdleTimeout int // seconds
	RequireMFA         bool
	policy             []byte
}

// Policy returns the organisation's password policy.
func (o *organisation) Policy() (PasswordPolicy, error) {
	return parsePolicy(o.policy)
}

// orgByID finds a live organisation; nil when none.
func orgByID(ctx context.Context, q db.Querier, id string) (*organisation, error) {
	var o organisation
	var policy sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, slug, name, email, session_lifetime,
		session_idle_timeout, require_mfa, password_policy FROM organisations
		WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&o.ID, &o.Slug, &o.Name,
		&o.Email, &o.SessionLifetime, &o.SessionIdleTimeout, &o.RequireMFA, &policy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	if policy.Valid {
		o.policy = []byte(policy.String)
	}
	return &o, nil
}

// OrganisationIDBySlug returns the id of the live organisation with that
// slug, or 404 "Organisation not found". It serves the X-Org-Domain rule of
// the admin routes.
func (s *Service) OrganisationIDBySlug(ctx context.Context, slug string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM organisations
		WHERE slug = $1 AND deleted_at IS NULL`, slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errOrgNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find organisation %q: %w", slug, err)
	}
	return id, nil
}

// UserSummary is the short form of a user in answers and webhooks.
type UserSummary struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// OrganisationSummary is the short form of an organisation in answers.
type OrganisationSummary struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (u *user) summary() UserSummary {
	return UserSummary{ID: u.ID, Email: u.Email, Name: u.Name}
}

func (o *organisation) summary() OrganisationSummary {
	return OrganisationSummary{ID: o.ID, Slug: o.Slug, Name: o.Name}
}
