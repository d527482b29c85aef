package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

// UserCreate is the body of a user creation. Without RoleIDs the user gets
// the organisation's default role.
type UserCreate struct {
	Email     string   `json:"email"`
	FirstName string   `json:"firstName"`
	LastName  string   `json:"lastName"`
	Password  *string  `json:"password"`
	Phone     *string  `json:"phone"`
	RoleIDs   []string `json:"roleIds"`
	TeamIDs   []string `json:"teamIds"`
}

// Errors of the guards of §2.4 about people.
var (
	errOwnerOnly = apperr.New(apperr.Forbidden,
		"Only the organisation owner can change the owner's account")
	errOwnerProtected = apperr.New(apperr.Invalid,
		"The organisation owner cannot be blocked or deleted")
	errSelf = apperr.New(apperr.Invalid, "You cannot block or delete your own account")
)

// CreateUser creates a user of the actor's organisation (audit and webhook
// user.created). With a password (organisation policy) a verification
// email is queued, without one a password-setup email (7 days). Roles
// must be ones the actor may grant and never Owner. Errors: 400 "Invalid
// input" (unknown ids on roleIds.N and teamIds.N), 400 "Password too
// weak", 403 "Cannot grant permissions you do not hold", 409 "Email
// already registered".
func (s *Service) CreateUser(ctx context.Context, actor *access.Principal,
	in UserCreate) (*UserDetail, error) {
	orgID := actor.OrganisationID
	roles, teams, err := s.checkCreate(ctx, actor, &in)
	if err != nil {
		return nil, err
	}
	hash := ""
	if in.Password != nil {
		if err := s.identity.CheckNewPassword(ctx, orgID, *in.Password); err != nil {
			return nil, err
		}
		if hash, err = s.identity.HashPassword(ctx, *in.Password); err != nil {
			return nil, err
		}
	}
	var id string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err = s.insertUser(ctx, tx, orgID, in, hash, roles, teams)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return s.User(ctx, orgID, id)
}

// checkCreate validates a creation body and resolves its roles (the
// default one when none is given) and teams.
func (s *Service) checkCreate(ctx context.Context, actor *access.Principal,
	in *UserCreate) ([]*access.Role, []string, error) {
	var c checker
	in.Email = c.email("email", in.Email)
	in.FirstName = c.Text("firstName", in.FirstName, maxName)
	in.LastName = c.Text("lastName", in.LastName, maxName)
	if in.Phone != nil {
		c.phone("phone", *in.Phone)
	}
	if in.Password != nil && *in.Password == "" {
		c.Add("password", apperr.CodeRequired, "Must not be empty")
	}
	roles, err := s.rolesByID(ctx, &c, actor.OrganisationID, in.RoleIDs)
	if err != nil {
		return nil, nil, err
	}
	teams, err := teamsByID(ctx, s.db, &c, actor.OrganisationID, in.TeamIDs)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Err(); err != nil {
		return nil, nil, err
	}
	if err := s.checkRoles(ctx, actor, roles); err != nil {
		return nil, nil, err
	}
	if taken, err := emailTaken(ctx, s.db, in.Email); err != nil || taken {
		return nil, nil, firstErr(err, errEmailRegistered)
	}
	return roles, teams, nil
}

// rolesByID resolves role ids of the organisation, reporting unknown ones
// and Owner on field.N; duplicates are dropped.
func (s *Service) rolesByID(ctx context.Context, c *checker, orgID string,
	ids []string) ([]*access.Role, error) {
	var out []*access.Role
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		field := "roleIds." + strconv.Itoa(i)
		r, err := access.ReadRole(ctx, s.db, orgID, id)
		switch {
		case errors.Is(err, access.ErrRoleNotFound):
			c.Add(field, apperr.CodeInvalidValue, "Unknown role")
		case err != nil:
			return nil, err
		case r.IsOwner():
			c.Add(field, apperr.CodeInvalidValue, "The Owner role cannot be assigned")
		default:
			out = append(out, r)
		}
	}
	return out, nil
}

// checkRoles refuses roles holding a permission the actor cannot grant.
func (s *Service) checkRoles(ctx context.Context, actor *access.Principal,
	roles []*access.Role) error {
	if len(roles) == 0 {
		return nil
	}
	held, err := s.held(ctx, actor)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if err := access.CheckAssignable(r, held); err != nil {
			return err
		}
	}
	return nil
}

// teamsByID checks team ids of the organisation, reporting unknown ones on
// teamIds.N; duplicates are dropped.
func teamsByID(ctx context.Context, q db.Querier, c *checker, orgID string,
	ids []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		ok := db.ValidID(id)
		if ok {
			var err error
			ok, err = rowExists(ctx, q, `SELECT 1 FROM teams WHERE id = $1
				AND organisation_id = $2`, id, orgID)
			if err != nil {
				return nil, err
			}
		}
		if !ok {
			c.Add("teamIds."+strconv.Itoa(i), apperr.CodeInvalidValue, "Unknown team")
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// rowExists reports whether query returns a row.
func rowExists(ctx context.Context, q db.Querier, query string, args ...any) (bool,
	error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check existence: %w", err)
	}
	return true, nil
}

// emailTaken reports whether any user row, deleted or not, holds email:
// an address stays reserved until its row is purged.
func emailTaken(ctx context.Context, q db.Querier, email string) (bool, error) {
	return rowExists(ctx, q, `SELECT 1 FROM users WHERE email = $1`, email)
}

func firstErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// insertUser writes the user, its roles and teams, its email and events.
func (s *Service) insertUser(ctx context.Context, tx *sql.Tx, orgID string, in UserCreate,
	hash string, roles []*access.Role, teams []string) (string, error) {
	if len(roles) == 0 {
		// The default role read below must stay the default, and
		// exist, until the commit.
		if err := access.LockDefaultRole(ctx, s.db, tx, orgID); err != nil {
			return "", err
		}
	}
	now := s.clock()
	id := db.NewID()
	name := in.FirstName + " " + in.LastName
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, organisation_id, email,
		first_name, last_name, name, phone, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, id, orgID, in.Email,
		in.FirstName, in.LastName, name, in.Phone, nullable(hash), now)
	if s.db.Dialect.IsUniqueViolation(err) {
		return "", errEmailRegistered
	}
	if err != nil {
		return "", fmt.Errorf("create user: %w", err)
	}
	if hash != "" {
		if err := identity.RecordPasswordHistory(ctx, tx, id, hash, now); err != nil {
			return "", err
		}
	}
	roleIDs, err := s.initialRoles(ctx, tx, orgID, roles)
	if err != nil {
		return "", err
	}
	if err := s.addMemberships(ctx, tx, id, in, roleIDs, teams, now); err != nil {
		return "", err
	}
	if err := access.BumpRBAC(ctx, tx, orgID); err != nil {
		return "", err
	}
	u := &User{ID: id, Email: in.Email, Name: name, orgID: orgID}
	if err := s.welcomeMail(ctx, tx, u, hash != "", now); err != nil {
		return "", err
	}
	return id, s.events.Record(ctx, tx, event.Event{Type: "user.created",
		OrganisationID: orgID, UserID: id, ResourceType: "user", ResourceID: id,
		Metadata: map[string]any{"roleIds": roleIDs, "passwordSet": hash != ""},
		Webhooks: []event.Webhook{{Type: "user.created", Data: map[string]any{
			"user": u.summary()}}}})
}

// initialRoles returns the ids of the given roles, or the default role's.
func (s *Service) initialRoles(ctx context.Context, q db.Querier, orgID string,
	roles []*access.Role) ([]string, error) {
	ids := []string{}
	for _, r := range roles {
		ids = append(ids, r.ID)
	}
	if len(ids) > 0 {
		return ids, nil
	}
	def, err := access.DefaultRoleID(ctx, q, orgID)
	if err != nil || def == "" {
		return ids, err
	}
	return append(ids, def), nil
}

// addMemberships gives the new user its roles and teams. One deleted since
// the body was checked is reported as unknown, as the check would have.
func (s *Service) addMemberships(ctx context.Context, q db.Querier, userID string,
	in UserCreate, roles, teams []string, now time.Time) error {
	for _, r := range roles {
		_, err := q.ExecContext(ctx, `INSERT INTO user_roles (id, user_id, role_id,
			created_at) VALUES ($1, $2, $3, $4)`, db.NewID(), userID, r, now)
		if s.db.Dialect.IsForeignKeyViolation(err) {
			return unknownRef("roleIds", in.RoleIDs, r, "Unknown role")
		}
		if err != nil {
			return fmt.Errorf("assign role: %w", err)
		}
	}
	for _, t := range teams {
		_, err := q.ExecContext(ctx, `INSERT INTO team_members (id, team_id, user_id,
			created_at) VALUES ($1, $2, $3, $4)`, db.NewID(), t, userID, now)
		if s.db.Dialect.IsForeignKeyViolation(err) {
			return unknownRef("teamIds", in.TeamIDs, t, "Unknown team")
		}
		if err != nil {
			return fmt.Errorf("join team: %w", err)
		}
	}
	return nil
}

// unknownRef is the field error of id, found in ids at field.N.
func unknownRef(field string, ids []string, id, msg string) error {
	if i := slices.Index(ids, id); i >= 0 {
		field += "." + strconv.Itoa(i)
	}
	return apperr.InvalidInput(apperr.Field(field, apperr.CodeInvalidValue, msg))
}

// welcomeMail queues the verification email of a user created with a
// password, or the password-setup email of one created without.
func (s *Service) welcomeMail(ctx context.Context, q db.Querier, u *User, hasPassword bool,
	now time.Time) error {
	purpose, template := identity.PurposePasswordSetup, mail.TemplatePasswordSetup
	if hasPassword {
		purpose, template = identity.PurposeVerifyEmail, mail.TemplateVerifyEmail
	}
	token, expires, err := identity.IssueAccountToken(ctx, q, u.ID, purpose, now)
	if err != nil {
		return err
	}
	return s.outbox.Enqueue(ctx, q, mail.Mail{OrganisationID: u.orgID, To: u.Email,
		Template: template, Data: map[string]any{mail.DataToken: token,
			mail.DataName: u.Name, mail.DataExpiresAt: expires}})
}
