package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a supported database engine.
type Engine string

// The supported engines.
const (
	Postgres Engine = "postgres"
	SQLite   Engine = "sqlite"
)

// Dialect holds what differs between the engines. Everything else is plain
// SQL that both accept.
type Dialect interface {
	// Engine names the engine.
	Engine() Engine
	// SkipLocked is the suffix that makes a SELECT claim rows other
	// transactions have not locked; empty where writers are serialised.
	SkipLocked() string
	// RowLock is the suffix that makes a SELECT inside a transaction hold
	// the rows it reads until the transaction ends (not against inserts
	// that reference them); empty where writers are serialised.
	RowLock() string
	// IsRetryable reports a serialization failure, deadlock or busy database.
	IsRetryable(err error) bool
	// IsUniqueViolation reports a unique constraint or index violation.
	IsUniqueViolation(err error) bool
	// IsForeignKeyViolation reports a foreign key violation.
	IsForeignKeyViolation(err error) bool
	// JSONArrayContains returns a condition true when the JSON array in
	// column holds the string bound to placeholder (such as "$1").
	JSONArrayContains(column, placeholder string) string
}

type postgresDialect struct{}

func (postgresDialect) Engine() Engine     { return Postgres }
func (postgresDialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) RowLock() string    { return " FOR NO KEY UPDATE" }

func (postgresDialect) IsRetryable(err error) bool {
	code := pgCode(err)
	return code == "40001" || code == "40P01"
}

func (postgresDialect) IsUniqueViolation(err error) bool { return pgCode(err) == "23505" }

func (postgresDialect) IsForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

func (postgresDialect) JSONArrayContains(column, placeholder string) string {
	return column + " @> jsonb_build_array(" + placeholder + "::text)"
}

// IsBadText reports whether PostgreSQL refused a text value it cannot
// store: a NUL character or a byte sequence that is not UTF-8 (SQLSTATE
// 22021), or a \u0000 escape in a JSON value (22P05). SQLite stores both,
// so the error only comes from PostgreSQL. It is the caller's input at
// fault, never the server.
func IsBadText(err error) bool {
	code := pgCode(err)
	return code == "22021" || code == "22P05"
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsUnavailable reports an error that says the database cannot be reached
// right now rather than anything about the request: no connection could be
// made (refused, unreachable, the database shutting down or closed to
// connections), or an open connection was lost (terminated by an
// administrator or a restart, reset, closed by the server). Such a
// failure passes once the database is back, and the pool replaces the
// dead connection. A full pool is ErrPoolTimeout, matched with errors.Is;
// an ended context is the request's own deadline or cancellation, never
// the database's.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne):
		return true
	}
	code := pgCode(err)
	// Class 08 is a connection exception; 57P01-57P03 are the
	// administrator, crash and startup shutdowns of the server.
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" ||
		code == "57P03"
}

type sqliteDialect struct{}

func (sqliteDialect) Engine() Engine     { return SQLite }
func (sqliteDialect) SkipLocked() string { return "" }
func (sqliteDialect) RowLock() string    { return "" }

func (sqliteDialect) IsRetryable(err error) bool {
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

func (sqliteDialect) IsUniqueViolation(err error) bool {
	code := sqliteExtCode(err)
	return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (sqliteDialect) IsForeignKeyViolation(err error) bool {
	return sqliteExtCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func (sqliteDialect) JSONArrayContains(column, placeholder string) string {
	return "EXISTS (SELECT 1 FROM json_each(" + column + ") WHERE value = " + placeholder + ")"
}

func sqliteExtCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func sqliteCode(err error) int {
	return sqliteExtCode(err) & 0xff
}

// dialectFor returns the dialect of an engine.
func dialectFor(e Engine) Dialect {
	if e == Postgres {
		return postgresDialect{}
	}
	return sqliteDialect{}
}

// EngineOf tells which engine a DATABASE_URL names, or "" when it names none.
func EngineOf(url string) Engine {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return Postgres
	case strings.HasPrefix(url, "sqlite:"), strings.HasPrefix(url, "file:"):
		return SQLite
	}
	return ""
}
