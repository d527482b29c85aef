package access_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestCatalogueHas56Permissions(t *testing.T) {
	c := access.Catalogue()
	if len(c) != 56 {
		t.Fatalf("catalogue has %d permissions, want 56", len(c))
	}
	for _, s := range []string{"*", "users:*", "api_keys:delete", "sessions:read"} {
		if !slices.Contains(c, s) {
			t.Errorf("catalogue lacks %s", s)
		}
	}
}

func TestCoversAndCanGrant(t *testing.T) {
	cases := []struct {
		held        []string
		perm        string
		covers, can bool
	}{
		{[]string{"*"}, "users:read", true, true},
		{[]string{"*"}, "*", true, true},
		{[]string{"users:*"}, "users:delete", true, true},
		{[]string{"users:*"}, "users:*", true, true},
		{[]string{"users:*"}, "*", false, false},
		{[]string{"users:read"}, "users:read", true, true},
		{[]string{"users:read"}, "users:*", false, false},
		{[]string{"users:read"}, "users:delete", false, false},
		{[]string{"users:read"}, "roles:read", false, false},
		{nil, "users:read", false, false},
	}
	for _, c := range cases {
		if got := access.Covers(c.held, c.perm); got != c.covers {
			t.Errorf("Covers(%v, %s) = %v", c.held, c.perm, got)
		}
		if got := access.CanGrant(c.held, c.perm); got != c.can {
			t.Errorf("CanGrant(%v, %s) = %v", c.held, c.perm, got)
		}
	}
}

func TestSeededRolesAndEffectivePermissions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		now := time.Now().UTC()
		if err := access.SyncCatalogue(ctx, d, now); err != nil {
			t.Fatal(err)
		}
		if err := access.SyncCatalogue(ctx, d, now); err != nil {
			t.Fatalf("second sync: %v", err)
		}
		org, user := seedOrgAndUser(t, d, now)
		roles, err := access.SeedRoles(ctx, d, org, now)
		if err != nil {
			t.Fatal(err)
		}
		assign(t, d, user, roles[access.RoleManager], now)
		az := access.NewAuthorizer(d)
		perms, err := az.Permissions(ctx, org, user)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"audit_logs:read", "clients:read", "invitations:*", "permissions:read",
			"roles:read", "teams:*", "users:create", "users:read", "users:update"}
		if !slices.Equal(perms, want) {
			t.Fatalf("manager permissions %v, want %v", perms, want)
		}

		p := &access.Principal{Kind: access.KindSession, OrganisationID: org, UserID: user}
		if err := az.Require(ctx, p, "teams:delete"); err != nil {
			t.Fatalf("teams:* must cover teams:delete: %v", err)
		}
		err = az.Require(ctx, p, "users:delete")
		if ae := apperr.As(err); ae == nil ||
			ae.Detail != "Missing required permission: users:delete" {
			t.Fatalf("got %v", err)
		}

		// A role change bumps the version: the next check sees it.
		_, err = d.ExecContext(ctx, `DELETE FROM role_permissions WHERE role_id = $1 AND
			permission_id = (SELECT id FROM permissions WHERE slug = 'teams:*')`,
			roles[access.RoleManager])
		if err != nil {
			t.Fatal(err)
		}
		if err := access.BumpRBAC(ctx, d, org); err != nil {
			t.Fatal(err)
		}
		if err := az.Require(ctx, p, "teams:delete"); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("revoked permission still granted: %v", err)
		}
	})
}

func TestRequirePerCredentialKind(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	ctx := t.Context()
	now := time.Now().UTC()
	if err := access.SyncCatalogue(ctx, d, now); err != nil {
		t.Fatal(err)
	}
	org, user := seedOrgAndUser(t, d, now)
	roles, err := access.SeedRoles(ctx, d, org, now)
	if err != nil {
		t.Fatal(err)
	}
	assign(t, d, user, roles[access.RoleStaff], now)
	az := access.NewAuthorizer(d)

	key := &access.Principal{Kind: access.KindAPIKey, OrganisationID: org, UserID: user,
		Scopes: []string{"users:*"}}
	if err := az.Require(ctx, key, "users:read"); err != nil {
		t.Fatalf("key with users:* and staff creator: %v", err)
	}
	err = az.Require(ctx, key, "users:delete")
	if ae := apperr.As(err); ae == nil || ae.Detail != "API key lacks required scope: users:delete" {
		t.Fatalf("creator lacks users:delete: %v", err)
	}
	err = az.Require(ctx, key, "teams:read")
	if ae := apperr.As(err); ae == nil || ae.Detail != "API key lacks required scope: teams:read" {
		t.Fatalf("key lacks teams:read: %v", err)
	}
	held, err := az.Held(ctx, key)
	if err != nil || !slices.Equal(held, []string{"users:read"}) {
		t.Fatalf("held %v %v, want [users:read]", held, err)
	}

	client := &access.Principal{Kind: access.KindClientToken, OrganisationID: org,
		Scopes: []string{"roles:read"}}
	if err := az.Require(ctx, client, "roles:read"); err != nil {
		t.Fatal(err)
	}
	if err := az.Require(ctx, client, "roles:update"); !apperr.Is(err, apperr.Forbidden) {
		t.Fatalf("client token beyond scope: %v", err)
	}
	token := &access.Principal{Kind: access.KindUserToken, OrganisationID: org, UserID: user,
		Scopes: []string{"*"}}
	if err := az.Require(ctx, token, "users:update"); !apperr.Is(err, apperr.Forbidden) {
		t.Fatalf("user token beyond the user's set: %v", err)
	}
}

func seedOrgAndUser(t *testing.T, d *db.DB, now time.Time) (string, string) {
	t.Helper()
	org, user := db.NewID(), db.NewID()
	ctx := context.Background()
	_, err := d.ExecContext(ctx, `INSERT INTO organisations (id, slug, name, created_at,
		updated_at) VALUES ($1, $2, 'Org', $3, $3)`, org, "o"+org[30:], now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.ExecContext(ctx, `INSERT INTO users (id, organisation_id, email, first_name,
		last_name, name, created_at, updated_at) VALUES ($1, $2, $3, 'A', 'B', 'A B', $4, $4)`,
		user, org, user+"@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	return org, user
}

func assign(t *testing.T, d *db.DB, user, role string, now time.Time) {
	t.Helper()
	_, err := d.ExecContext(context.Background(), `INSERT INTO user_roles (id, user_id, role_id,
		created_at) VALUES ($1, $2, $3, $4)`, db.NewID(), user, role, now)
	if err != nil {
		t.Fatal(err)
	}
}
