package db_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestMigrateDownToZeroAndUpAgain(t *testing.T) {
	for _, e := range dbtest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := t.Context()
			d, err := db.Open(ctx, dbtest.EmptyURL(t, e), db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()

			up, err := d.MigrateUp(ctx, 0)
			if err != nil || len(up) == 0 {
				t.Fatalf("up: %v %v", up, err)
			}
			before := columns(t, d)
			assertAllApplied(t, d, true)

			down, err := d.MigrateDown(ctx, len(up))
			if err != nil || len(down) != len(up) {
				t.Fatalf("down: got %v, %v; want %d versions", down, err, len(up))
			}
			if tables := columns(t, d); len(tables) != 0 {
				t.Fatalf("tables left after down to zero: %v", keys(tables))
			}
			assertAllApplied(t, d, false)

			if _, err := d.MigrateUp(ctx, 0); err != nil {
				t.Fatalf("up again: %v", err)
			}
			if after := columns(t, d); !equalSchemas(before, after) {
				t.Fatalf("schema differs after round trip")
			}
			st, err := d.Schema(ctx)
			if err != nil || st.Behind() || st.Ahead() {
				t.Fatalf("schema state %+v, %v", st, err)
			}
		})
	}
}

func assertAllApplied(t *testing.T, d *db.DB, want bool) {
	t.Helper()
	sts, err := d.MigrationStatuses(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Applied != want {
			t.Errorf("migration %d applied = %v, want %v", s.Version, s.Applied, want)
		}
	}
}

func TestEnginesHaveSameTablesAndColumns(t *testing.T) {
	pg := columns(t, dbtest.Open(t, db.Postgres))
	lite := columns(t, dbtest.Open(t, db.SQLite))
	if len(pg) < 25 {
		t.Fatalf("only %d tables in PostgreSQL", len(pg))
	}
	if !equalSchemas(pg, lite) {
		for table, cols := range pg {
			if !slices.Equal(cols, lite[table]) {
				t.Errorf("%s: postgres %v, sqlite %v", table, cols, lite[table])
			}
		}
		for table := range lite {
			if _, ok := pg[table]; !ok {
				t.Errorf("%s only in sqlite", table)
			}
		}
	}
}

// TestOperatorIndexStatements runs the statements the production guide
// tells operators to run; they must find the columns they name.
func TestOperatorIndexStatements(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	stmts := []string{
		"CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL",
		"CREATE INDEX idx_users_org ON users(organisation_id) WHERE deleted_at IS NULL",
		"CREATE INDEX idx_sessions_token ON sessions(session_token)",
		"CREATE INDEX idx_sessions_expires ON sessions(expires_at)",
		"CREATE INDEX idx_tokens_jti ON tokens(jti)",
		"CREATE INDEX idx_refresh_tokens_token ON refresh_tokens(token_hash)",
		"ANALYZE users; ANALYZE sessions; ANALYZE tokens;",
	}
	for _, s := range stmts {
		if _, err := d.ExecContext(t.Context(), s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestRequiredIndexesExist(t *testing.T) {
	want := []string{
		"organisations_slug_key", "users_email_key", "users_organisation_id_idx",
		"permissions_slug_key", "roles_organisation_id_slug_key",
		"teams_organisation_id_slug_key", "user_roles_role_id_idx", "team_members_user_id_idx",
		"sessions_session_token_key", "sessions_user_id_idx", "sessions_expires_at_idx",
		"account_tokens_token_hash_key", "invitations_token_hash_key", "clients_client_id_key",
		"clients_organisation_id_idx", "authorization_codes_code_hash_key",
		"device_codes_device_code_hash_key", "device_codes_user_code_key", "tokens_jti_key",
		"tokens_user_id_idx", "tokens_family_id_idx", "tokens_expires_at_idx",
		"refresh_tokens_token_hash_key", "refresh_tokens_family_id_idx",
		"consents_user_id_client_id_key", "jwks_kid_key", "client_assertions_client_id_jti_key",
		"api_keys_prefix_key", "webhook_deliveries_due_idx", "webhook_deliveries_endpoint_id_idx",
		"email_outbox_due_idx", "audit_logs_org_created_idx", "audit_logs_org_event_type_idx",
		"audit_logs_user_id_idx", "audit_logs_created_at_idx",
	}
	queries := map[db.Engine]string{
		db.Postgres: "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
		db.SQLite:   "SELECT name FROM sqlite_master WHERE type = 'index'",
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		got := queryStrings(t, d, queries[d.Dialect.Engine()])
		for _, name := range want {
			if !slices.Contains(got, name) {
				t.Errorf("index %s missing", name)
			}
		}
	})
}

func TestTimesAndJSONRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		now := time.Date(2025, 3, 1, 9, 30, 0, 123_000_000, time.UTC)
		_, err := d.ExecContext(ctx, `INSERT INTO scopes
			(id, name, description, is_system, created_at, updated_at)
			VALUES ($1, $2, '', $3, $4, $4)`,
			"0195516f-0000-7000-8000-000000000001", "probe", true, now)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Time
		var sys bool
		err = d.QueryRowContext(ctx, "SELECT created_at, is_system FROM scopes "+
			"WHERE name = $1 AND created_at < $2", "probe", now.Add(time.Millisecond)).
			Scan(db.Time(&got), &sys)
		if err != nil || !got.Equal(now) || !sys {
			t.Fatalf("got %v %v %v, want %v true", got, sys, err, now)
		}
		var deleted *time.Time
		var amr []string
		err = d.QueryRowContext(ctx, "SELECT NULL, $1", db.MustJSON([]string{"pwd", "otp"})).
			Scan(db.NullTime(&deleted), db.JSON(&amr))
		if err != nil || deleted != nil || !slices.Equal(amr, []string{"pwd", "otp"}) {
			t.Fatalf("got %v %v %v", deleted, amr, err)
		}
	})
}

func TestTxRollsBackOnError(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO scopes
				(id, name, created_at, updated_at) VALUES ($1, 'x', $2, $2)`,
				"0195516f-0000-7000-8000-000000000002", time.Now())
			if err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		var n int
		_ = d.QueryRowContext(ctx, "SELECT COUNT(*) FROM scopes").Scan(&n)
		if n != 0 {
			t.Fatalf("rolled back insert is visible: %d rows", n)
		}
	})
}

func TestUniqueViolationIsRecognised(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ins := `INSERT INTO scopes (id, name, created_at, updated_at) VALUES ($1, 'dup', $2, $2)`
		now := time.Now()
		if _, err := d.ExecContext(t.Context(), ins, "0195516f-0000-7000-8000-000000000003",
			now); err != nil {
			t.Fatal(err)
		}
		_, err := d.ExecContext(t.Context(), ins, "0195516f-0000-7000-8000-000000000004", now)
		if !d.Dialect.IsUniqueViolation(err) {
			t.Fatalf("not a unique violation: %v", err)
		}
	})
}

// TestConcurrentWritersSerialise increments one counter from many
// goroutines; every transaction must apply exactly once.
func TestConcurrentWritersSerialise(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		id := "0195516f-0000-7000-8000-000000000005"
		now := time.Now()
		_, err := d.ExecContext(ctx, `INSERT INTO organisations
			(id, slug, name, created_at, updated_at) VALUES ($1, 'o', 'O', $2, $2)`, id, now)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				err := d.Tx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "UPDATE organisations "+
						"SET rbac_version = rbac_version + 1 WHERE id = $1", id)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var v int
		_ = d.QueryRowContext(ctx, "SELECT rbac_version FROM organisations").Scan(&v)
		if v != 21 {
			t.Fatalf("rbac_version = %d, want 21", v)
		}
	})
}

func TestTryLockExcludesSecondHolder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		release, err := d.TryLock(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.TryLock(ctx, "job"); !errors.Is(err, db.ErrLockHeld) {
			t.Fatalf("second lock: %v, want ErrLockHeld", err)
		}
		release()
		again, err := d.TryLock(ctx, "job")
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		again()
	})
}

func TestSQLiteSecondExclusiveOpenFails(t *testing.T) {
	u := dbtest.URL(t, db.SQLite)
	first, err := db.Open(t.Context(), u, db.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = db.Open(t.Context(), u, db.Options{Exclusive: true})
	if !errors.Is(err, db.ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
}

func TestParsePostgresURLStripsPoolParameters(t *testing.T) {
	s, err := db.ParsePostgresURL(
		"postgres://u@h:5432/d?connection_limit=7&pool_timeout=3&application_name=x", "require")
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxOpen != 7 || s.PoolTimeout != 3*time.Second || s.SSLMode != "require" {
		t.Fatalf("got %+v", s)
	}
	if strings.Contains(s.DSN, "connection_limit") || strings.Contains(s.DSN, "pool_timeout") {
		t.Fatalf("pool parameters reached the driver: %s", s.DSN)
	}
	if !strings.Contains(s.DSN, "connect_timeout=5") {
		t.Fatalf("no default connect_timeout: %s", s.DSN)
	}
	s, _ = db.ParsePostgresURL("postgres://u@h/d?sslmode=verify-full&connect_timeout=2",
		"disable")
	if s.SSLMode != "verify-full" || !strings.Contains(s.DSN, "connect_timeout=2") {
		t.Fatalf("the URL's sslmode and connect_timeout must win: %s", s.DSN)
	}
	for _, bad := range []string{"x", "0", "1"} {
		_, err := db.ParsePostgresURL("postgres://h/d?connection_limit="+bad, "")
		if err == nil {
			t.Fatalf("connection_limit=%s accepted", bad)
		}
	}
}

func columns(t *testing.T, d *db.DB) map[string][]string {
	t.Helper()
	var q string
	if d.Dialect.Engine() == db.Postgres {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`
	} else {
		q = `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT IN ('schema_migrations', 'sqlite_sequence')`
	}
	out := map[string][]string{}
	for _, s := range queryStrings(t, d, q) {
		table, col, _ := strings.Cut(s, ".")
		out[table] = append(out[table], col)
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func queryStrings(t *testing.T, d *db.DB, q string) []string {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func equalSchemas(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
