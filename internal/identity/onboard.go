package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

// Limits of the onboarding body.
const (
	maxNameLength   = 100
	maxMetadataSize = 16 << 10
	maxSlugBase     = 48
	// slugAttempts bounds the -2, -3… suffixes tried for a taken slug.
	slugAttempts = 1000
	// invitationDays is the default lifetime of an invitation, in days.
	invitationDays = 7
)

// OnboardInput creates an organisation and its owner. Metadata (optional,
// at most 16 KiB as JSON) is stored on the organisation.
type OnboardInput struct {
	OrganisationName string
	Email            string
	FirstName        string
	LastName         string
	Password         string
	Metadata         map[string]any
	IP               string
	UserAgent        string
}

// OnboardResult is the new organisation, its owner, its seeded roles and
// the owner's session. Its JSON form is the body of the onboarding answer
// without the message.
type OnboardResult struct {
	Organisation       OnboardedOrganisation `json:"organisation"`
	User               UserSummary           `json:"user"`
	Roles              []access.Role         `json:"roles"`
	InvitationDefaults InvitationDefaults    `json:"invitationDefaults"`
	// SessionToken is the owner's session cookie value.
	SessionToken string   `json:"-"`
	Session      *Session `json:"-"`
}

// OnboardedOrganisation is the organisation in the onboarding answer.
type OnboardedOrganisation struct {
	ID      string              `json:"id"`
	Slug    string              `json:"slug"`
	Name    string              `json:"name"`
	Configs OrganisationConfigs `json:"configs"`
}

// OrganisationConfigs are the settings of a new organisation.
type OrganisationConfigs struct {
	AllowedCallbackURLs []string        `json:"allowedCallbackUrls"`
	AllowedLogoutURLs   []string        `json:"allowedLogoutUrls"`
	AllowedOrigins      []string        `json:"allowedOrigins"`
	SessionLifetime     int             `json:"sessionLifetime"`
	SessionIdleTimeout  int             `json:"sessionIdleTimeout"`
	RequireMFA          bool            `json:"requireMfa"`
	AllowedMFAMethods   []string        `json:"allowedMfaMethods"`
	PasswordPolicy      *PasswordPolicy `json:"passwordPolicy"`
	TokenLifetimePolicy map[string]any  `json:"tokenLifetimePolicy"`
	Branding            map[string]any  `json:"branding"`
	Metadata            map[string]any  `json:"metadata"`
}

// InvitationDefaults tell a new owner how invitations start out.
type InvitationDefaults struct {
	RoleID        string `json:"roleId"`
	ExpiresInDays int    `json:"expiresInDays"`
}

// Defaults of a new organisation's sessions, in seconds.
const (
	defaultSessionLifetime    = 3600
	defaultSessionIdleTimeout = 1800
)

// errSlugRace restarts an onboarding whose slug was taken concurrently.
var errSlugRace = errors.New("organisation slug taken concurrently")

// Onboard creates an organisation with its default roles and its owner,
// signed in with a full session, in one transaction: 400 "Invalid input",
// 400 "Password too weak" (default policy), 409 "Email already
// registered". The owner's email is verified at once or a verification
// email is queued, per ONBOARD_AUTO_VERIFY.
func (s *Service) Onboard(ctx context.Context, in OnboardInput) (*OnboardResult, error) {
	in, err := checkOnboard(in)
	if err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, DefaultPasswordPolicy, "", passwordField,
		in.Password); err != nil {
		return nil, err
	}
	taken, err := emailTaken(ctx, s.db, in.Email)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, errEmailRegistered
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var res *OnboardResult
	for range 3 {
		res, err = s.onboardTx(ctx, in, hash)
		if !errors.Is(err, errSlugRace) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	s.metrics.SessionsCreated.Inc()
	s.kick()
	return res, nil
}

// checkOnboard validates and normalises an onboarding body.
func checkOnboard(in OnboardInput) (OnboardInput, error) {
	var c checker
	in.OrganisationName = c.Text("organisationName", in.OrganisationName, maxNameLength)
	in.Email = c.email("email", in.Email)
	in.FirstName = c.Text("firstName", in.FirstName, maxNameLength)
	in.LastName = c.Text("lastName", in.LastName, maxNameLength)
	if in.Password == "" {
		c.Add("password", apperr.CodeRequired, "Required")
	}
	if in.Metadata != nil {
		raw, err := json.Marshal(in.Metadata)
		if err != nil || len(raw) > maxMetadataSize {
			c.Add("metadata", apperr.CodeTooLarge, "Must be at most 16 KiB")
		}
	}
	return in, c.Err()
}

// onboardTx writes the organisation, roles, owner and session.
func (s *Service) onboardTx(ctx context.Context, in OnboardInput,
	hash string) (*OnboardResult, error) {
	res := &OnboardResult{}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		org, err := s.insertOrganisation(ctx, tx, in, now)
		if err != nil {
			return err
		}
		roles, err := access.SeedRoles(ctx, tx, org.ID, now)
		if err != nil {
			return err
		}
		u, err := s.insertOwner(ctx, tx, in, org, roles[access.RoleOwner], hash, now)
		if err != nil {
			return err
		}
		res.SessionToken, res.Session, err = s.createSession(ctx, tx, newSession{user: u,
			org: org, amr: []string{AMRPassword}, ip: in.IP, ua: in.UserAgent}, now)
		if err != nil {
			return err
		}
		return s.finishOnboard(ctx, tx, res, in, org, u, roles, now)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// finishOnboard queues the verification email, records the audit entry and
// fills the answer.
func (s *Service) finishOnboard(ctx context.Context, tx *sql.Tx, res *OnboardResult,
	in OnboardInput, org *organisation, u *user, roles map[string]string,
	now time.Time) error {
	if !s.autoVerify {
		if err := s.sendVerification(ctx, tx, u, now); err != nil {
			return err
		}
	}
	err := s.events.Record(ctx, tx, event.Event{Type: "user.created",
		OrganisationID: org.ID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID, Metadata: map[string]any{"onboard": true}})
	if err != nil {
		return err
	}
	res.Organisation = OnboardedOrganisation{ID: org.ID, Slug: org.Slug, Name: org.Name,
		Configs: OrganisationConfigs{AllowedCallbackURLs: []string{},
			AllowedLogoutURLs: []string{}, AllowedOrigins: []string{},
			SessionLifetime: org.SessionLifetime, SessionIdleTimeout: org.SessionIdleTimeout,
			AllowedMFAMethods: []string{"totp"}, Metadata: in.Metadata}}
	res.User = u.summary()
	res.InvitationDefaults = InvitationDefaults{RoleID: roles[access.RoleStaff],
		ExpiresInDays: invitationDays}
	res.Roles = make([]access.Role, 0, len(roles))
	for _, slug := range []string{access.RoleOwner, access.RoleAdmin, access.RoleManager,
		access.RoleStaff} {
		r, err := access.ReadRole(ctx, tx, org.ID, roles[slug])
		if err != nil {
			return err
		}
		res.Roles = append(res.Roles, *r)
	}
	return nil
}

// insertOrganisation creates the organisation under a free slug derived
// from its name.
func (s *Service) insertOrganisation(ctx context.Context, tx *sql.Tx, in OnboardInput,
	now time.Time) (*organisation, error) {
	slug, err := freeSlug(ctx, tx, Slugify(in.OrganisationName))
	if err != nil {
		return nil, err
	}
	meta, err := db.JSONValue(in.Metadata)
	if err != nil {
		return nil, err
	}
	org := &organisation{ID: db.NewID(), Slug: slug, Name: in.OrganisationName,
		SessionLifetime: defaultSessionLifetime, SessionIdleTimeout: defaultSessionIdleTimeout}
	_, err = tx.ExecContext(ctx, `INSERT INTO organisations (id, slug, name,
		session_lifetime, session_idle_timeout, metadata, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, org.ID, slug, org.Name,
		org.SessionLifetime, org.SessionIdleTimeout, meta, now)
	if err != nil {
		if s.db.Dialect.IsUniqueViolation(err) {
			return nil, errSlugRace
		}
		return nil, fmt.Errorf("create organisation: %w", err)
	}
	return org, nil
}

// insertOwner creates the owner with the Owner role and records them as
// the organisation's owner.
func (s *Service) insertOwner(ctx context.Context, tx *sql.Tx, in OnboardInput,
	org *organisation, ownerRole, hash string, now time.Time) (*user, error) {
	var verified *time.Time
	if s.autoVerify {
		verified = &now
	}
	u, err := s.insertUser(ctx, tx, newUser{org: org.ID, email: in.Email,
		first: in.FirstName, last: in.LastName, hash: hash, verified: verified}, now)
	if err != nil {
		return nil, err
	}
	if err := assignRole(ctx, tx, u.ID, ownerRole, now); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE organisations SET owner_id = $1 WHERE id = $2`,
		u.ID, org.ID)
	if err != nil {
		return nil, fmt.Errorf("set organisation owner: %w", err)
	}
	return u, nil
}

// newUser describes a user to create.
type newUser struct {
	org, email, first, last, hash string
	verified                      *time.Time
}

// insertUser creates a user with a password and its first history row;
// a taken email is 409 "Email already registered".
func (s *Service) insertUser(ctx context.Context, tx *sql.Tx, n newUser,
	now time.Time) (*user, error) {
	u := &user{ID: db.NewID(), OrganisationID: n.org, Email: n.email, FirstName: n.first,
		LastName: n.last, Name: fullName(n.first, n.last), PasswordHash: &n.hash,
		EmailVerifiedAt: n.verified, CreatedAt: now, UpdatedAt: now}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, organisation_id, email,
		first_name, last_name, name, email_verified_at, password_hash, created_at,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, u.ID, n.org, n.email,
		n.first, n.last, u.Name, n.verified, n.hash, now)
	if err != nil {
		if s.db.Dialect.IsUniqueViolation(err) {
			return nil, errEmailRegistered
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	if err := addHistory(ctx, tx, u.ID, n.hash, now); err != nil {
		return nil, err
	}
	return u, nil
}

// assignRole gives a user a role.
func assignRole(ctx context.Context, q db.Querier, userID, roleID string,
	now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO user_roles (id, user_id, role_id, created_at)
		VALUES ($1, $2, $3, $4)`, db.NewID(), userID, roleID, now)
	if err != nil {
		return fmt.Errorf("assign role: %w", err)
	}
	return nil
}

// Slugify makes the slug base of an organisation name: lower-case ASCII
// letters and digits, accents dropped, every other run of characters
// turned into one hyphen, no hyphen at either end, at most 48 characters
// ("org" when nothing is left).
func Slugify(name string) string {
	var b strings.Builder
	pending := false
	for _, r := range norm.NFKD.String(strings.ToLower(name)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if pending && b.Len() > 0 {
				b.WriteByte('-')
			}
			pending = false
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
		default:
			pending = true
		}
	}
	slug := b.String()
	if len(slug) > maxSlugBase {
		slug = strings.TrimRight(slug[:maxSlugBase], "-")
	}
	if slug == "" {
		return "org"
	}
	return slug
}

// freeSlug returns base, or base-2, base-3… whichever no organisation
// (live or deleted) holds.
func freeSlug(ctx context.Context, q db.Querier, base string) (string, error) {
	for i := 1; i <= slugAttempts; i++ {
		slug := base
		if i > 1 {
			slug = base + "-" + strconv.Itoa(i)
		}
		var n int
		err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM organisations WHERE slug = $1`,
			slug).Scan(&n)
		if err != nil {
			return "", fmt.Errorf("check slug: %w", err)
		}
		if n == 0 {
			return slug, nil
		}
	}
	return "", fmt.Errorf("no free slug for %q after %d attempts", base, slugAttempts)
}

// sendVerification issues a verification token and queues its email.
func (s *Service) sendVerification(ctx context.Context, q db.Querier, u *user,
	now time.Time) error {
	token, expires, err := IssueAccountToken(ctx, q, u.ID, PurposeVerifyEmail, now)
	if err != nil {
		return err
	}
	return s.outbox.Enqueue(ctx, q, mail.Mail{OrganisationID: u.OrganisationID,
		To: u.Email, Template: mail.TemplateVerifyEmail, Data: map[string]any{
			mail.DataToken: token, mail.DataName: u.Name, mail.DataExpiresAt: expires}})
}
