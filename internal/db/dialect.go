package db

import (
	"errors"
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

func (postgresDialect) IsRetryable(err error) bool {
	code := pgCode(err)
	return code == "40001" || code == "40P01"
}

func (postgresDialect) IsUniqueViolation(err error) bool { return pgCode(err) == "23505" }

func (postgresDialect) IsForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

func (postgresDialect) JSONArrayContains(column, placeholder string) string {
	return column + " @> jsonb_build_array(" + placeholder + "::text)"
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

type sqliteDialect struct{}

func (sqliteDialect) Engine() Engine     { return SQLite }
func (sqliteDialect) SkipLocked() string { return "" }

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
