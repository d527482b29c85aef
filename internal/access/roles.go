package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Role is a role as the administration API shows it.
type Role struct {
	ID             string          `json:"id"`
	OrganisationID string          `json:"organisationId"`
	Name           string          `json:"name"`
	Slug           string          `json:"slug"`
	Description    *string         `json:"description"`
	IsDefault      bool            `json:"isDefault"`
	IsSystem       bool            `json:"isSystem"`
	Permissions    []PermissionRef `json:"permissions"`
	// UserCount is the number of live users holding the role.
	UserCount int       `json:"userCount"`
	CreatedAt Timestamp `json:"createdAt"`
	UpdatedAt Timestamp `json:"updatedAt"`
}

// PermissionRef is the short form of a permission.
type PermissionRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// RoleSorts maps the sort fields of the role list to their columns.
var RoleSorts = map[string]string{"name": "r.name", "slug": "r.slug",
	"createdAt": "r.created_at"}

// RoleQuery selects roles: a page and an optional name or slug fragment.
type RoleQuery struct {
	Page Page
	Q    string
}

// Errors of the role rules, with the contract's details.
var (
	ErrRoleNotFound     = apperr.NotFoundf("Role")
	ErrOwnerRole        = apperr.New(apperr.Invalid, "The Owner role cannot be modified")
	ErrSeededRole       = apperr.New(apperr.Invalid, "Seeded roles cannot be deleted")
	ErrDefaultRole      = apperr.New(apperr.Invalid, "Choose another default role first")
	errRoleSlugTaken    = apperr.New(apperr.Conflict, "Role slug already exists")
	errPermNotFound     = apperr.NotFoundf("Permission")
	errPermNotAssigned  = apperr.New(apperr.NotFound, "Permission not assigned to role")
	errRolePermRequired = apperr.InvalidInput(apperr.Field("permissionId",
		apperr.CodeRequired, "Required"))
)

const roleColumns = `r.id, r.organisation_id, r.name, r.slug, r.description,
	r.is_default, r.is_system, r.created_at, r.updated_at`

func scanRole(sc interface{ Scan(...any) error }) (*Role, error) {
	r := &Role{Permissions: []PermissionRef{}}
	var created, updated time.Time
	err := sc.Scan(&r.ID, &r.OrganisationID, &r.Name, &r.Slug, &r.Description,
		&r.IsDefault, &r.IsSystem, db.Time(&created), db.Time(&updated))
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = Stamp(created), Stamp(updated)
	return r, nil
}

// ListRoles returns a page of an organisation's roles and their total.
func (s *Service) ListRoles(ctx context.Context, orgID string, q RoleQuery) ([]Role, int,
	error) {
	where := ` FROM roles r WHERE r.organisation_id = $1`
	args := []any{orgID}
	if q.Q != "" {
		where += ` AND (LOWER(r.name) LIKE $2 ESCAPE '\' OR r.slug LIKE $2 ESCAPE '\')`
		args = append(args, Like(q.Q))
	}
	total, err := count(ctx, s.db, `SELECT COUNT(*)`+where, args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+roleColumns+where+
		q.Page.OrderBy(RoleSorts, "r.id")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list roles: %w", err)
	}
	roles, err := collectRoles(rows)
	if err != nil {
		return nil, 0, err
	}
	if err := fillRoles(ctx, s.db, roles); err != nil {
		return nil, 0, err
	}
	return roles, total, nil
}

func collectRoles(rows *sql.Rows) ([]Role, error) {
	defer rows.Close()
	out := []Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("scan role: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// fillRoles loads the permissions and holder counts of roles.
func fillRoles(ctx context.Context, q db.Querier, roles []Role) error {
	if len(roles) == 0 {
		return nil
	}
	ids := make([]string, len(roles))
	at := map[string]*Role{}
	for i := range roles {
		ids[i] = roles[i].ID
		at[roles[i].ID] = &roles[i]
	}
	perms, err := RolePermissions(ctx, q, ids)
	if err != nil {
		return err
	}
	for id, p := range perms {
		at[id].Permissions = p
	}
	rows, err := q.QueryContext(ctx, `SELECT ur.role_id, COUNT(*) FROM user_roles ur
		JOIN users u ON u.id = ur.user_id WHERE u.deleted_at IS NULL
		AND ur.role_id IN (`+Placeholders(1, len(ids))+`) GROUP BY ur.role_id`,
		Args(ids)...)
	if err != nil {
		return fmt.Errorf("count role holders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return fmt.Errorf("scan role holders: %w", err)
		}
		at[id].UserCount = n
	}
	return rows.Err()
}

// RolePermissions returns the permissions of each of the roles, by role
// id, sorted by slug.
func RolePermissions(ctx context.Context, q db.Querier, roleIDs []string) (
	map[string][]PermissionRef, error) {
	out := map[string][]PermissionRef{}
	if len(roleIDs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT rp.role_id, p.id, p.slug, p.name
		FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
		WHERE rp.role_id IN (`+Placeholders(1, len(roleIDs))+`) ORDER BY p.slug`,
		Args(roleIDs)...)
	if err != nil {
		return nil, fmt.Errorf("read role permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var role string
		var p PermissionRef
		if err := rows.Scan(&role, &p.ID, &p.Slug, &p.Name); err != nil {
			return nil, fmt.Errorf("scan role permission: %w", err)
		}
		out[role] = append(out[role], p)
	}
	return out, rows.Err()
}

// Role returns a role of the organisation: 404 "Role not found".
func (s *Service) Role(ctx context.Context, orgID, id string) (*Role, error) {
	return ReadRole(ctx, s.db, orgID, id)
}

// ReadRole reads a role of an organisation with q (in or out of a
// transaction) with its permissions and holder count: 404 "Role not found"
// when there is none.
func ReadRole(ctx context.Context, q db.Querier, orgID, id string) (*Role, error) {
	if !db.ValidID(id) {
		return nil, ErrRoleNotFound
	}
	r, err := scanRole(q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles r
		WHERE r.id = $1 AND r.organisation_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrRoleNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read role %s: %w", id, err)
	}
	roles := []Role{*r}
	if err := fillRoles(ctx, q, roles); err != nil {
		return nil, err
	}
	return &roles[0], nil
}

// Slugs returns the permission slugs of a role.
func (r *Role) Slugs() []string {
	out := make([]string, len(r.Permissions))
	for i, p := range r.Permissions {
		out[i] = p.Slug
	}
	return out
}

// IsOwner reports the seeded Owner role.
func (r *Role) IsOwner() bool { return r.IsSystem && r.Slug == RoleOwner }

// Ref returns the role's webhook reference {id, name, slug}.
func (r *Role) Ref() map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "slug": r.Slug}
}

// CheckAssignable refuses a role the actor may not hand out: the Owner
// role (400 "The Owner role cannot be assigned or removed") or one holding
// a permission the actor's held set does not cover (403 "Cannot grant
// permissions you do not hold").
func CheckAssignable(r *Role, held []string) error {
	if r.IsOwner() {
		return ErrOwnerAssignment
	}
	return CheckGrant(held, r.Slugs()...)
}

// ErrOwnerAssignment refuses to give or take the Owner role.
var ErrOwnerAssignment = apperr.New(apperr.Invalid,
	"The Owner role cannot be assigned or removed")

// DefaultRoleID returns the organisation's default role, "" when none.
func DefaultRoleID(ctx context.Context, q db.Querier, orgID string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM roles WHERE organisation_id = $1
		AND is_default = TRUE ORDER BY created_at, id LIMIT 1`, orgID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default role: %w", err)
	}
	return id, nil
}
