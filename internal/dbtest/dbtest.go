// Package dbtest hands tests a fresh, migrated database on each engine.
//
// PostgreSQL databases are cloned from a migrated template database (made
// once per schema version, under an advisory lock, so parallel test binaries
// share it) and dropped when the test ends. SQLite databases are new files
// in the test's temporary directory. The PostgreSQL server is the one of
// CERBERUS_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver
)

// DefaultPostgresURL is the server used when CERBERUS_TEST_POSTGRES_URL is
// unset: the PostgreSQL of the development machine and of CI.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the URL of the PostgreSQL server tests use.
func PostgresURL() string {
	if v := os.Getenv("CERBERUS_TEST_POSTGRES_URL"); v != "" {
		return v
	}
	return DefaultPostgresURL
}

// Engines lists the engines every storage test runs on.
var Engines = []db.Engine{db.Postgres, db.SQLite}

// Each runs fn as a subtest per engine, each with its own fresh database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

// Open returns a fresh migrated database of engine e, closed and removed
// when t ends.
func Open(t testing.TB, e db.Engine) *db.DB {
	t.Helper()
	u := URL(t, e)
	d, err := db.Open(context.Background(), u, db.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", e, err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// URL creates a fresh migrated database of engine e and returns its
// DATABASE_URL, for tests that start the binary. It is removed when t ends.
func URL(t testing.TB, e db.Engine) string {
	t.Helper()
	if e == db.SQLite {
		return sqliteURL(t, true)
	}
	return postgresURL(t, true)
}

// EmptyURL creates an empty, unmigrated database of engine e.
func EmptyURL(t testing.TB, e db.Engine) string {
	t.Helper()
	if e == db.SQLite {
		return sqliteURL(t, false)
	}
	return postgresURL(t, false)
}

func sqliteURL(t testing.TB, migrate bool) string {
	t.Helper()
	u := "sqlite:" + filepath.Join(t.TempDir(), "cerberus.db")
	if migrate {
		d, err := db.Open(context.Background(), u, db.Options{})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		defer d.Close()
		if _, err := d.MigrateUp(context.Background(), 0); err != nil {
			t.Fatalf("migrate sqlite: %v", err)
		}
	}
	return u
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

func postgresURL(t testing.TB, migrate bool) string {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	source := "template0"
	if migrate {
		templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, admin) })
		if templateErr != nil {
			t.Fatalf("postgres template: %v", templateErr)
		}
		source = templateName
	}
	name := "cerb_t_" + randomHex(8)
	if _, err := admin.ExecContext(ctx,
		fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, source)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return withDatabase(t, name)
}

func dropDatabase(name string) {
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
}

func withDatabase(t testing.TB, name string) string {
	t.Helper()
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("parse postgres url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate creates, once per schema version, a migrated database that
// test databases are cloned from. An advisory lock serialises creation
// across test processes.
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	key := db.LockKey("dbtest-template")
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key) //nolint:errcheck

	name := "cerb_tmpl_" + db.SchemaFingerprint()
	var exists bool
	err = conn.QueryRowContext(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil || exists {
		return name, err
	}
	building := name + "_build"
	_, _ = conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s", building))
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := migrateDatabase(ctx, building); err != nil {
		return "", err
	}
	_, err = conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name))
	return name, err
}

func migrateDatabase(ctx context.Context, name string) error {
	u, err := url.Parse(PostgresURL())
	if err != nil {
		return err
	}
	u.Path = "/" + name
	d, err := db.Open(ctx, u.String(), db.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	_, err = d.MigrateUp(ctx, 0)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
