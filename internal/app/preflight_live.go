package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// liveOptions tune the preflight checks that reach the database and the
// mail server.
type liveOptions struct {
	// timeout bounds each connection attempt.
	timeout time.Duration
	// smtp shapes the mail server check (tests trust their own CA).
	smtp smtpProbe
	now  func() time.Time
}

// defaultLiveOptions are the options of `cerberus preflight`.
func defaultLiveOptions() liveOptions {
	return liveOptions{timeout: 5 * time.Second, now: time.Now,
		smtp: smtpProbe{timeout: 5 * time.Second}}
}

// Names of the rows that need the database, in the order they print.
const (
	rowDBConnection   = "Database connection"
	rowDBLiveTLS      = "Database TLS (live connection)"
	rowMigrations     = "Migrations"
	rowAdminMFA       = "Owner/Admin MFA"
	rowPasswordPolicy = "Password policies"
	rowSMTPTLS        = "SMTP TLS"
	rowBackups        = "Backups"
)

// signingAlgorithms are the algorithms with one active signing key at all
// times.
var signingAlgorithms = []string{"EdDSA", "RS256"}

func signingKeyRow(alg string) string { return "Signing key " + alg }

// liveChecks runs the checks that need the database and the network: the
// database rows and the SMTP row run concurrently, each bounded by
// o.timeout, and the backup reminder closes the list.
func liveChecks(ctx context.Context, cfg *config.Config, o liveOptions) []config.Check {
	var (
		wg     sync.WaitGroup
		dbRows []config.Check
		mail   config.Check
	)
	wg.Go(func() { dbRows = databaseChecks(ctx, cfg, o) })
	wg.Go(func() { mail = o.smtp.check(ctx, cfg, o.now()) })
	wg.Wait()
	return append(dbRows, mail, backupCheck(cfg))
}

// databaseChecks opens the configured database and judges it. When it
// cannot be opened every database row fails with the reason.
func databaseChecks(ctx context.Context, cfg *config.Config, o liveOptions) []config.Check {
	d, err := openForPreflight(ctx, cfg, o.timeout)
	if err != nil {
		return unreachableRows(cfg, err)
	}
	defer d.Close()
	qctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()

	rows := []config.Check{{Name: rowDBConnection, Status: config.Pass,
		Detail: describeDatabase(cfg.DatabaseURL)}}
	rows = append(rows, liveTLSCheck(qctx, d))
	schema := migrationsCheck(qctx, d)
	rows = append(rows, schema)
	if schema.Status == config.Fail {
		return append(rows, notChecked(dataRowNames(),
			"the schema is not current", "run `cerberus migrate up`")...)
	}
	rows = append(rows, signingKeyChecks(qctx, d, cfg, o.now())...)
	rows = append(rows, adminMFACheck(qctx, d), passwordPolicyCheck(qctx, d))
	return rows
}

// openForPreflight opens the database once, without the retries of serve.
// A missing SQLite file is an error: preflight must not create one.
func openForPreflight(ctx context.Context, cfg *config.Config,
	timeout time.Duration) (*db.DB, error) {
	if db.EngineOf(cfg.DatabaseURL) == db.SQLite {
		path := db.SQLitePath(cfg.DatabaseURL)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("SQLite database file %s: %w", path, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return db.Open(ctx, cfg.DatabaseURL, db.Options{SSLMode: cfg.DBSSLMode})
}

// unreachableRows are the database rows when no connection could be made.
func unreachableRows(cfg *config.Config, err error) []config.Check {
	fix := "check DATABASE_URL, that the database server runs and that this " +
		"host may connect to it (firewall, pg_hba.conf, credentials)"
	if errors.Is(err, db.ErrBadURL) {
		fix = "correct DATABASE_URL (see docs/configuration.md)"
	}
	first := config.Check{Name: rowDBConnection, Status: config.Fail,
		Detail: "cannot connect: " + redactURLPassword(err.Error(), cfg.DatabaseURL),
		Fix:    fix}
	names := append([]string{rowDBLiveTLS, rowMigrations}, dataRowNames()...)
	return append([]config.Check{first},
		notChecked(names, "the database is unreachable", "fix the Database connection row")...)
}

// dataRowNames are the rows that read tables of the schema.
func dataRowNames() []string {
	var names []string
	for _, alg := range signingAlgorithms {
		names = append(names, signingKeyRow(alg))
	}
	return append(names, rowAdminMFA, rowPasswordPolicy)
}

// notChecked fails each named row with the reason it could not be judged.
func notChecked(names []string, reason, fix string) []config.Check {
	out := make([]config.Check, 0, len(names))
	for _, n := range names {
		out = append(out, config.Check{Name: n, Status: config.Fail,
			Detail: "not checked: " + reason, Fix: fix})
	}
	return out
}

// redactURLPassword removes the password of rawURL from msg, in case a
// driver error repeats it.
func redactURLPassword(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// describeDatabase names the engine and where it is, without credentials.
func describeDatabase(rawURL string) string {
	if db.EngineOf(rawURL) == db.SQLite {
		return "SQLite at " + db.SQLitePath(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "PostgreSQL"
	}
	return "PostgreSQL at " + u.Host + u.Path
}

// liveTLSCheck asks PostgreSQL whether this very connection is encrypted
// (pg_stat_ssl). An unencrypted connection warns, as sslmode below require
// does in the configuration rows.
func liveTLSCheck(ctx context.Context, d *db.DB) config.Check {
	ck := config.Check{Name: rowDBLiveTLS}
	if d.Dialect.Engine() != db.Postgres {
		ck.Status, ck.Detail = config.Pass, "not applicable: embedded SQLite"
		return ck
	}
	var on bool
	var version string
	err := d.QueryRowContext(ctx, `SELECT ssl, COALESCE(version, '') FROM pg_stat_ssl
		WHERE pid = pg_backend_pid()`).Scan(&on, &version)
	switch {
	case err != nil:
		ck.Status, ck.Detail = config.Warn, "pg_stat_ssl could not be read: "+err.Error()
		ck.Fix = "grant this role access to pg_stat_ssl, or check TLS on the server"
	case !on:
		ck.Status, ck.Detail = config.Warn, "the connection to PostgreSQL is not encrypted"
		ck.Fix = "enable ssl on the server and set sslmode=require (or verify-full) in " +
			"DATABASE_URL or DB_SSL_MODE"
	default:
		ck.Status, ck.Detail = config.Pass, "encrypted with "+version+" (pg_stat_ssl)"
	}
	return ck
}

// migrationsCheck compares the schema with the binary's migrations.
func migrationsCheck(ctx context.Context, d *db.DB) config.Check {
	ck := config.Check{Name: rowMigrations}
	st, err := d.Schema(ctx)
	switch {
	case err != nil:
		ck.Status, ck.Detail = config.Fail, "schema version unreadable: "+err.Error()
		ck.Fix = "run `cerberus migrate status` to see what is wrong"
	case st.Behind():
		ck.Status = config.Fail
		ck.Detail = fmt.Sprintf("schema at version %d, this binary needs %d",
			st.Current, st.Latest)
		ck.Fix = "run `cerberus migrate up` before starting this version"
	case st.Ahead():
		ck.Status = config.Warn
		ck.Detail = fmt.Sprintf("schema at version %d is newer than this binary (%d)",
			st.Current, st.Latest)
		ck.Fix = "expected only during a rolling upgrade: deploy the newer binary"
	default:
		ck.Status, ck.Detail = config.Pass, fmt.Sprintf("schema at version %d", st.Current)
	}
	return ck
}
