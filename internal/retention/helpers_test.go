package retention

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// now is the time of every run in these tests.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// seed writes rows straight into the schema.
type seed struct {
	t testing.TB
	d *db.DB
}

func (s seed) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.d.ExecContext(context.Background(), q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s seed) count(table, where string, args ...any) int {
	s.t.Helper()
	var n int
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	if err := s.d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// org creates an organisation, deleted at deleted when not zero.
func (s seed) org(deleted time.Time) string {
	id := db.NewID()
	s.exec(`INSERT INTO organisations (id, slug, name, created_at, updated_at, deleted_at)
		VALUES ($1, $2, 'Org', $3, $3, $4)`, id, "o-"+id[24:], ago(400*day), nullTime(deleted))
	return id
}

func (s seed) user(org string, deleted time.Time) string {
	id := db.NewID()
	s.exec(`INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
		created_at, updated_at, deleted_at) VALUES ($1, $2, $3, 'A', 'B', 'A B', $4, $4, $5)`,
		id, org, id+"@x.test", ago(400*day), nullTime(deleted))
	return id
}

func (s seed) client(org string, deleted time.Time) string {
	id := db.NewID()
	s.exec(`INSERT INTO clients (id, organisation_id, client_id, name, client_type,
		token_endpoint_auth_method, created_at, updated_at, deleted_at) VALUES ($1, $2, $3,
		'App', 'public', 'none', $4, $4, $5)`,
		id, org, strings.ReplaceAll(id, "-", ""), ago(400*day), nullTime(deleted))
	return id
}

// session adds a session with that absolute expiry and last activity, and
// an idle limit of 30 minutes.
func (s seed) session(org, user string, expires, active time.Time) string {
	id := db.NewID()
	s.exec(`INSERT INTO sessions (id, session_token, user_id, organisation_id,
		authenticated_at, idle_timeout, last_activity_at, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 1800, $6, $7, $5, $5)`,
		id, "tok-"+id, user, org, ago(2*day), active, expires)
	return id
}

func (s seed) token(org, user, client string, expires time.Time) {
	s.exec(`INSERT INTO tokens (id, jti, client_id, user_id, organisation_id, issued_at,
		expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)`,
		db.NewID(), db.NewID(), client, user, org, ago(30*day), expires)
	s.exec(`INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id,
		organisation_id, auth_time, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6,
		$7, $8, $7)`, db.NewID(), db.NewID(), db.NewID(), client, user, org, ago(30*day),
		expires)
}

func (s seed) endpoint(org string, client *string) string {
	id := db.NewID()
	s.exec(`INSERT INTO webhook_endpoints (id, organisation_id, url, events, client_id,
		secret, created_at, updated_at) VALUES ($1, $2, 'https://x.test/', '["user.created"]',
		$3, 'sealed', $4, $4)`, id, org, client, ago(100*day))
	return id
}

func (s seed) delivery(org, endpoint string, completed time.Time) {
	status := "succeeded"
	if completed.IsZero() {
		status = "pending"
	}
	s.exec(`INSERT INTO webhook_deliveries (id, endpoint_id, organisation_id, event_id,
		event_type, payload, status, created_at, updated_at, completed_at) VALUES ($1, $2,
		$3, $4, 'user.created', '{}', $5, $6, $6, $7)`,
		db.NewID(), endpoint, org, db.NewID(), status, ago(60*day), nullTime(completed))
}

func (s seed) audit(org, user string, created time.Time) {
	s.exec(`INSERT INTO audit_logs (id, organisation_id, actor_type, user_id, event_type,
		event_category, action, success, created_at) VALUES ($1, $2, 'user', $3,
		'user.updated', 'user', 'update', TRUE, $4)`, db.NewID(), org, user, created)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
