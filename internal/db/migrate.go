package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

//go:embed migrations
var migrationFiles embed.FS

// MigrationTable records applied migrations: (version, applied_at).
const MigrationTable = "schema_migrations"

// MigrationStatus describes one migration known to the binary.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt *time.Time
}

// SchemaState compares the database schema with the binary's migrations.
type SchemaState struct {
	Current int64 // highest applied version, 0 for an empty database
	Latest  int64 // highest version the binary knows
}

// Behind reports a schema older than the binary.
func (s SchemaState) Behind() bool { return s.Current < s.Latest }

// Ahead reports a schema newer than the binary (a rolling upgrade).
func (s SchemaState) Ahead() bool { return s.Current > s.Latest }

// ErrSchemaBehind is returned when the schema is older than the binary.
var ErrSchemaBehind = errors.New("database schema is behind the binary")

func (d *DB) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrationFiles, "migrations/"+string(d.Dialect.Engine()))
	if err != nil {
		return nil, err
	}
	store := &migrationStore{engine: d.Dialect.Engine()}
	return goose.NewProvider("", d.DB, dir,
		goose.WithStore(store), goose.WithDisableGlobalRegistry(true))
}

// MigrateUp applies up to n pending migrations (all when n <= 0) and
// returns the versions applied. On PostgreSQL an advisory lock keeps two
// instances from migrating at once.
func (d *DB) MigrateUp(ctx context.Context, n int) ([]int64, error) {
	return d.migrate(ctx, func(p *goose.Provider) ([]*goose.MigrationResult, error) {
		if n <= 0 {
			return p.Up(ctx)
		}
		var all []*goose.MigrationResult
		for range n {
			r, err := p.UpByOne(ctx)
			if errors.Is(err, goose.ErrNoNextVersion) {
				break
			}
			if err != nil {
				return all, err
			}
			all = append(all, r)
		}
		return all, nil
	})
}

// MigrateDown reverts the n most recent migrations (one when n <= 0).
func (d *DB) MigrateDown(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		n = 1
	}
	return d.migrate(ctx, func(p *goose.Provider) ([]*goose.MigrationResult, error) {
		var all []*goose.MigrationResult
		for range n {
			r, err := p.Down(ctx)
			if errors.Is(err, goose.ErrNoNextVersion) {
				break
			}
			if err != nil {
				return all, err
			}
			all = append(all, r)
		}
		return all, nil
	})
}

func (d *DB) migrate(
	ctx context.Context, run func(*goose.Provider) ([]*goose.MigrationResult, error),
) ([]int64, error) {
	release, err := d.waitLock(ctx, "migrate")
	if err != nil {
		return nil, err
	}
	defer release()
	p, err := d.provider()
	if err != nil {
		return nil, err
	}
	results, err := run(p)
	versions := make([]int64, 0, len(results))
	for _, r := range results {
		versions = append(versions, r.Source.Version)
	}
	if err != nil {
		return versions, fmt.Errorf("migrate: %w", err)
	}
	return versions, nil
}

// waitLock takes a lock, polling until it is free or ctx ends.
func (d *DB) waitLock(ctx context.Context, name string) (func(), error) {
	for {
		release, err := d.TryLock(ctx, name)
		if !errors.Is(err, ErrLockHeld) {
			return release, err
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return nil, fmt.Errorf("wait for %s lock: %w", name, err)
		}
	}
}

// MigrationStatuses lists every migration of the binary with its state.
func (d *DB) MigrationStatuses(ctx context.Context) ([]MigrationStatus, error) {
	p, err := d.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		ms := MigrationStatus{Version: s.Source.Version, Name: baseName(s.Source.Path)}
		if s.State == goose.StateApplied {
			ms.Applied = true
			at := s.AppliedAt
			ms.AppliedAt = &at
		}
		out = append(out, ms)
	}
	return out, nil
}

// Schema reports the applied and the latest known schema versions.
func (d *DB) Schema(ctx context.Context) (SchemaState, error) {
	p, err := d.provider()
	if err != nil {
		return SchemaState{}, err
	}
	var s SchemaState
	s.Current, err = p.GetDBVersion(ctx)
	if err != nil {
		return s, fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		s.Latest = srcs[len(srcs)-1].Version
	}
	return s, nil
}

func baseName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// migrationStore keeps goose's bookkeeping in schema_migrations.
type migrationStore struct{ engine Engine }

var _ database.StoreExtender = (*migrationStore)(nil)

func (s *migrationStore) Tablename() string { return MigrationTable }

// TableExists answers from the catalogue whether the bookkeeping table
// exists. Without it goose probes with a query and, when that fails, tries
// to create the table again and again for seconds, which is what a dead
// connection after a database restart would make it do.
func (s *migrationStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	q := "SELECT EXISTS (SELECT 1 FROM pg_tables " +
		"WHERE schemaname = current_schema() AND tablename = $1)"
	if s.engine == SQLite {
		q = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)"
	}
	var exists bool
	err := db.QueryRowContext(ctx, q, MigrationTable).Scan(&exists)
	return exists, err
}

func (s *migrationStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	typ := "TEXT"
	if s.engine == Postgres {
		typ = "timestamptz(3)"
	}
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+MigrationTable+
		" (version BIGINT PRIMARY KEY, applied_at "+typ+" NOT NULL)")
	return err
}

func (s *migrationStore) Insert(
	ctx context.Context, db database.DBTxConn, req database.InsertRequest,
) error {
	now := time.Now().UTC()
	var at any = now
	if s.engine == SQLite {
		at = FormatTime(now)
	}
	_, err := db.ExecContext(ctx, "INSERT INTO "+MigrationTable+
		" (version, applied_at) VALUES ($1, $2)", req.Version, at)
	return err
}

func (s *migrationStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	_, err := db.ExecContext(ctx, "DELETE FROM "+MigrationTable+" WHERE version = $1", version)
	return err
}

func (s *migrationStore) GetMigration(
	ctx context.Context, db database.DBTxConn, version int64,
) (*database.GetMigrationResult, error) {
	var at time.Time
	err := db.QueryRowContext(ctx, "SELECT applied_at FROM "+MigrationTable+
		" WHERE version = $1", version).Scan(Time(&at))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %d", database.ErrVersionNotFound, version)
		}
		return nil, err
	}
	return &database.GetMigrationResult{Timestamp: at, IsApplied: true}, nil
}

func (s *migrationStore) GetLatestVersion(
	ctx context.Context, db database.DBTxConn,
) (int64, error) {
	var v *int64
	err := db.QueryRowContext(ctx, "SELECT MAX(version) FROM "+MigrationTable).Scan(&v)
	if err != nil {
		return -1, err
	}
	if v == nil {
		return -1, database.ErrVersionNotFound
	}
	return *v, nil
}

func (s *migrationStore) ListMigrations(
	ctx context.Context, db database.DBTxConn,
) ([]*database.ListMigrationsResult, error) {
	rows, err := db.QueryContext(ctx, "SELECT version FROM "+MigrationTable+
		" ORDER BY version DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*database.ListMigrationsResult
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, &database.ListMigrationsResult{Version: v, IsApplied: true})
	}
	return out, rows.Err()
}

// SchemaFingerprint is a short hash of every embedded migration file. It
// changes whenever a migration does, so caches of a migrated schema (such as
// the test template database) can be keyed on it.
func SchemaFingerprint() string {
	h := sha256.New()
	_ = fs.WalkDir(migrationFiles, "migrations", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return err
		}
		_, _ = io.WriteString(h, path)
		_, _ = h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}
