package access

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// RoleCreate is the body of a role creation.
type RoleCreate struct {
	Name          string   `json:"name"`
	Slug          string   `json:"slug"`
	Description   *string  `json:"description"`
	IsDefault     bool     `json:"isDefault"`
	PermissionIDs []string `json:"permissionIds"`
}

// RolePatch is the body of a role update; absent members stay.
type RolePatch struct {
	Name        patch.Field[string] `json:"name"`
	Description patch.Field[string] `json:"description"`
	IsDefault   patch.Field[bool]   `json:"isDefault"`
}

// CreateRole creates a role with its permissions (audit and webhook
// role.created). The actor must be able to grant every permission. A new
// default role takes the flag from the previous one. Errors: 400 "Invalid
// input" (unknown ids on permissionIds.N), 403 "Cannot grant permissions
// you do not hold", 409 "Role slug already exists".
func (s *Service) CreateRole(ctx context.Context, actor *Principal, in RoleCreate) (*Role,
	error) {
	var c checker
	in.Name = c.Text("name", in.Name, maxName)
	in.Slug = c.slug("slug", in.Slug)
	in.Description = c.optional("description", in.Description, maxDescription)
	perms, err := s.permissionsByID(ctx, &c, "permissionIds", in.PermissionIDs)
	if err != nil {
		return nil, err
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := s.checkGrant(ctx, actor, refSlugs(perms)...); err != nil {
		return nil, err
	}
	var role *Role
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		role, err = s.insertRole(ctx, tx, actor.OrganisationID, in, perms)
		return err
	})
	return role, err
}

// permissionsByID resolves catalogue ids, reporting unknown ones on
// field.N; duplicates are dropped.
func (s *Service) permissionsByID(ctx context.Context, c *checker, field string,
	ids []string) ([]PermissionRef, error) {
	var out []PermissionRef
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		p, err := permissionRef(ctx, s.db, id)
		if err != nil {
			return nil, err
		}
		if p == nil {
			c.Add(field+"."+strconv.Itoa(i), apperr.CodeInvalidValue, "Unknown permission")
			continue
		}
		out = append(out, *p)
	}
	return out, nil
}

func refSlugs(perms []PermissionRef) []string {
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = p.Slug
	}
	return out
}

// checkGrant refuses slugs the actor may not grant.
func (s *Service) checkGrant(ctx context.Context, actor *Principal, slugs ...string) error {
	if len(slugs) == 0 {
		return nil
	}
	held, err := s.held(ctx, actor)
	if err != nil {
		return err
	}
	return CheckGrant(held, slugs...)
}

func (s *Service) insertRole(ctx context.Context, tx *sql.Tx, orgID string, in RoleCreate,
	perms []PermissionRef) (*Role, error) {
	now := s.clock()
	if in.IsDefault {
		if err := LockDefaultRole(ctx, s.db, tx, orgID); err != nil {
			return nil, err
		}
		if err := clearDefault(ctx, tx, orgID, now); err != nil {
			return nil, err
		}
	}
	id := db.NewID()
	_, err := tx.ExecContext(ctx, `INSERT INTO roles (id, organisation_id, name, slug,
		description, is_default, is_system, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $7)`, id, orgID, in.Name, in.Slug,
		in.Description, in.IsDefault, now)
	if s.db.Dialect.IsUniqueViolation(err) {
		return nil, errRoleSlugTaken
	}
	if err != nil {
		return nil, fmt.Errorf("create role: %w", err)
	}
	for _, p := range perms {
		_, err := AddLink(ctx, s.db, tx, RolePermissionLinks, id, p.ID, now, ErrRoleNotFound)
		if err != nil {
			return nil, err
		}
	}
	role, err := ReadRole(ctx, tx, orgID, id)
	if err != nil {
		return nil, err
	}
	return role, s.roleEvent(ctx, tx, role, "role.created", "role.created",
		map[string]any{"permissions": role.Slugs()})
}

// LockDefaultRole takes, for the rest of tx, the lock that serialises
// moving an organisation's default flag and deleting its roles, so that
// the organisation keeps exactly one default role. Callers read the roles
// they act on after taking it.
func LockDefaultRole(ctx context.Context, d *db.DB, tx *sql.Tx, orgID string) error {
	return d.LockTx(ctx, tx, "roles:"+orgID)
}

func clearDefault(ctx context.Context, q db.Querier, orgID string, now time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE roles SET is_default = FALSE, updated_at = $1
		WHERE organisation_id = $2 AND is_default = TRUE`, now, orgID)
	if err != nil {
		return fmt.Errorf("clear default role: %w", err)
	}
	return nil
}

// roleEvent records an audit entry about a role with its webhook, and
// bumps the organisation's RBAC version.
func (s *Service) roleEvent(ctx context.Context, tx *sql.Tx, r *Role, audit, hook string,
	meta map[string]any) error {
	if err := BumpRBAC(ctx, tx, r.OrganisationID); err != nil {
		return err
	}
	return s.events.Record(ctx, tx, event.Event{Type: audit,
		OrganisationID: r.OrganisationID, ResourceType: "role", ResourceID: r.ID,
		Metadata: meta,
		Webhooks: []event.Webhook{{Type: hook, Data: map[string]any{"role": r.Ref()}}}})
}

// UpdateRole changes a role's name, description or default flag (audit
// and webhook role.updated). Making a role the default takes the flag from
// the previous one and requires the actor to be able to grant the role's
// permissions, since new members will receive it. Errors: 404 "Role not
// found", 400 "The Owner role cannot be modified", 400 "Choose another
// default role first" (unsetting the default), 400 "Invalid input", 403
// "Cannot grant permissions you do not hold".
func (s *Service) UpdateRole(ctx context.Context, actor *Principal, id string,
	p RolePatch) (*Role, error) {
	var c checker
	name := ""
	if notNull(&c, "name", p.Name) {
		name = c.Text("name", p.Name.Value, maxName)
	}
	var desc *string
	if p.Description.Set {
		desc = c.optional("description", p.Description.Ptr(), maxDescription)
	}
	notNull(&c, "isDefault", p.IsDefault)
	if err := c.Err(); err != nil {
		return nil, err
	}
	// Read before the transaction, which must not wait for a second
	// connection while holding one.
	var held []string
	if p.IsDefault.Set && p.IsDefault.Value {
		var err error
		if held, err = s.held(ctx, actor); err != nil {
			return nil, err
		}
	}
	var role *Role
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if p.IsDefault.Set {
			err := LockDefaultRole(ctx, s.db, tx, actor.OrganisationID)
			if err != nil {
				return err
			}
		}
		if err := lockRow(ctx, s.db, tx, "roles", actor.OrganisationID, id); err != nil {
			return err
		}
		r, err := editableRole(ctx, tx, actor.OrganisationID, id)
		if err != nil {
			return err
		}
		role, err = s.applyRolePatch(ctx, tx, held, r, p, name, desc)
		return err
	})
	return role, err
}

// editableRole reads a role that is not Owner.
func editableRole(ctx context.Context, q db.Querier, orgID, id string) (*Role,
	error) {
	r, err := ReadRole(ctx, q, orgID, id)
	if err != nil {
		return nil, err
	}
	if r.IsOwner() {
		return nil, ErrOwnerRole
	}
	return r, nil
}

// applyRolePatch changes r as p asks; held is the set the actor may grant
// from, read when p makes r the default.
func (s *Service) applyRolePatch(ctx context.Context, tx *sql.Tx, held []string, r *Role,
	p RolePatch, name string, desc *string) (*Role, error) {
	now := s.clock()
	var changes []string
	if p.Name.Set && name != r.Name {
		r.Name, changes = name, append(changes, "name")
	}
	if p.Description.Set && !slices.Equal(ptrSlice(desc), ptrSlice(r.Description)) {
		r.Description, changes = desc, append(changes, "description")
	}
	if p.IsDefault.Set && p.IsDefault.Value != r.IsDefault {
		if err := changeDefault(ctx, tx, held, r, p.IsDefault.Value, now); err != nil {
			return nil, err
		}
		changes = append(changes, "isDefault")
	}
	if len(changes) == 0 {
		return r, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE roles SET name = $1, description = $2,
		is_default = $3, updated_at = $4 WHERE id = $5 AND organisation_id = $6`,
		r.Name, r.Description, r.IsDefault, now, r.ID, r.OrganisationID)
	if err != nil {
		return nil, fmt.Errorf("update role: %w", err)
	}
	if !affected(res) {
		return nil, ErrRoleNotFound // deleted since r was read
	}
	r.UpdatedAt = Stamp(now)
	return r, s.roleEvent(ctx, tx, r, "role.updated", "role.updated",
		map[string]any{"changes": changes})
}

func ptrSlice(p *string) []string {
	if p == nil {
		return nil
	}
	return []string{*p}
}

// changeDefault moves the default flag to r, or refuses to leave the
// organisation without a default.
func changeDefault(ctx context.Context, tx *sql.Tx, held []string, r *Role, on bool,
	now time.Time) error {
	if !on {
		return ErrDefaultRole
	}
	if err := CheckGrant(held, r.Slugs()...); err != nil {
		return err
	}
	r.IsDefault = true
	return clearDefault(ctx, tx, r.OrganisationID, now)
}

// DeleteRole deletes a role, unassigning it from its holders (audit and
// webhook role.deleted); pending invitations with it get the default role
// on acceptance. Errors: 404 "Role not found", 400 "Seeded roles cannot be
// deleted", 400 "Choose another default role first".
func (s *Service) DeleteRole(ctx context.Context, actor *Principal, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := LockDefaultRole(ctx, s.db, tx, actor.OrganisationID); err != nil {
			return err
		}
		r, err := ReadRole(ctx, tx, actor.OrganisationID, id)
		if err != nil {
			return err
		}
		switch {
		case r.IsSystem:
			return ErrSeededRole
		case r.IsDefault:
			return ErrDefaultRole
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE id = $1
			AND organisation_id = $2`, r.ID, r.OrganisationID)
		if err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		if !affected(res) {
			return ErrRoleNotFound // a concurrent request deleted it first
		}
		return s.roleEvent(ctx, tx, r, "role.deleted", "role.deleted",
			map[string]any{"slug": r.Slug})
	})
}

// GrantPermission adds a permission to a role (audit permission.granted,
// webhook role.updated) and reports whether it was added; granting one the
// role has already changes nothing. Errors: 404 "Role not found", 404
// "Permission not found", 400 "The Owner role cannot be modified", 403
// "Cannot grant permissions you do not hold".
func (s *Service) GrantPermission(ctx context.Context, actor *Principal, roleID,
	permID string) (bool, error) {
	if permID == "" {
		return false, errRolePermRequired
	}
	// Read before the transaction, which must not wait for a second
	// connection while holding one.
	held, err := s.held(ctx, actor)
	if err != nil {
		return false, err
	}
	added := false
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, p, err := rolePermission(ctx, tx, actor.OrganisationID, roleID, permID)
		if err != nil || slices.Contains(r.Slugs(), p.Slug) {
			return err
		}
		if err := CheckGrant(held, p.Slug); err != nil {
			return err
		}
		// A concurrent request may have granted it since r was read.
		added, err = AddLink(ctx, s.db, tx, RolePermissionLinks, r.ID, p.ID, s.clock(),
			ErrRoleNotFound)
		if err != nil || !added {
			return err
		}
		return s.roleEvent(ctx, tx, r, "permission.granted", "role.updated",
			map[string]any{"permission": p.Slug})
	})
	return added, err
}

// rolePermission reads an editable role and a catalogue permission with q.
func rolePermission(ctx context.Context, q db.Querier, orgID, roleID,
	permID string) (*Role, *PermissionRef, error) {
	r, err := editableRole(ctx, q, orgID, roleID)
	if err != nil {
		return nil, nil, err
	}
	p, err := permissionRef(ctx, q, permID)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return nil, nil, errPermNotFound
	}
	return r, p, nil
}

// RevokePermission removes a permission from a role (audit
// permission.revoked, webhook role.updated). Errors: 404 "Role not
// found", 404 "Permission not found", 404 "Permission not assigned to
// role", 400 "The Owner role cannot be modified".
func (s *Service) RevokePermission(ctx context.Context, actor *Principal, roleID,
	permID string) error {
	if permID == "" {
		return errRolePermRequired
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, p, err := rolePermission(ctx, tx, actor.OrganisationID, roleID, permID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM role_permissions WHERE role_id = $1
			AND permission_id = $2`, r.ID, p.ID)
		if err != nil {
			return fmt.Errorf("revoke permission: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errPermNotAssigned
		}
		return s.roleEvent(ctx, tx, r, "permission.revoked", "role.updated",
			map[string]any{"permission": p.Slug})
	})
}
