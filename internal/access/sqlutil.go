package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	if d.Dialect.Engine() != db.Postgres || !db.ValidID(id) {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT 1 FROM `+table+` WHERE id = $1
		AND organisation_id = $2 FOR NO KEY UPDATE`, id, orgID)
	if err != nil {
		return fmt.Errorf("lock %s %s: %w", table, id, err)
	}
	return nil
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

// affected reports whether a statement added, changed or deleted a row;
// false for an INSERT … ON CONFLICT DO NOTHING that found its row there.
func affected(res sql.Result) bool {
	n, _ := res.RowsAffected()
	return n > 0
}
