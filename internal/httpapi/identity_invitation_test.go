package httpapi_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// invite inserts a pending invitation (as the admin API would) and returns
// its token.
func (r *idRig) invite(owner *account, email, roleSlug string, teams []string,
	days int) string {
	r.t.Helper()
	token := crypto.NewToken()
	now := r.clock.Now()
	r.exec(`INSERT INTO invitations (id, organisation_id, email, role_id, team_ids,
		token_hash, status, invited_by_id, expires_in_days, expires_at, created_at,
		updated_at) SELECT $1, $2, $3, id, $4, $5, 'pending', $6, $7, $8, $9, $9
		FROM roles WHERE organisation_id = $2 AND slug = $10`, db.NewID(), owner.orgID,
		email, mustJSON(r.t, teams), crypto.HashToken(token), owner.userID, days,
		now.Add(time.Duration(days)*24*time.Hour), now, roleSlug)
	return token
}

func (r *idRig) team(owner *account, slug string) string {
	r.t.Helper()
	id := db.NewID()
	r.exec(`INSERT INTO teams (id, organisation_id, name, slug, created_at, updated_at)
		VALUES ($1, $2, $3, $3, $4, $4)`, id, owner.orgID, slug, r.clock.Now())
	return id
}

func acceptBody(email, password string) map[string]any {
	return map[string]any{"email": email, "firstName": "Grace", "lastName": "Hopper",
		"password": password}
}

func TestInvitationPreview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		token := r.invite(owner, "grace@example.com", "manager", nil, 7)
		c := r.client()
		a := c.do("GET", "/v1/public/invitations/"+token, nil).expect(t, 200, "")
		if a.str("email") != "grace@example.com" || a.str("organisationName") != "Acme" ||
			a.str("expiresAt") != "2025-03-08T09:30:00.000Z" {
			t.Errorf("preview %s", a.raw)
		}
		c.do("GET", "/v1/public/invitations/unknown", nil).
			expect(t, 404, "Invitation not found or has expired")
		r.clock.Add(7*24*time.Hour + time.Second)
		c.do("GET", "/v1/public/invitations/"+token, nil).
			expect(t, 404, "Invitation not found or has expired")
	})
}

func TestAcceptInvitation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		kept, gone := r.team(owner, "red"), r.team(owner, "blue")
		token := r.invite(owner, "grace@example.com", "manager", []string{kept, gone}, 7)
		r.exec(`DELETE FROM teams WHERE id = $1`, gone)
		path := "/v1/public/invitations/" + token + "/accept"
		c := r.client()

		c.do("POST", path, map[string]any{"email": "x"}).expect(t, 400, "Invalid input")
		c.do("POST", path, acceptBody("other@example.com", goodPassword)).
			expect(t, 400, "Email does not match invitation")
		c.do("POST", path, acceptBody("grace@example.com", "weak")).
			expect(t, 400, "Password too weak")
		a := c.do("POST", path, acceptBody(" Grace@Example.com", goodPassword)).
			expect(t, 201, "")
		if a.str("message") != "Account created successfully" ||
			a.obj("user")["email"] != "grace@example.com" ||
			a.obj("organisation")["id"] != owner.orgID || c.cookie != "" {
			t.Fatalf("accept answer %s", a.raw)
		}
		uid := a.obj("user")["id"].(string)
		checkAccepted(t, r, uid, kept)
		c.do("POST", path, acceptBody("grace@example.com", goodPassword)).
			expect(t, 409, "Invitation has already been accepted")
		c.do("GET", "/v1/public/invitations/"+token, nil).
			expect(t, 404, "Invitation not found or has expired")
	})
}

func checkAccepted(t *testing.T, r *idRig, uid, team string) {
	t.Helper()
	if r.count(`SELECT COUNT(*) FROM user_roles ur JOIN roles ro ON ro.id = ur.role_id
		WHERE ur.user_id = $1 AND ro.slug = 'manager'`, uid) != 1 {
		t.Error("invited role not assigned")
	}
	if r.count(`SELECT COUNT(*) FROM team_members WHERE user_id = $1 AND team_id = $2`,
		uid, team) != 1 || r.count(`SELECT COUNT(*) FROM team_members
		WHERE user_id = $1`, uid) != 1 {
		t.Error("teams not joined as invited")
	}
	if !r.userColumn(uid, "email_verified_at").Valid {
		t.Error("email not verified")
	}
	if r.count(`SELECT COUNT(*) FROM invitations WHERE status = 'accepted'
		AND accepted_by_id = $1 AND accepted_at IS NOT NULL`, uid) != 1 {
		t.Error("invitation not marked accepted")
	}
	got := r.audits(uid)
	if !slices.Contains(got, "invitation.accepted") || !slices.Contains(got, "user.created") {
		t.Errorf("audits %v", got)
	}
	if ms := r.mails("grace@example.com"); len(ms) != 1 || ms[0].template != "welcome" {
		t.Errorf("mails %v", ms)
	}
	_, l := r.login("grace@example.com", goodPassword)
	l.expect(t, 200, "")
}

func TestRegisterWithInvitation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		c := r.client()
		body := acceptBody("grace@example.com", goodPassword)
		body["token"] = "unknown"
		c.do("POST", "/v1/auth/register", body).
			expect(t, 404, "Invitation not found or has expired")

		cancelled := r.invite(owner, "grace@example.com", "staff", nil, 7)
		r.exec(`UPDATE invitations SET status = 'cancelled', cancelled_at = $1`,
			r.clock.Now())
		body["token"] = cancelled
		c.do("POST", "/v1/auth/register", body).expect(t, 400, "Invitation has been cancelled")

		taken := r.invite(owner, "ada@example.com", "staff", nil, 7)
		owned := acceptBody("ada@example.com", goodPassword)
		owned["token"] = taken
		c.do("POST", "/v1/auth/register", owned).expect(t, 409, "Email already registered")

		expired := r.invite(owner, "grace@example.com", "staff", nil, 1)
		r.clock.Add(25 * time.Hour)
		body["token"] = expired
		c.do("POST", "/v1/auth/register", body).
			expect(t, 404, "Invitation not found or has expired")

		// A role deleted meanwhile falls back to the default role.
		token := r.invite(owner, "grace@example.com", "manager", nil, 7)
		r.exec(`DELETE FROM roles WHERE slug = 'manager'`)
		body["token"] = token
		a := c.do("POST", "/v1/auth/register", body).expect(t, 201, "")
		uid := a.obj("user")["id"].(string)
		if r.count(`SELECT COUNT(*) FROM user_roles ur JOIN roles ro ON ro.id = ur.role_id
			WHERE ur.user_id = $1 AND ro.slug = 'staff'`, uid) != 1 {
			t.Error("default role not assigned")
		}
	})
}
