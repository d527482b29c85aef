package retention

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func runner(d *db.DB) *Runner {
	return &Runner{DB: d, Now: func() time.Time { return now }}
}

func TestExpiryRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := seed{t, d}
		org := s.org(time.Time{})
		user := s.user(org, time.Time{})
		client := s.client(org, time.Time{})
		live := s.session(org, user, now.Add(time.Hour), ago(time.Minute))
		s.session(org, user, ago(time.Second), ago(time.Minute))      // past its expiry
		s.session(org, user, now.Add(time.Hour), ago(31*time.Minute)) // idle too long
		s.token(org, user, client, ago(8*day))
		s.token(org, user, client, ago(6*day))
		s.exec(`INSERT INTO account_tokens (id, user_id, purpose, token_hash, expires_at,
			consumed_at, created_at) VALUES ($1, $2, 'password_reset', 'a', $3, $4, $3),
			($5, $2, 'password_reset', 'b', $6, NULL, $6)`,
			db.NewID(), user, now.Add(time.Hour), ago(25*time.Hour), db.NewID(), ago(23*time.Hour))
		s.exec(`INSERT INTO client_assertions (id, jti, client_id, expires_at, created_at)
			VALUES ($1, 'j1', $2, $3, $3), ($4, 'j2', $2, $5, $3)`,
			db.NewID(), client, ago(time.Second), db.NewID(), now.Add(time.Minute))
		s.exec(`INSERT INTO jwks (id, kid, alg, public_key, status, retired_at, created_at,
			updated_at) VALUES ($1, 'k1', 'EdDSA', '{}', 'retired', $2, $2, $2),
			($3, 'k2', 'EdDSA', '{}', 'retired', $4, $4, $4)`,
			db.NewID(), ago(8*day), db.NewID(), ago(6*day))
		s.exec(`INSERT INTO consents (id, user_id, client_id, organisation_id, granted_at,
			revoked_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5, $5)`,
			db.NewID(), user, client, org, ago(731*day))
		ep := s.endpoint(org, nil)
		s.delivery(org, ep, ago(31*day))
		s.delivery(org, ep, ago(29*day))
		s.delivery(org, ep, time.Time{})
		s.audit(org, user, ago(366*day))
		s.audit(org, user, ago(364*day))

		if _, err := runner(d).RunAll(context.Background(), Jobs(365*day), false); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			table string
			want  int
		}{{"sessions", 1}, {"tokens", 1}, {"refresh_tokens", 1}, {"account_tokens", 1},
			{"client_assertions", 1}, {"jwks", 1}, {"consents", 0},
			{"webhook_deliveries", 2}, {"audit_logs", 1}} {
			if got := s.count(c.table, ""); got != c.want {
				t.Errorf("%s: %d rows left, want %d", c.table, got, c.want)
			}
		}
		if s.count("sessions", "id = $1", live) != 1 {
			t.Errorf("the live session was removed")
		}
	})
}

// TestPurges removes users, clients and organisations deleted more than
// 30 days ago, with what references them, and keeps their audit rows.
func TestPurges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := seed{t, d}
		org := s.org(time.Time{})
		keptUser := s.user(org, ago(29*day))
		goneUser := s.user(org, ago(31*day))
		goneClient := s.client(org, ago(31*day))
		s.session(org, goneUser, now.Add(time.Hour), now)
		s.token(org, goneUser, s.client(org, time.Time{}), now.Add(day))
		s.token(org, keptUser, goneClient, now.Add(day))
		bound := s.endpoint(org, &goneClient)
		s.delivery(org, bound, time.Time{})
		s.audit(org, goneUser, ago(time.Hour))

		gone := s.org(ago(31 * day))
		u := s.user(gone, ago(31*day))
		c := s.client(gone, ago(31*day))
		s.session(gone, u, now.Add(time.Hour), now)
		s.token(gone, u, c, now.Add(day))
		s.delivery(gone, s.endpoint(gone, nil), time.Time{})
		s.exec(`INSERT INTO roles (id, organisation_id, name, slug, created_at, updated_at)
			VALUES ($1, $2, 'R', 'r', $3, $3)`, db.NewID(), gone, now)
		s.audit(gone, u, ago(time.Hour))

		if _, err := runner(d).RunAll(context.Background(), Jobs(365*day), false); err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			table, where string
			args         []any
			want         int
		}{
			{"users", "id = $1", []any{keptUser}, 1},
			{"users", "id = $1", []any{goneUser}, 0},
			{"clients", "id = $1", []any{goneClient}, 0},
			{"tokens", "", nil, 0},
			{"sessions", "", nil, 0},
			{"webhook_endpoints", "", nil, 0},
			{"webhook_deliveries", "", nil, 0},
			{"organisations", "id = $1", []any{gone}, 0},
			{"organisations", "id = $1", []any{org}, 1},
			{"roles", "organisation_id = $1", []any{gone}, 0},
			{"users", "organisation_id = $1", []any{gone}, 0},
			{"audit_logs", "user_id = $1 OR user_id = $2", []any{goneUser, u}, 2},
		}
		for _, c := range checks {
			if got := s.count(c.table, c.where, c.args...); got != c.want {
				t.Errorf("%s where %s: %d rows, want %d", c.table, c.where, got, c.want)
			}
		}
	})
}

func TestDryRunCountsAndChangesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := seed{t, d}
		org := s.org(time.Time{})
		user := s.user(org, time.Time{})
		for i := 0; i < 5; i++ {
			s.session(org, user, ago(time.Minute), ago(time.Hour))
		}
		r := runner(d)
		res, err := r.RunAll(context.Background(), Jobs(365*day), true)
		if err != nil {
			t.Fatal(err)
		}
		if got := rows(res, "sessions"); got != 10 { // both rules match each
			t.Errorf("dry run counts %d sessions, want 10", got)
		}
		if s.count("sessions", "") != 5 {
			t.Fatalf("a dry run deleted sessions")
		}
		res, err = r.RunAll(context.Background(), Jobs(365*day), false)
		if err != nil || rows(res, "sessions") != 5 || s.count("sessions", "") != 0 {
			t.Errorf("run: %v %v", res, err)
		}
	})
}

func rows(res []Result, table string) int64 {
	var n int64
	for _, r := range res {
		if r.Table == table {
			n += r.Rows
		}
	}
	return n
}

// TestBatches drains more rows than one batch holds.
func TestBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := seed{t, d}
		org := s.org(time.Time{})
		user := s.user(org, time.Time{})
		for i := 0; i < 25; i++ {
			s.session(org, user, ago(time.Minute), now)
		}
		r := runner(d)
		r.Batch = 10
		res, err := r.Run(context.Background(), Jobs(365 * day)[0])
		if err != nil || rows(res, "sessions") != 25 || s.count("sessions", "") != 0 {
			t.Errorf("batched run: %v %v", res, err)
		}
	})
}

// TestSchedulerHoldsTheLockAndKeepsIntervals runs two schedulers on one
// PostgreSQL database: one takes the cleanup lock and runs the jobs, the
// other runs nothing; a job runs again only after its interval.
func TestSchedulerHoldsTheLockAndKeepsIntervals(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	s := seed{t, d}
	org := s.org(time.Time{})
	user := s.user(org, time.Time{})
	clock := now
	r := &Runner{DB: d, Now: func() time.Time { return clock }}
	jobs := Jobs(365 * day)[:1]
	a := &Scheduler{Runner: r, Jobs: jobs, Log: discardLog()}
	release := a.acquire(context.Background())
	if release == nil {
		t.Fatal("first scheduler did not get the lock")
	}
	if b := (&Scheduler{Runner: r, Jobs: jobs, Log: discardLog()}).acquire(
		context.Background()); b != nil {
		t.Fatal("second scheduler got the lock too")
	}

	s.session(org, user, ago(time.Second), now)
	a.RunDue(context.Background())
	s.session(org, user, ago(time.Second), now)
	clock = clock.Add(9 * time.Minute)
	a.RunDue(context.Background())
	if s.count("sessions", "") != 1 {
		t.Errorf("the job ran again before its interval")
	}
	clock = clock.Add(time.Minute)
	a.RunDue(context.Background())
	if s.count("sessions", "") != 0 {
		t.Errorf("the job did not run after its interval")
	}
	release()
	again, err := d.TryLock(context.Background(), LockName)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	again()
}

func TestSchedulerRunReleasesTheLockWhenStopped(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	sch := &Scheduler{Runner: runner(d), Jobs: Jobs(365 * day), Log: discardLog(),
		Tick: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sch.Run(ctx) }()
	for {
		release, err := d.TryLock(context.Background(), LockName)
		if errors.Is(err, db.ErrLockHeld) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		release()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	release, err := d.TryLock(context.Background(), LockName)
	if err != nil {
		t.Fatalf("lock still held after Run returned: %v", err)
	}
	release()
}
