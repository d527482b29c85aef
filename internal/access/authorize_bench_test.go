package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// BenchmarkRequire measures the permission check of an admin request made
// with a session. "warm" is the steady state: the user's effective set is
// cached under the organisation's rbac_version, so a check costs one read
// of that version and a lookup in memory. "cold" starts each check with an
// empty cache, as after a change to roles, and also reads the set through
// the joins of user, role and permission rows.
func BenchmarkRequire(b *testing.B) {
	for _, e := range dbtest.Engines {
		b.Run(string(e), func(b *testing.B) {
			d := dbtest.Open(b, e)
			org, user := benchOrgUser(b, d, access.RoleManager)
			p := &access.Principal{Kind: access.KindSession, OrganisationID: org,
				UserID: user}
			warm := access.NewAuthorizer(d)
			b.Run("warm", func(b *testing.B) {
				benchRequire(b, func() *access.Authorizer { return warm }, p)
			})
			b.Run("cold", func(b *testing.B) {
				benchRequire(b, func() *access.Authorizer { return access.NewAuthorizer(d) }, p)
			})
		})
	}
}

// benchRequire checks users:read for p in a loop with the authorizer az
// returns for each check.
func benchRequire(b *testing.B, az func() *access.Authorizer, p *access.Principal) {
	ctx := b.Context()
	if err := az().Require(ctx, p, "users:read"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := az().Require(ctx, p, "users:read"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCovers measures the wildcard rule alone on a set the size of
// the Manager role's.
func BenchmarkCovers(b *testing.B) {
	held := []string{"audit_logs:read", "clients:read", "invitations:*", "permissions:read",
		"roles:read", "teams:*", "users:create", "users:read", "users:update"}
	for b.Loop() {
		if !access.Covers(held, "teams:delete") {
			b.Fatal("teams:* must cover teams:delete")
		}
	}
}

// benchOrgUser creates an organisation with the seeded roles and a user
// holding role, after synchronising the catalogue.
func benchOrgUser(b *testing.B, d *db.DB, role string) (org, user string) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := access.SyncCatalogue(ctx, d, now); err != nil {
		b.Fatal(err)
	}
	org, user = db.NewID(), db.NewID()
	benchExec(b, d, `INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, 'bench', 'Bench', $2, $2)`, org, now)
	benchExec(b, d, `INSERT INTO users (id, organisation_id, email, first_name, last_name,
		name, created_at, updated_at) VALUES ($1, $2, 'user@bench.test', 'A', 'B', 'A B',
		$3, $3)`, user, org, now)
	roles, err := access.SeedRoles(ctx, d, org, now)
	if err != nil {
		b.Fatal(err)
	}
	benchExec(b, d, `INSERT INTO user_roles (id, user_id, role_id, created_at)
		VALUES ($1, $2, $3, $4)`, db.NewID(), user, roles[role], now)
	return org, user
}

func benchExec(b *testing.B, d *db.DB, q string, args ...any) {
	b.Helper()
	if _, err := d.ExecContext(context.Background(), q, args...); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}
