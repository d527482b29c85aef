package access

import (
	"context"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Slugs of the roles every organisation starts with.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleStaff   = "staff"
)

// defaultRole is a role seeded into every new organisation.
type defaultRole struct {
	slug, name, description string
	isDefault               bool
	permissions             []string
}

func defaultRoles() []defaultRole {
	admin := []string{"organisation:create", "organisation:read", "organisation:update"}
	for _, r := range Resources {
		if r != "organisation" {
			admin = append(admin, r+":*")
		}
	}
	return []defaultRole{
		{slug: RoleOwner, name: "Owner", permissions: []string{Wildcard},
			description: "Owner of the organisation, with every permission"},
		{slug: RoleAdmin, name: "Admin", permissions: admin,
			description: "Administers everything but the deletion of the organisation"},
		{slug: RoleManager, name: "Manager", description: "Manages people and teams",
			permissions: []string{"users:create", "users:read", "users:update", "teams:*",
				"invitations:*", "roles:read", "permissions:read", "clients:read",
				"audit_logs:read"}},
		{slug: RoleStaff, name: "Staff", isDefault: true,
			description: "Member of the organisation",
			permissions: []string{"users:read", "teams:read", "roles:read", "permissions:read"}},
	}
}

// SeedRoles creates the default roles of a new organisation in q (the
// onboarding transaction) and returns their ids by slug. The permission
// catalogue must be synchronised first.
func SeedRoles(
	ctx context.Context, q db.Querier, orgID string, now time.Time,
) (map[string]string, error) {
	ids := map[string]string{}
	for _, r := range defaultRoles() {
		id := db.NewID()
		_, err := q.ExecContext(ctx, `INSERT INTO roles (id, organisation_id, name, slug,
			description, is_default, is_system, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7)`,
			id, orgID, r.name, r.slug, r.description, r.isDefault, now)
		if err != nil {
			return nil, fmt.Errorf("seed role %s: %w", r.slug, err)
		}
		for _, p := range r.permissions {
			_, err := q.ExecContext(ctx, `INSERT INTO role_permissions (id, role_id,
				permission_id, created_at) SELECT $1, $2, id, $3 FROM permissions
				WHERE slug = $4`, db.NewID(), id, now, p)
			if err != nil {
				return nil, fmt.Errorf("seed role %s permission %s: %w", r.slug, p, err)
			}
		}
		ids[r.slug] = id
	}
	return ids, nil
}
