package app

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

// resetFixture is a database with two organisations, their users and
// sessions, for the forced password reset.
type resetFixture struct {
	t        *testing.T
	d        *db.DB
	now      time.Time
	org, far string
}

func (f *resetFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.d.ExecContext(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *resetFixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (f *resetFixture) addOrg(slug string) string {
	id := db.NewID()
	f.exec(`INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, $2, $2, $3, $3)`, id, slug, f.now)
	return id
}

// addUser adds a user with one session; blocked and deleted as named.
func (f *resetFixture) addUser(org, email string, blocked, deleted bool) string {
	id := db.NewID()
	var blockedAt, deletedAt any
	if blocked {
		blockedAt = f.now
	}
	if deleted {
		deletedAt = f.now
	}
	f.exec(`INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
		password_hash, blocked_at, created_at, updated_at, deleted_at) VALUES ($1, $2, $3,
		'Ada', 'L', 'Ada L', 'x', $4, $5, $5, $6)`, id, org, email, blockedAt, f.now, deletedAt)
	f.exec(`INSERT INTO sessions (id, session_token, user_id, organisation_id,
		authenticated_at, idle_timeout, last_activity_at, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 1800, $5, $6, $5, $5)`,
		db.NewID(), "tok-"+id, id, org, f.now, f.now.Add(time.Hour))
	return id
}

func newResetFixture(t *testing.T, d *db.DB) *resetFixture {
	f := &resetFixture{t: t, d: d, now: time.Now().UTC().Truncate(time.Millisecond)}
	f.org, f.far = f.addOrg("acme"), f.addOrg("far")
	f.addUser(f.org, "a@acme.test", false, false)
	f.addUser(f.org, "b@acme.test", false, false)
	f.addUser(f.org, "blocked@acme.test", true, false)
	f.addUser(f.org, "gone@acme.test", false, true)
	f.addUser(f.far, "c@far.test", false, false)
	return f
}

func TestForcedPasswordReset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := event.WithActor(context.Background(), event.SystemActor)
		f := newResetFixture(t, d)
		keys, _ := crypto.NewKeyRing(crypto.RandomBytes(32))
		clock := func() time.Time { return f.now }
		p := &passwordReset{db: d, outbox: mail.NewOutbox(d, keys, clock),
			events: event.NewRecorder(clock), now: clock}

		dry, err := p.run(ctx, f.org, true)
		if err != nil || dry != (forcedCounts{users: 3, sessions: 3, mails: 2}) {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		if f.count(`SELECT COUNT(*) FROM users WHERE password_reset_required`) != 0 {
			t.Fatal("the dry run flagged users")
		}
		got, err := p.run(ctx, f.org, false)
		if err != nil || got != dry {
			t.Fatalf("run: %+v %v", got, err)
		}
		checks := []struct {
			what string
			q    string
			want int
		}{
			{"flagged users", `SELECT COUNT(*) FROM users WHERE password_reset_required`, 3},
			{"sessions left", `SELECT COUNT(*) FROM sessions`, 2},
			{"reset mails", `SELECT COUNT(*) FROM email_outbox
				WHERE template = 'password-reset'`, 2},
			{"reset tokens", `SELECT COUNT(*) FROM account_tokens
				WHERE purpose = 'password_reset'`, 2},
			{"audit rows", `SELECT COUNT(*) FROM audit_logs
				WHERE event_type = 'system.password_reset_forced'`, 1},
		}
		for _, c := range checks {
			if n := f.count(c.q); n != c.want {
				t.Errorf("%s: %d, want %d", c.what, n, c.want)
			}
		}
		again, err := p.run(ctx, "", false)
		if err != nil || again.users != 1 || again.mails != 1 {
			t.Errorf("the second run must touch only the other organisation: %+v %v",
				again, err)
		}
	})
}
