package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Placeholders returns "$from, $from+1, …" for n values, for IN lists.
func Placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// Args converts ids to query arguments.
func Args(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// lockRow holds the row of table (a constant of the caller) with id in
// the organisation until tx ends on PostgreSQL, so that a change that
// writes back what it read starts from what the previous change
// committed. SQLite transactions already exclude each other.
func lockRow(ctx context.Context, d *db.DB, tx *sql.Tx, table, orgID, id string) error {
	if !db.ValidID(id) {
		return nil
	}
	return d.LockRows(ctx, tx, `SELECT 1 FROM `+table+` WHERE id = $1
		AND organisation_id = $2`, id, orgID)
}

// count runs a COUNT(*) query.
func count(ctx context.Context, q db.Querier, query string, args ...any) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q db.Querier, query string, args ...any) (bool, error) {
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

// Link names a table that joins two rows: columns id, Left, Right and
// created_at, unique on (Left, Right).
type Link struct{ Table, Left, Right string }

// The link tables.
var (
	UserRoleLinks       = Link{"user_roles", "user_id", "role_id"}
	TeamMemberLinks     = Link{"team_members", "team_id", "user_id"}
	RolePermissionLinks = Link{"role_permissions", "role_id", "permission_id"}
)

// AddLink joins left and right in tx and reports whether the link is new:
// one that a concurrent request added first is kept once by the unique
// index, and this call changes nothing. It returns gone when a linked row
// was deleted since the caller read it.
func AddLink(ctx context.Context, d *db.DB, tx *sql.Tx, l Link, left, right string,
	now time.Time, gone error) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO `+l.Table+` (id, `+l.Left+`, `+l.Right+`,
		created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (`+l.Left+`, `+l.Right+`)
		DO NOTHING`, db.NewID(), left, right, now)
	if d.Dialect.IsForeignKeyViolation(err) {
		return false, gone
	}
	if err != nil {
		return false, fmt.Errorf("add to %s: %w", l.Table, err)
	}
	return affected(res), nil
}

// affected reports whether a statement added, changed or deleted a row;
// false for an INSERT … ON CONFLICT DO NOTHING that found its row there.
func affected(res sql.Result) bool {
	n, _ := res.RowsAffected()
	return n > 0
}
