package retention

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// TestMillionExpiredSessions (about a minute on two cores, most of it
// filling the table; skipped with -short) fills PostgreSQL with a million expired
// sessions, runs the sessions job, and meanwhile looks up and creates live
// sessions as logins and authenticated requests would. It checks that every
// expired row went, every live one stayed and every lookup and insert
// succeeded, and logs the figures: how long the purge took and the
// latencies the sessions table showed while it ran.
func TestMillionExpiredSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million rows")
	}
	const expired, live = 1_000_000, 1_000
	ctx := context.Background()
	d := dbtest.Open(t, db.Postgres)
	s := seed{t, d}
	org := s.org(time.Time{})
	user := s.user(org, time.Time{})
	real := time.Now().UTC().Truncate(time.Millisecond)
	start := time.Now()
	s.exec(insertSessions, "old-", user, org, real.Add(-2*time.Hour), real.Add(-time.Hour),
		expired)
	s.exec(insertSessions, "live-", user, org, real, real.Add(time.Hour), live)
	s.exec(`ANALYZE sessions`)
	t.Logf("inserted %d sessions in %s", expired+live, time.Since(start).Round(time.Millisecond))

	r := &Runner{DB: d, Now: func() time.Time { return real }}
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		_, err := r.Run(ctx, Jobs(365 * day)[0])
		done <- err
	}()
	lookups, inserts := exercise(t, d, org, user, real, done)
	took := time.Since(start)

	if n := s.count("sessions", "session_token LIKE 'old-%'"); n != 0 {
		t.Errorf("%d expired sessions left", n)
	}
	if n := s.count("sessions", "session_token LIKE 'live-%'"); n != live {
		t.Errorf("%d live sessions left, want %d", n, live)
	}
	t.Logf("purged %d expired sessions in %s (%d-row transactions)", expired,
		took.Round(time.Millisecond), DefaultBatch)
	t.Logf("meanwhile: %s", summary("lookups by token", lookups))
	t.Logf("meanwhile: %s", summary("session inserts", inserts))
}

// insertSessions adds $6 sessions with tokens $1 || n, created at $4 and
// expiring at $5.
const insertSessions = `INSERT INTO sessions (id, session_token, user_id,
	organisation_id, authenticated_at, idle_timeout, last_activity_at, expires_at,
	created_at, updated_at)
	SELECT gen_random_uuid(), $1 || g, $2, $3, $4, 1800, $4, $5, $4, $4
	FROM generate_series(1, $6) g`

// exercise looks up a live session and inserts a new one, turn by turn,
// until done delivers the purge's outcome; it returns the latencies.
func exercise(t *testing.T, d *db.DB, org, user string, now time.Time,
	done <-chan error) (lookups, inserts []time.Duration) {
	ctx := context.Background()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("purge: %v", err)
			}
			return lookups, inserts
		default:
		}
		begin := time.Now()
		var id string
		err := d.QueryRowContext(ctx, `SELECT id FROM sessions WHERE session_token = $1`,
			fmt.Sprintf("live-%d", i%1000+1)).Scan(&id)
		if err != nil {
			t.Fatalf("lookup during the purge: %v", err)
		}
		lookups = append(lookups, time.Since(begin))
		begin = time.Now()
		_, err = d.ExecContext(ctx, `INSERT INTO sessions (id, session_token, user_id,
			organisation_id, authenticated_at, idle_timeout, last_activity_at, expires_at,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1800, $5, $6, $5, $5)`,
			db.NewID(), "new-"+db.NewID(), user, org, now, now.Add(time.Hour))
		if err != nil {
			t.Fatalf("insert during the purge: %v", err)
		}
		inserts = append(inserts, time.Since(begin))
	}
}

func summary(what string, ds []time.Duration) string {
	if len(ds) == 0 {
		return what + ": none"
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
	return fmt.Sprintf("%d %s, p50 %s, p99 %s, max %s", len(ds), what, at(0.5), at(0.99),
		ds[len(ds)-1])
}
