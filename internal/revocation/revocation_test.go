package revocation_test

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

type fixture struct {
	org, user, other, client, family string
	now                              time.Time
}

func seed(t *testing.T, d *db.DB) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{org: db.NewID(), user: db.NewID(), other: db.NewID(), client: db.NewID(),
		family: db.NewID(), now: time.Now().UTC().Truncate(time.Millisecond)}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, 'o', 'O', $2, $2)`, f.org, f.now)
	for _, u := range []string{f.user, f.other} {
		exec(`INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
			created_at, updated_at) VALUES ($1, $2, $3, 'a', 'b', 'a b', $4, $4)`,
			u, f.org, u+"@x.test", f.now)
		exec(`INSERT INTO sessions (id, session_token, user_id, organisation_id,
			authenticated_at, idle_timeout, last_activity_at, expires_at, created_at,
			updated_at) VALUES ($1, $2, $3, $4, $5, 1800, $5, $6, $5, $5)`,
			db.NewID(), u, u, f.org, f.now, f.now.Add(time.Hour))
	}
	exec(`INSERT INTO clients (id, organisation_id, client_id, name, client_type,
		token_endpoint_auth_method, created_at, updated_at)
		VALUES ($1, $2, 'cid', 'c', 'confidential', 'client_secret_basic', $3, $3)`,
		f.client, f.org, f.now)
	for _, u := range []string{f.user, f.other} {
		exec(`INSERT INTO tokens (id, jti, client_id, user_id, organisation_id, family_id,
			issued_at, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)`,
			db.NewID(), db.NewID(), f.client, u, f.org, f.family, f.now, f.now.Add(time.Hour))
		exec(`INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id,
			organisation_id, auth_time, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)`,
			db.NewID(), u, db.NewID(), f.client, u, f.org, f.now, f.now.Add(time.Hour))
		exec(`INSERT INTO consents (id, user_id, client_id, organisation_id, granted_at,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5)`,
			db.NewID(), u, f.client, f.org, f.now)
	}
	return f
}

func count(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestUserCascadesTouchOnlyThatUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := seed(t, d)
		ended, err := revocation.EndSessions(ctx, d, f.user, "")
		if err != nil || len(ended) != 1 {
			t.Fatalf("ended %v %v", ended, err)
		}
		if err := revocation.UserGrants(ctx, d, f.user, f.now); err != nil {
			t.Fatal(err)
		}
		if err := revocation.UserConsents(ctx, d, f.user, f.now); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"tokens", "refresh_tokens", "consents"} {
			live := "SELECT COUNT(*) FROM " + table + " WHERE user_id = $1 AND revoked_at IS NULL"
			if n := count(t, d, live, f.user); n != 0 {
				t.Errorf("%s: %d live rows of the revoked user", table, n)
			}
			if n := count(t, d, live, f.other); n != 1 {
				t.Errorf("%s: other user's row touched (%d live)", table, n)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM sessions WHERE user_id = $1", f.other); n != 1 {
			t.Errorf("other user's session ended")
		}
	})
}

func TestEndSessionsKeepsCurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := seed(t, d)
		var keep string
		_ = d.QueryRowContext(t.Context(), "SELECT id FROM sessions WHERE user_id = $1",
			f.user).Scan(&keep)
		ended, err := revocation.EndSessions(t.Context(), d, f.user, keep)
		if err != nil || len(ended) != 0 {
			t.Fatalf("ended %v %v", ended, err)
		}
	})
}

func TestFamilyAndOrganisation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := seed(t, d)
		live, err := revocation.Family(ctx, d, f.family, f.now)
		if err != nil || !live {
			t.Fatalf("family: %v %v", live, err)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL"); n != 0 {
			t.Fatalf("%d access tokens of the family live", n)
		}
		again, err := revocation.Family(ctx, d, f.family, f.now)
		if err != nil || again {
			t.Fatalf("second revoke reported live rows: %v %v", again, err)
		}
		if err := revocation.Organisation(ctx, d, f.org, f.now); err != nil {
			t.Fatal(err)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM sessions"); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
		if n := count(t, d,
			"SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL"); n != 0 {
			t.Fatalf("%d refresh tokens live", n)
		}
		if err := revocation.Client(ctx, d, f.client, f.now); err != nil {
			t.Fatal(err)
		}
		if err := revocation.UserClient(ctx, d, f.user, f.client, f.now); err != nil {
			t.Fatal(err)
		}
		if err := revocation.ClientConsents(ctx, d, f.client, f.now); err != nil {
			t.Fatal(err)
		}
	})
}
