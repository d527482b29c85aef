package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// restartable is a fresh PostgreSQL database with a superuser connection
// that can end its sessions and close it to new ones, as a restart does.
type restartable struct {
	t     *testing.T
	d     *db.DB
	name  string
	admin *sql.DB
}

func newRestartable(t *testing.T) *restartable {
	t.Helper()
	u := dbtest.URL(t, db.Postgres)
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, name: strings.TrimPrefix(parsed.Path, "/")}
	if r.admin, err = sql.Open("pgx", dbtest.PostgresURL()); err != nil {
		t.Fatal(err)
	}
	// Runs before the database is dropped, which needs connections.
	t.Cleanup(func() {
		r.allow(true)
		_ = r.admin.Close()
	})
	if r.d, err = db.Open(t.Context(), u, db.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.d.Close() })
	return r
}

// terminate ends every session on the database but the admin's own and
// waits until their processes are gone.
func (r *restartable) terminate() {
	r.t.Helper()
	var alive int
	err := r.admin.QueryRow(`SELECT count(*) FILTER (WHERE NOT pg_terminate_backend(pid, 5000))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
		r.name).Scan(&alive)
	if err != nil || alive > 0 {
		r.t.Fatalf("terminate: %d sessions left, %v", alive, err)
	}
}

func (r *restartable) allow(on bool) {
	_, err := r.admin.Exec(fmt.Sprintf(`ALTER DATABASE "%s" ALLOW_CONNECTIONS %t`, r.name, on))
	if err != nil {
		r.t.Errorf("allow connections %t: %v", on, err)
	}
}

func TestIsUnavailableOnPostgres(t *testing.T) {
	r := newRestartable(t)
	ctx := t.Context()

	// A session terminated while a connection holds it.
	conn, err := r.d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r.terminate()
	_, err = conn.ExecContext(ctx, "SELECT 1")
	if !db.IsUnavailable(err) {
		t.Errorf("query on a terminated session: IsUnavailable(%v) = false", err)
	}

	// A database closed to connections.
	r.allow(false)
	r.terminate()
	_, err = r.d.ExecContext(ctx, "SELECT 1")
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || !db.IsUnavailable(err) {
		t.Errorf("query while connections are refused: IsUnavailable(%v) = false", err)
	}
	if err := r.d.Ping(ctx); !db.IsUnavailable(err) {
		t.Errorf("ping while connections are refused: IsUnavailable(%v) = false", err)
	}

	// Errors about the request itself.
	r.allow(true)
	_, err = r.d.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at)
		SELECT version, applied_at FROM schema_migrations LIMIT 1`)
	if err == nil || !r.d.Dialect.IsUniqueViolation(err) || db.IsUnavailable(err) {
		t.Errorf("unique violation: IsUnavailable(%v) = true", err)
	}
	err = r.d.QueryRowContext(ctx, "SELECT 1 WHERE FALSE").Scan(new(int))
	if db.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = true", err)
	}
}

func TestIsUnavailableOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, sql.ErrNoRows, db.ErrPoolTimeout, context.Canceled,
		fmt.Errorf("read user: %w", context.DeadlineExceeded), errors.New("boom"),
		&pgconn.PgError{Code: "40001"}, &pgconn.PgError{Code: "55000"}} {
		if db.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true", err)
		}
	}
	for _, err := range []error{&pgconn.PgError{Code: "57P01"},
		fmt.Errorf("read user: %w", &pgconn.PgError{Code: "08006"}),
		&pgconn.PgError{Code: "57P03"}} {
		if !db.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = false", err)
		}
	}
}

// TestIsUnavailableWhenNothingListens covers a database server that is
// down: the connection is refused.
func TestIsUnavailableWhenNothingListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	// Bounded, should something else take the port meanwhile and not answer.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	d, err := db.Open(ctx, "postgres://cerberus@"+addr+"/none", db.Options{})
	if err == nil {
		_ = d.Close()
		t.Fatal("open succeeded with nothing listening")
	}
	if !db.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false", err)
	}
}

// TestIsUnavailableWhenTheServerVanishes covers a database server that
// dies without a word (a crash, a dropped network): the socket closes
// under a query.
func TestIsUnavailableWhenTheServerVanishes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go vanishAfterStartup(c)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	d, err := db.Open(ctx, "postgres://cerberus@"+l.Addr().String()+"/none", db.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer d.Close()
	_, err = d.ExecContext(ctx, "SELECT 1")
	if err == nil || !db.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false", err)
	}
}

// vanishAfterStartup accepts a connection like PostgreSQL with trust
// authentication, answers the driver's pings and closes the socket on the
// first statement.
func vanishAfterStartup(c net.Conn) {
	defer c.Close()
	be := pgproto3.NewBackend(c, c)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if q, ok := msg.(*pgproto3.Query); !ok || q.String != "-- ping" {
			return
		}
		be.Send(&pgproto3.EmptyQueryResponse{})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if be.Flush() != nil {
			return
		}
	}
}

// TestPingAfterRestart checks that a ping right after every session was
// terminated succeeds on a new connection instead of reporting the dead
// pooled one, which the driver does not check when it was used in the
// last second.
func TestPingAfterRestart(t *testing.T) {
	r := newRestartable(t)
	ctx := t.Context()
	for range 3 {
		if _, err := r.d.ExecContext(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	r.terminate()
	if err := r.d.Ping(ctx); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
	if _, err := r.d.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
}

// TestSchemaOnDeadConnection checks that reading the schema version on a
// connection a restart killed fails at once as a lost connection, rather
// than goose trying to create its table again for seconds on it.
func TestSchemaOnDeadConnection(t *testing.T) {
	r := newRestartable(t)
	r.d.SetMaxOpenConns(1)
	for range 3 {
		if _, err := r.d.Schema(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	r.terminate()
	// goose waits a second between its attempts; a fast failure comes
	// well within this.
	ctx, cancel := context.WithTimeout(t.Context(), 900*time.Millisecond)
	defer cancel()
	if _, err := r.d.Schema(ctx); !db.IsUnavailable(err) {
		t.Errorf("schema on a dead connection: IsUnavailable(%v) = false", err)
	}
	if _, err := r.d.Schema(t.Context()); err != nil {
		t.Errorf("schema on a new connection: %v", err)
	}
}

// TestTxRunsAgainAfterARestart ends the session of a running transaction
// before it commits: the transaction runs again on a fresh connection and
// commits once. An outage that lasts is not retried.
func TestTxRunsAgainAfterARestart(t *testing.T) {
	r := newRestartable(t)
	ctx := t.Context()
	if _, err := r.d.ExecContext(ctx, `CREATE TABLE marks (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := r.d.Tx(ctx, func(tx *sql.Tx) error {
		attempts++
		if _, err := tx.ExecContext(ctx, `INSERT INTO marks VALUES (1)`); err != nil {
			return err
		}
		if attempts == 1 {
			r.terminate()
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO marks VALUES (2)`)
		return err
	})
	if err != nil || attempts != 2 {
		t.Fatalf("tx after a restart: %v after %d attempts, want success after 2", err, attempts)
	}
	var n int
	if err := r.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM marks`).Scan(&n); err != nil ||
		n != 2 {
		t.Fatalf("%d rows committed (%v), want the 2 of one run", n, err)
	}

	attempts = 0
	err = r.d.Tx(ctx, func(tx *sql.Tx) error {
		attempts++
		r.terminate()
		_, err := tx.ExecContext(ctx, `SELECT 1`)
		return err
	})
	if !db.IsUnavailable(err) || attempts != 2 {
		t.Fatalf("a lasting loss: %v after %d attempts, want unavailable after 2", err, attempts)
	}
}
