package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
)

// ErrLockHeld is returned by TryLock when another holder has the lock.
var ErrLockHeld = errors.New("lock held by another instance")

// locker hands out named locks that exclude other instances.
type locker interface {
	tryLock(ctx context.Context, name string) (func(), error)
}

// TryLock takes the named lock without waiting and returns the function
// that releases it, or ErrLockHeld. On PostgreSQL it is a session advisory
// lock, so it excludes every instance on the database and is freed if the
// holder dies; on SQLite, which serves one instance per file, it is a
// process-local lock.
func (d *DB) TryLock(ctx context.Context, name string) (func(), error) {
	return d.locks.tryLock(ctx, name)
}

// LockKey maps a lock name to the 64-bit key of a PostgreSQL advisory lock.
func LockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("cerberus:" + name))
	return int64(h.Sum64())
}

type postgresLocker struct{ db *sql.DB }

func newPostgresLocker(db *sql.DB) locker { return postgresLocker{db: db} }

func (l postgresLocker) tryLock(ctx context.Context, name string) (func(), error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	key := LockKey(name)
	var ok bool
	err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
	if err != nil || !ok {
		_ = conn.Close()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, ErrLockHeld
	}
	return func() {
		// A fresh context: the release must happen even when the
		// caller's context has ended. If it fails, closing the
		// connection with Raw below ends the session and the lock.
		_, err := conn.ExecContext(context.Background(),
			"SELECT pg_advisory_unlock($1)", key)
		if err != nil {
			_ = conn.Raw(func(any) error { return sql.ErrConnDone })
		}
		_ = conn.Close()
	}, nil
}

type localLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

func newLocalLocker() locker { return &localLocker{held: map[string]bool{}} }

func (l *localLocker) tryLock(_ context.Context, name string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, ErrLockHeld
	}
	l.held[name] = true
	return func() {
		l.mu.Lock()
		delete(l.held, name)
		l.mu.Unlock()
	}, nil
}

// LockTx takes the named lock for the rest of the transaction tx, waiting
// while another transaction holds it. It serialises check-then-insert
// steps that no unique index can express, such as "no live row like this
// one yet". On PostgreSQL it is a transaction advisory lock; on SQLite the
// transactions of Tx already exclude each other, so there is nothing to
// take.
func (d *DB) LockTx(ctx context.Context, tx *sql.Tx, name string) error {
	if d.Dialect.Engine() != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", LockKey(name))
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

// LockRows holds, until tx ends, the rows the SELECT query reads, so that
// a change which writes back what it read starts from what the previous
// change committed. query has no locking clause: LockRows adds the
// dialect's RowLock. SQLite transactions already exclude each other, so
// there it runs nothing.
func (d *DB) LockRows(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	lock := d.Dialect.RowLock()
	if lock == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, query+lock, args...); err != nil {
		return fmt.Errorf("lock rows: %w", err)
	}
	return nil
}
