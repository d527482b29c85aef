package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// PermissionSorts maps the sort fields of the permission list to their
// columns.
var PermissionSorts = map[string]string{"slug": "slug", "category": "category"}

// PermissionQuery selects catalogue permissions: a page and an optional
// category.
type PermissionQuery struct {
	Page     Page
	Category string
}

const permissionColumns = `id, slug, name, description, category, created_at, updated_at`

func scanPermission(sc interface{ Scan(...any) error }) (*Permission, error) {
	var p Permission
	err := sc.Scan(&p.ID, &p.Slug, &p.Name, &p.Description, &p.Category,
		db.Time(&p.CreatedAt), db.Time(&p.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ListPermissions returns a page of the catalogue and its total.
func (s *Service) ListPermissions(ctx context.Context, q PermissionQuery) ([]Permission,
	int, error) {
	where := ` FROM permissions`
	var args []any
	if q.Category != "" {
		where += ` WHERE category = $1`
		args = append(args, q.Category)
	}
	total, err := count(ctx, s.db, `SELECT COUNT(*)`+where, args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+permissionColumns+where+
		q.Page.OrderBy(PermissionSorts, "slug")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list permissions: %w", err)
	}
	defer rows.Close()
	out := []Permission{}
	for rows.Next() {
		p, err := scanPermission(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan permission: %w", err)
		}
		out = append(out, *p)
	}
	return out, total, rows.Err()
}

// Permission returns a catalogue permission: 404 "Permission not found".
func (s *Service) Permission(ctx context.Context, id string) (*Permission, error) {
	if !db.ValidID(id) {
		return nil, errPermNotFound
	}
	p, err := scanPermission(s.db.QueryRowContext(ctx, `SELECT `+permissionColumns+
		` FROM permissions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errPermNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read permission: %w", err)
	}
	return p, nil
}

// permissionRef returns the short form of a catalogue permission read
// with q, nil when the id names none.
func permissionRef(ctx context.Context, q db.Querier, id string) (*PermissionRef, error) {
	if !db.ValidID(id) {
		return nil, nil
	}
	var p PermissionRef
	err := q.QueryRowContext(ctx, `SELECT id, slug, name FROM permissions
		WHERE id = $1`, id).Scan(&p.ID, &p.Slug, &p.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read permission: %w", err)
	}
	return &p, nil
}
