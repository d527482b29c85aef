package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// User is a user account as the administration API shows it.
type User struct {
	ID              string            `json:"id"`
	Email           string            `json:"email"`
	FirstName       string            `json:"firstName"`
	LastName        string            `json:"lastName"`
	Name            string            `json:"name"`
	Phone           *string           `json:"phone"`
	EmailVerifiedAt *access.Timestamp `json:"emailVerifiedAt"`
	MFAEnabled      bool              `json:"mfaEnabled"`
	BlockedAt       *access.Timestamp `json:"blockedAt"`
	BlockedReason   *string           `json:"blockedReason"`
	LockedAt        *access.Timestamp `json:"lockedAt"`
	LastLoginAt     *access.Timestamp `json:"lastLoginAt"`
	LastLoginIP     *string           `json:"lastLoginIp"`
	LoginCount      int               `json:"loginCount"`
	CreatedAt       access.Timestamp  `json:"createdAt"`
	UpdatedAt       access.Timestamp  `json:"updatedAt"`
	Roles           []Ref             `json:"roles"`
	Teams           []Ref             `json:"teams"`

	orgID string
}

// Ref is the short form of a role or team.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// UserDetail is a user with the permissions of each role, the team
// descriptions and the effective permission set.
type UserDetail struct {
	User
	Roles       []RoleDetail `json:"roles"`
	Teams       []TeamDetail `json:"teams"`
	Permissions []string     `json:"permissions"`
}

// RoleDetail is a role of a detailed user.
type RoleDetail struct {
	Ref
	Description *string                `json:"description"`
	Permissions []access.PermissionRef `json:"permissions"`
}

// TeamDetail is a team of a detailed user.
type TeamDetail struct {
	Ref
	Description *string `json:"description"`
}

// UserSorts maps the sort fields of the user list to their columns.
var UserSorts = map[string]string{"createdAt": "u.created_at", "email": "u.email",
	"name": "u.name", "lastLoginAt": "u.last_login_at"}

// UserQuery selects users: a page, an email or name fragment, a status
// (active or blocked), a role and a team.
type UserQuery struct {
	Page   access.Page
	Q      string
	Status string
	RoleID string
	TeamID string
}

// Errors about users.
var (
	errUserNotFound    = apperr.NotFoundf("User")
	errEmailRegistered = apperr.New(apperr.Conflict, "Email already registered")
)

const userColumns = `u.id, u.organisation_id, u.email, u.first_name, u.last_name, u.name,
	u.phone, u.email_verified_at, u.mfa_enabled, u.blocked_at, u.blocked_reason,
	u.locked_at, u.last_login_at, u.last_login_ip, u.login_count, u.created_at,
	u.updated_at`

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	u := &User{Roles: []Ref{}, Teams: []Ref{}}
	var verified, blocked, locked, lastLogin *time.Time
	var created, updated time.Time
	err := sc.Scan(&u.ID, &u.orgID, &u.Email, &u.FirstName, &u.LastName, &u.Name, &u.Phone,
		db.NullTime(&verified), &u.MFAEnabled, db.NullTime(&blocked), &u.BlockedReason,
		db.NullTime(&locked), db.NullTime(&lastLogin), &u.LastLoginIP, &u.LoginCount,
		db.Time(&created), db.Time(&updated))
	if err != nil {
		return nil, err
	}
	u.EmailVerifiedAt, u.BlockedAt = access.StampPtr(verified), access.StampPtr(blocked)
	u.LockedAt, u.LastLoginAt = access.StampPtr(locked), access.StampPtr(lastLogin)
	u.CreatedAt, u.UpdatedAt = access.Stamp(created), access.Stamp(updated)
	return u, nil
}

// ListUsers returns a page of the organisation's live users and their
// total. Error: 400 "Invalid input" for a bad status, roleId or teamId.
func (s *Service) ListUsers(ctx context.Context, orgID string, q UserQuery) ([]User, int,
	error) {
	where, args, err := userFilter(orgID, q)
	if err != nil {
		return nil, 0, err
	}
	var total int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u`+where,
		args...).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users u`+where+
		q.Page.OrderBy(UserSorts, "u.id")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return nil, 0, err
	}
	return users, total, fillUsers(ctx, s.db, users)
}

// userFilter builds the WHERE clause of a user list.
func userFilter(orgID string, q UserQuery) (string, []any, error) {
	var c checker
	where := ` WHERE u.organisation_id = $1 AND u.deleted_at IS NULL`
	args := []any{orgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Q != "" {
		p := arg(access.Like(q.Q))
		where += ` AND (LOWER(u.email) LIKE ` + p + ` ESCAPE '\' OR LOWER(u.name) LIKE ` +
			p + ` ESCAPE '\')`
	}
	switch q.Status {
	case "":
	case "active":
		where += ` AND u.blocked_at IS NULL`
	case "blocked":
		where += ` AND u.blocked_at IS NOT NULL`
	default:
		c.Add("status", apperr.CodeInvalidValue, "Must be active or blocked")
	}
	if q.RoleID != "" {
		checkID(&c, "roleId", q.RoleID)
		where += ` AND EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id
			AND ur.role_id = ` + arg(q.RoleID) + `)`
	}
	if q.TeamID != "" {
		checkID(&c, "teamId", q.TeamID)
		where += ` AND EXISTS (SELECT 1 FROM team_members tm WHERE tm.user_id = u.id
			AND tm.team_id = ` + arg(q.TeamID) + `)`
	}
	return where, args, c.Err()
}

// checkID refuses a filter value that is not an id.
func checkID(c *checker, field, v string) {
	if !db.ValidID(v) {
		c.Add(field, apperr.CodeInvalidFormat, "Must be a UUID")
	}
}

func collectUsers(rows *sql.Rows) ([]User, error) {
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// fillUsers loads the roles and teams of users.
func fillUsers(ctx context.Context, q db.Querier, users []User) error {
	if len(users) == 0 {
		return nil
	}
	ids := make([]string, len(users))
	at := map[string]*User{}
	for i := range users {
		ids[i] = users[i].ID
		at[ids[i]] = &users[i]
	}
	in := access.Placeholders(1, len(ids))
	err := eachRef(ctx, q, `SELECT ur.user_id, r.id, r.name, r.slug FROM user_roles ur
		JOIN roles r ON r.id = ur.role_id WHERE ur.user_id IN (`+in+`)
		ORDER BY r.name, r.id`, ids, func(user string, r Ref) {
		at[user].Roles = append(at[user].Roles, r)
	})
	if err != nil {
		return err
	}
	return eachRef(ctx, q, `SELECT tm.user_id, t.id, t.name, t.slug FROM team_members tm
		JOIN teams t ON t.id = tm.team_id WHERE tm.user_id IN (`+in+`)
		ORDER BY t.name, t.id`, ids, func(user string, t Ref) {
		at[user].Teams = append(at[user].Teams, t)
	})
}

// eachRef runs a query returning (owner id, id, name, slug) rows.
func eachRef(ctx context.Context, q db.Querier, query string, ids []string,
	fn func(owner string, r Ref)) error {
	rows, err := q.QueryContext(ctx, query, access.Args(ids)...)
	if err != nil {
		return fmt.Errorf("read user groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner string
		var r Ref
		if err := rows.Scan(&owner, &r.ID, &r.Name, &r.Slug); err != nil {
			return fmt.Errorf("scan user group: %w", err)
		}
		fn(owner, r)
	}
	return rows.Err()
}

// readUser reads a live user of the organisation with roles and teams:
// 404 "User not found".
func readUser(ctx context.Context, q db.Querier, orgID, id string) (*User, error) {
	if !db.ValidID(id) {
		return nil, errUserNotFound
	}
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u
		WHERE u.id = $1 AND u.organisation_id = $2 AND u.deleted_at IS NULL`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", id, err)
	}
	users := []User{*u}
	if err := fillUsers(ctx, q, users); err != nil {
		return nil, err
	}
	return &users[0], nil
}

// User returns a live user of the organisation in detail: each role with
// its description and permissions, each team with its description, and
// the effective permission set. Error: 404 "User not found".
func (s *Service) User(ctx context.Context, orgID, id string) (*UserDetail, error) {
	u, err := readUser(ctx, s.db, orgID, id)
	if err != nil {
		return nil, err
	}
	d := &UserDetail{User: *u, Roles: []RoleDetail{}, Teams: []TeamDetail{}}
	if err := s.detailRoles(ctx, d); err != nil {
		return nil, err
	}
	if err := s.detailTeams(ctx, d); err != nil {
		return nil, err
	}
	d.Permissions, err = s.authz.Permissions(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if d.Permissions == nil {
		d.Permissions = []string{}
	}
	return d, nil
}

func (s *Service) detailRoles(ctx context.Context, d *UserDetail) error {
	ids := make([]string, len(d.User.Roles))
	for i, r := range d.User.Roles {
		ids[i] = r.ID
	}
	perms, err := access.RolePermissions(ctx, s.db, ids)
	if err != nil {
		return err
	}
	descs, err := descriptions(ctx, s.db, "roles", ids)
	if err != nil {
		return err
	}
	for _, r := range d.User.Roles {
		p := perms[r.ID]
		if p == nil {
			p = []access.PermissionRef{}
		}
		d.Roles = append(d.Roles, RoleDetail{Ref: r, Description: descs[r.ID],
			Permissions: p})
	}
	return nil
}

func (s *Service) detailTeams(ctx context.Context, d *UserDetail) error {
	ids := make([]string, len(d.User.Teams))
	for i, t := range d.User.Teams {
		ids[i] = t.ID
	}
	descs, err := descriptions(ctx, s.db, "teams", ids)
	if err != nil {
		return err
	}
	for _, t := range d.User.Teams {
		d.Teams = append(d.Teams, TeamDetail{Ref: t, Description: descs[t.ID]})
	}
	return nil
}

// descriptions reads the description column of rows of table (roles or
// teams), by id.
func descriptions(ctx context.Context, q db.Querier, table string, ids []string) (
	map[string]*string, error) {
	out := map[string]*string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id, description FROM `+table+
		` WHERE id IN (`+access.Placeholders(1, len(ids))+`)`, access.Args(ids)...)
	if err != nil {
		return nil, fmt.Errorf("read %s descriptions: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var desc *string
		if err := rows.Scan(&id, &desc); err != nil {
			return nil, fmt.Errorf("scan %s description: %w", table, err)
		}
		out[id] = desc
	}
	return out, rows.Err()
}

// summary is the webhook reference of a user.
func (u *User) summary() map[string]any {
	return map[string]any{"id": u.ID, "email": u.Email, "name": u.Name}
}
