// Package db opens the database behind Cerberus IAM (PostgreSQL or embedded
// SQLite), runs transactions with retry, applies the embedded migrations and
// hands out cross-instance locks.
//
// One SQL code path serves both engines: queries use positional `$1`
// placeholders, times are passed as time.Time and scanned with Time and
// NullTime, JSON values are passed as strings and scanned with JSON. The few
// real differences between the engines sit behind Dialect.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common. Domain code
// takes a Querier so the same helper runs inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open database with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect

	locks    locker
	release  func() error
	poolWait time.Duration

	// TxHook, when set, is called as each transaction starts; the function
	// it returns is called with the outcome. Tracing uses it for spans.
	TxHook func(ctx context.Context) (context.Context, func(error))
}

// ErrPoolTimeout is returned when no connection became free within the
// configured pool timeout. The HTTP layer answers it with 503.
var ErrPoolTimeout = errors.New("database connection pool exhausted")

// maxTxAttempts bounds the retries of a transaction that lost a
// serialization race or met a busy database.
const maxTxAttempts = 5

// Tx runs fn in a transaction and commits it when fn returns nil. A
// transaction that fails with a serialization failure, a deadlock or a busy
// SQLite database is retried from the start, so fn must have no effects
// outside the transaction. So is, once, a transaction whose pooled
// connection turns out to be dead before the commit is sent (the database
// restarted since it was last used): nothing was committed, and another
// connection may work. Any other error rolls back and is returned as is.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if d.TxHook != nil {
		var done func(error)
		ctx, done = d.TxHook(ctx)
		defer func() { done(err) }()
	}
	retriedLoss := false
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = d.runTx(ctx, fn)
		var lost *connLost
		if errors.As(err, &lost) && !retriedLoss && ctx.Err() == nil {
			retriedLoss = true
			continue
		}
		if err == nil || !d.Dialect.IsRetryable(err) {
			return err
		}
		if werr := sleepCtx(ctx, backoff(attempt)); werr != nil {
			return err
		}
	}
	return fmt.Errorf("transaction failed after %d attempts: %w", maxTxAttempts, err)
}

func (d *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := d.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return lostOr(fmt.Errorf("begin: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return lostOr(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// acquire takes a connection from the pool, turning a wait longer than the
// pool timeout into ErrPoolTimeout.
func (d *DB) acquire(ctx context.Context) (*sql.Conn, error) {
	wctx := ctx
	if d.poolWait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeoutCause(ctx, d.poolWait, ErrPoolTimeout)
		defer cancel()
	}
	conn, err := d.Conn(wctx)
	if err == nil {
		return conn, nil
	}
	if errors.Is(context.Cause(wctx), ErrPoolTimeout) && ctx.Err() == nil {
		return nil, ErrPoolTimeout
	}
	return nil, fmt.Errorf("acquire connection: %w", err)
}

// Close closes the pool and releases the SQLite instance lock.
func (d *DB) Close() error {
	err := d.DB.Close()
	if d.release != nil {
		if rerr := d.release(); err == nil {
			err = rerr
		}
	}
	return err
}

// Ping checks that the database answers within ctx. The PostgreSQL driver
// checks a pooled connection before reuse only when it has been idle for a
// second, so after a database restart a recently used connection fails the
// ping although the database answers again. Ping drops such a connection
// and tries another, at most once per connection the pool can hold, so a
// restart that is over does not read as an outage.
func (d *DB) Ping(ctx context.Context) error {
	var err error
	for range d.Stats().MaxOpenConnections + 1 {
		err = d.PingContext(ctx)
		if !errors.Is(err, driver.ErrBadConn) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// connLost is the error of a transaction whose connection died before its
// commit was sent.
type connLost struct{ err error }

func (e *connLost) Error() string { return e.err.Error() }
func (e *connLost) Unwrap() error { return e.err }

// lostOr marks err as connLost when it says the connection is gone.
func lostOr(err error) error {
	if IsUnavailable(err) {
		return &connLost{err}
	}
	return err
}

func backoff(attempt int) time.Duration {
	return time.Duration(attempt*attempt) * 5 * time.Millisecond
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
