package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// ErrBadURL wraps errors in the DATABASE_URL itself; retrying cannot help.
var ErrBadURL = errors.New("invalid DATABASE_URL")

// ErrInUse is returned when another process serves the SQLite file.
var ErrInUse = errors.New("SQLite database in use by another cerberus process")

// Options tune Open beyond what the URL says.
type Options struct {
	// SSLMode applies to PostgreSQL when the URL has no sslmode.
	SSLMode string
	// Exclusive makes a SQLite open fail when another process holds the
	// file (one serving instance per file).
	Exclusive bool
}

// defaultConnectTimeout, in seconds, bounds each new PostgreSQL connection
// when the URL sets no connect_timeout.
const defaultConnectTimeout = "5"

// MinConnections is the smallest PostgreSQL pool that works: a background
// job holds its cross-instance lock on one connection while it does its
// work on another.
const MinConnections = 2

// Open connects to the database a DATABASE_URL names and checks that it
// answers. PostgreSQL URL parameters connection_limit (maximum open
// connections) and pool_timeout (seconds to wait for a free connection) are
// applied and removed before the URL reaches the driver.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	var (
		d   *DB
		err error
	)
	switch EngineOf(rawURL) {
	case Postgres:
		d, err = openPostgres(rawURL, opts)
	case SQLite:
		d, err = openSQLite(rawURL, opts)
	default:
		return nil, fmt.Errorf("%w: it must start with postgres://, postgresql://, "+
			"sqlite: or file:", ErrBadURL)
	}
	if err != nil {
		return nil, err
	}
	if err := d.PingContext(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return d, nil
}

// PostgresSettings is the outcome of parsing a PostgreSQL DATABASE_URL.
type PostgresSettings struct {
	DSN         string        // URL for the driver, pool parameters removed
	MaxOpen     int           // connection_limit, default 2 × CPUs + 1
	PoolTimeout time.Duration // pool_timeout, default 10 s
	SSLMode     string        // effective sslmode
}

// ParsePostgresURL splits a PostgreSQL URL into driver DSN and pool settings.
func ParsePostgresURL(rawURL, defaultSSLMode string) (PostgresSettings, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return PostgresSettings{}, fmt.Errorf("%w: not a valid URL", ErrBadURL)
	}
	q := u.Query()
	s := PostgresSettings{MaxOpen: 2*runtime.NumCPU() + 1, PoolTimeout: 10 * time.Second}
	if v := q.Get("connection_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < MinConnections {
			return s, fmt.Errorf("%w: connection_limit must be an integer of at least %d",
				ErrBadURL, MinConnections)
		}
		s.MaxOpen = n
	}
	if v := q.Get("pool_timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("%w: pool_timeout must be a non-negative integer",
				ErrBadURL)
		}
		s.PoolTimeout = time.Duration(n) * time.Second
	}
	q.Del("connection_limit")
	q.Del("pool_timeout")
	if q.Get("sslmode") == "" {
		if defaultSSLMode == "" {
			defaultSSLMode = "disable"
		}
		q.Set("sslmode", defaultSSLMode)
	}
	s.SSLMode = q.Get("sslmode")
	if q.Get("connect_timeout") == "" {
		// A database host that stops answering must not hold a
		// request until the operating system gives up on TCP.
		q.Set("connect_timeout", defaultConnectTimeout)
	}
	u.RawQuery = q.Encode()
	s.DSN = u.String()
	return s, nil
}

func openPostgres(rawURL string, opts Options) (*DB, error) {
	s, err := ParsePostgresURL(rawURL, opts.SSLMode)
	if err != nil {
		return nil, err
	}
	sqldb, err := sql.Open("pgx", s.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sqldb.SetMaxOpenConns(s.MaxOpen)
	sqldb.SetMaxIdleConns(s.MaxOpen)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	sqldb.SetConnMaxLifetime(30 * time.Minute)
	return &DB{
		DB:       sqldb,
		Dialect:  postgresDialect{},
		locks:    newPostgresLocker(sqldb),
		poolWait: s.PoolTimeout,
	}, nil
}

// SQLitePath extracts the file path of a sqlite: or file: URL.
func SQLitePath(rawURL string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	p = strings.TrimPrefix(p, "//")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// sqliteMaxOpen bounds SQLite connections: writers are serialised by the
// engine, readers share the WAL.
const sqliteMaxOpen = 8

func openSQLite(rawURL string, opts Options) (*DB, error) {
	path := SQLitePath(rawURL)
	if path == "" {
		return nil, fmt.Errorf("%w: it names no SQLite file", ErrBadURL)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	var release func() error
	if opts.Exclusive {
		r, err := lockInstance(path)
		if err != nil {
			return nil, err
		}
		release = r
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	sqldb := sql.OpenDB(newSQLiteConnector(dsn))
	sqldb.SetMaxOpenConns(sqliteMaxOpen)
	sqldb.SetMaxIdleConns(sqliteMaxOpen)
	return &DB{
		DB:       sqldb,
		Dialect:  sqliteDialect{},
		locks:    newLocalLocker(),
		release:  release,
		poolWait: 10 * time.Second,
	}, nil
}

// lockInstance takes an exclusive lock on PATH.lock so that a second
// serving process on the same file fails fast instead of corrupting state
// it believes it owns alone (locks, caches).
func lockInstance(path string) (func() error, error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open instance lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s (several instances need PostgreSQL)", ErrInUse, path)
	}
	return f.Close, nil
}

// ensure the pgx driver is registered under "pgx".
var _ = stdlib.GetDefaultDriver
