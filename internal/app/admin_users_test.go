package app

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminUserList(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Listing")
		team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
			"name": "Ops", "slug": "ops"}).want(t, 201, "").str("id")
		ann := o.member("Ann", o.roles["manager"])
		bob := o.member("Bob", o.roles["staff"])
		o.owner.call(http.MethodPost, "/v1/admin/teams/"+team+"/members",
			map[string]any{"userId": bob.id}).want(t, 201, "")
		o.owner.call(http.MethodPatch, "/v1/admin/users/"+bob.id,
			map[string]any{"blockedAt": "2025-01-01T00:00:00Z"}).want(t, 200, "")
		list := func(kv ...string) *reply {
			return o.owner.call(http.MethodGet, query("/v1/admin/users", kv...), nil)
		}
		rep := list().want(t, 200, "")
		if rep.body["total"] != 3.0 || rep.body["page"] != 1.0 || rep.body["limit"] != 50.0 ||
			rep.body["pages"] != 1.0 || rep.ids()[0] != bob.id {
			t.Fatalf("default list (newest first): %s", rep.raw)
		}
		rep = list("limit", "2", "page", "2", "sort", "createdAt").want(t, 200, "")
		if rep.body["pages"] != 2.0 || !slices.Equal(rep.ids(), []string{bob.id}) {
			t.Fatalf("second page: %s", rep.raw)
		}
		for _, page := range []string{"9", "9223372036854775807"} {
			if ids := list("page", page).want(t, 200, "").ids(); len(ids) != 0 {
				t.Fatalf("page %s, past the end: %v", page, ids)
			}
		}
		list("page", "9223372036854775808").wantField(t, "page", "invalid_type")
		wantIDs(t, list("q", "ANN"), ann.id)
		wantIDs(t, list("status", "blocked"), bob.id)
		wantIDs(t, list("roleId", o.roles["manager"]), ann.id)
		wantIDs(t, list("teamId", team), bob.id)
		wantIDs(t, list("q", "%"))
		names := []string{}
		for _, u := range list("sort", "-name").want(t, 200, "").list() {
			names = append(names, u["name"].(string))
		}
		if !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Fatalf("sort -name: %v", names)
		}
		list("limit", "101").wantField(t, "limit", "too_large")
		list("limit", "0").wantField(t, "limit", "too_small")
		list("page", "0").wantField(t, "page", "too_small")
		list("page", "x").wantField(t, "page", "invalid_type")
		rep = list("sort", "-password").wantField(t, "sort", "invalid_value")
		if !strings.Contains(string(rep.raw), `\"password\"`) {
			t.Fatalf("sort error does not name the field: %s", rep.raw)
		}
		list("status", "gone").wantField(t, "status", "invalid_value")
		list("roleId", "nope").wantField(t, "roleId", "invalid_format")
		list("colour", "red").wantField(t, "colour", "unknown_field")
	})
}

// wantIDs fails unless a list answer holds exactly ids, in any order.
func wantIDs(t *testing.T, rep *reply, ids ...string) {
	t.Helper()
	got := rep.want(t, http.StatusOK, "").ids()
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("ids %v, want %v", got, ids)
	}
}

func TestAdminUserCreate(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Creating")
		c := o.owner
		email := "New.Person@Example.com"
		rep := c.call(http.MethodPost, "/v1/admin/users", map[string]any{
			"email": email, "firstName": " New ", "lastName": "Person",
			"phone": "+15551234567"}).want(t, 201, "")
		if rep.str("email") != "new.person@example.com" || rep.str("name") != "New Person" ||
			len(rep.body["roles"].([]any)) != 1 || rep.body["emailVerifiedAt"] != nil {
			t.Fatalf("created user: %s", rep.raw)
		}
		if role := rep.body["roles"].([]any)[0].(map[string]any); role["slug"] != "staff" {
			t.Fatalf("default role: %v", role)
		}
		if m := r.mails("new.person@example.com"); !slices.Equal(m, []string{"password-setup"}) {
			t.Fatalf("mails %v, want password-setup", m)
		}
		with := c.call(http.MethodPost, "/v1/admin/users", map[string]any{
			"email": "with@example.com", "firstName": "With", "lastName": "Password",
			"password": admPassword, "roleIds": []string{o.roles["manager"]}}).
			want(t, 201, "")
		if m := r.mails("with@example.com"); !slices.Equal(m, []string{"verify-email"}) {
			t.Fatalf("mails %v, want verify-email", m)
		}
		r.login("with@example.com")
		if r.audits(o.id, "user.created") != 3 {
			t.Fatalf("user.created audits: %d", r.audits(o.id, "user.created"))
		}
		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "WITH@example.com",
			"firstName": "A", "lastName": "B"}).want(t, 409, "Email already registered")
		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "weak@example.com",
			"firstName": "A", "lastName": "B", "password": "short"}).
			want(t, 400, "Password too weak")
		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "bad",
			"firstName": "", "lastName": strings.Repeat("x", 101)}).
			wantField(t, "email", "invalid_format").wantField(t, "firstName", "required").
			wantField(t, "lastName", "too_long")
		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "r@example.com",
			"firstName": "A", "lastName": "B", "roleIds": []string{db.NewID(),
				o.roles["owner"]}, "teamIds": []string{"nope"}}).
			wantField(t, "roleIds.0", "invalid_value").wantField(t, "roleIds.1", "").
			wantField(t, "teamIds.0", "invalid_value")
		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "u@example.com",
			"firstName": "A", "lastName": "B", "isAdmin": true}).
			wantField(t, "isAdmin", "unknown_field")
		manager := r.loginAs(o, "with@example.com", with.str("id"))
		manager.call(http.MethodPost, "/v1/admin/users", map[string]any{
			"email": "esc@example.com", "firstName": "E", "lastName": "Sc",
			"roleIds": []string{o.roles["admin"]}}).
			want(t, 403, "Cannot grant permissions you do not hold")
		manager.call(http.MethodPost, "/v1/admin/users", map[string]any{
			"email": "ok@example.com", "firstName": "O", "lastName": "K",
			"roleIds": []string{o.roles["staff"]}}).want(t, 201, "")
	})
}

// loginAs signs a user of o in.
func (r *admRig) loginAs(o *admOrg, email, id string) *admClient {
	c := r.login(email)
	c.org, c.id = o.slug, id
	return c
}

func TestAdminUserGet(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Reading")
		team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
			"name": "Ops", "slug": "ops", "description": "Operations"}).want(t, 201, "")
		m := o.member("Dee", o.roles["staff"], o.roles["manager"])
		o.owner.call(http.MethodPost, "/v1/admin/teams/"+team.str("id")+"/members",
			map[string]any{"userId": m.id}).want(t, 201, "")
		rep := m.call(http.MethodGet, "/v1/admin/users/"+m.id, nil).want(t, 200, "")
		roles := rep.body["roles"].([]any)
		teams := rep.body["teams"].([]any)
		perms := rep.body["permissions"].([]any)
		if len(roles) != 2 || len(teams) != 1 || !slices.Contains(perms, any("teams:*")) {
			t.Fatalf("detailed user: %s", rep.raw)
		}
		first := roles[0].(map[string]any)
		if first["description"] == nil || len(first["permissions"].([]any)) == 0 ||
			teams[0].(map[string]any)["description"] != "Operations" {
			t.Fatalf("detail of roles and teams: %s", rep.raw)
		}
		o.owner.call(http.MethodGet, "/v1/admin/users/"+db.NewID(), nil).
			want(t, 404, "User not found")
		o.owner.call(http.MethodGet, "/v1/admin/users/not-a-uuid", nil).
			want(t, 404, "User not found")
	})
}

func TestAdminUserUpdate(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Updating")
		c := o.owner
		m := o.member("Eve", o.roles["staff"])
		path := "/v1/admin/users/" + m.id
		rep := c.call(http.MethodPatch, path, map[string]any{"firstName": "Evelyn",
			"phone": "+441234567890"}).want(t, 200, "")
		if rep.str("name") != "Evelyn Member" || rep.str("phone") != "+441234567890" {
			t.Fatalf("updated: %s", rep.raw)
		}
		c.call(http.MethodPatch, path, map[string]any{"phone": nil}).want(t, 200, "")
		if r.audits(o.id, "user.updated") != 2 {
			t.Fatalf("user.updated audits: %d", r.audits(o.id, "user.updated"))
		}
		c.call(http.MethodPatch, path, map[string]any{"phone": "555", "firstName": nil,
			"mfaEnabled": true, "lockedAt": "2025-01-01T00:00:00Z", "blockedAt": "soon",
			"blockedReason": strings.Repeat("r", 501)}).
			wantField(t, "phone", "invalid_format").wantField(t, "firstName", "invalid_type").
			wantField(t, "mfaEnabled", "invalid_value").wantField(t, "lockedAt",
			"invalid_value").wantField(t, "blockedAt", "invalid_format").
			wantField(t, "blockedReason", "too_long")
		c.call(http.MethodPatch, path, map[string]any{"email": "x@example.com"}).
			wantField(t, "email", "unknown_field")
		c.call(http.MethodPatch, "/v1/admin/users/"+db.NewID(), map[string]any{
			"firstName": "X"}).want(t, 404, "User not found")

		r.exec(`UPDATE users SET locked_at = $1, failed_login_count = 7 WHERE id = $2`,
			"2025-01-01T00:00:00.000Z", m.id)
		rep = c.call(http.MethodPatch, path, map[string]any{"lockedAt": nil}).want(t, 200, "")
		if rep.body["lockedAt"] != nil || r.count(`SELECT failed_login_count FROM users
			WHERE id = $1`, m.id) != 0 {
			t.Fatalf("unlock: %s", rep.raw)
		}

		r.exec(`UPDATE users SET mfa_enabled = TRUE, totp_secret = 'sealed' WHERE id = $1`,
			m.id)
		rep = c.call(http.MethodPatch, path, map[string]any{"mfaEnabled": false}).
			want(t, 200, "")
		if rep.body["mfaEnabled"] != false || r.audits(o.id, "user.mfa.disabled") != 1 ||
			r.count(`SELECT COUNT(*) FROM users WHERE id = $1 AND totp_secret IS NULL`,
				m.id) != 1 {
			t.Fatalf("mfa disable: %s", rep.raw)
		}
		email := rep.str("email")
		if !slices.Contains(r.mails(email), "security-notice") {
			t.Fatalf("no security notice: %v", r.mails(email))
		}
	})
}

func TestAdminUserBlockAndOwnerGuards(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Blocking")
		adm := o.member("Ada", o.roles["admin"])
		m := o.member("Moe", o.roles["staff"])
		path := "/v1/admin/users/" + m.id
		m.call(http.MethodGet, path, nil).want(t, 200, "")
		rep := adm.call(http.MethodPatch, path, map[string]any{
			"blockedAt": "2030-01-01T00:00:00Z", "blockedReason": "Left"}).want(t, 200, "")
		if rep.body["blockedAt"] == nil || rep.str("blockedReason") != "Left" {
			t.Fatalf("blocked: %s", rep.raw)
		}
		m.call(http.MethodGet, path, nil).want(t, 401, "Invalid or expired session")
		if r.audits(o.id, "user.blocked") != 1 || r.count(`SELECT COUNT(*) FROM sessions
			WHERE user_id = $1`, m.id) != 0 {
			t.Fatal("block did not end the sessions or record user.blocked")
		}
		c := &admClient{r: r}
		c.call(http.MethodPost, "/v1/auth/login", map[string]any{
			"email": userEmail(t, o, m.id), "password": admPassword}).
			want(t, 401, "Account is blocked")
		rep = adm.call(http.MethodPatch, path, map[string]any{"blockedAt": nil}).
			want(t, 200, "")
		if rep.body["blockedAt"] != nil || rep.body["blockedReason"] != nil ||
			r.audits(o.id, "user.unblocked") != 1 {
			t.Fatalf("unblocked: %s", rep.raw)
		}

		owner := "/v1/admin/users/" + o.owner.id
		adm.call(http.MethodPatch, owner, map[string]any{"blockedAt": "2030-01-01T00:00:00Z"}).
			want(t, 400, "The organisation owner cannot be blocked or deleted")
		adm.call(http.MethodDelete, owner, nil).
			want(t, 400, "The organisation owner cannot be blocked or deleted")
		adm.call(http.MethodPatch, owner, map[string]any{"firstName": "Mallory"}).
			want(t, 403, "Only the organisation owner can change the owner's account")
		adm.call(http.MethodPost, owner+"/roles", map[string]any{
			"roleId": o.roles["staff"]}).
			want(t, 403, "Only the organisation owner can change the owner's account")
		o.owner.call(http.MethodPatch, owner, map[string]any{"firstName": "Olga"}).
			want(t, 200, "")
		self := "/v1/admin/users/" + adm.id
		adm.call(http.MethodPatch, self, map[string]any{"blockedAt": "2030-01-01T00:00:00Z"}).
			want(t, 400, "You cannot block or delete your own account")
		adm.call(http.MethodDelete, self, nil).
			want(t, 400, "You cannot block or delete your own account")
		adm.call(http.MethodPatch, self, map[string]any{"firstName": "Adaline"}).
			want(t, 200, "")
	})
}

func TestAdminUserDelete(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Deleting")
		m := o.member("Gus", o.roles["staff"])
		key := m.apiKeyOf(o, "users:read")
		key.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		email := userEmail(t, o, m.id)
		path := "/v1/admin/users/" + m.id
		o.owner.call(http.MethodDelete, path, nil).want(t, 204, "")
		o.owner.call(http.MethodGet, path, nil).want(t, 404, "User not found")
		o.owner.call(http.MethodDelete, path, nil).want(t, 404, "User not found")
		m.call(http.MethodGet, path, nil).want(t, 401, "Invalid or expired session")
		key.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")
		o.owner.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": email,
			"firstName": "G", "lastName": "Us"}).want(t, 409, "Email already registered")
		wantIDs(t, o.owner.call(http.MethodGet, "/v1/admin/users", nil), o.owner.id)
		if r.audits(o.id, "user.deleted") != 1 {
			t.Fatal("no user.deleted audit")
		}
	})
}

// apiKeyOf creates an API key as a member with the owner granting the
// member api_keys:create first through a dedicated role.
func (c *admClient) apiKeyOf(o *admOrg, scopes ...string) *admClient {
	t := c.r.t
	t.Helper()
	role := o.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
		"name": "Key maker " + c.id[24:], "slug": "key-maker-" + c.id[24:],
		"permissionIds": []string{permissionID(t, o, "api_keys:create")}}).
		want(t, http.StatusCreated, "").str("id")
	o.owner.call(http.MethodPost, "/v1/admin/users/"+c.id+"/roles",
		map[string]any{"roleId": role}).want(t, http.StatusCreated, "")
	k := c.apiKey(scopes...)
	k.org = o.slug
	return k
}

// permissionID finds a catalogue permission by slug.
func permissionID(t *testing.T, o *admOrg, slug string) string {
	t.Helper()
	cat, _, _ := strings.Cut(slug, ":")
	rep := o.owner.call(http.MethodGet, query("/v1/admin/permissions", "category", cat,
		"limit", "100"), nil).want(t, http.StatusOK, "")
	for _, p := range rep.list() {
		if p["slug"] == slug {
			return p["id"].(string)
		}
	}
	t.Fatalf("no permission %s", slug)
	return ""
}

func TestAdminUserRoles(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Assigning")
		mgr := o.member("Max", o.roles["manager"])
		m := o.member("Nia", o.roles["staff"])
		path := "/v1/admin/users/" + m.id + "/roles"
		rep := o.owner.call(http.MethodPost, path, roleOf(o.roles["manager"])).
			want(t, 201, "")
		if rep.str("message") != "Role assigned" || rep.str("userId") != m.id ||
			rep.str("roleId") != o.roles["manager"] {
			t.Fatalf("assigned: %s", rep.raw)
		}
		o.owner.call(http.MethodPost, path, roleOf(o.roles["manager"])).want(t, 200, "")
		rep = o.owner.call(http.MethodDelete, path, roleOf(o.roles["manager"])).
			want(t, 200, "")
		if rep.str("message") != "Role removed" {
			t.Fatalf("removed: %s", rep.raw)
		}
		o.owner.call(http.MethodDelete, path, roleOf(o.roles["manager"])).
			want(t, 404, "Role not assigned to user")
		o.owner.call(http.MethodPost, path, roleOf(o.roles["owner"])).
			want(t, 400, "The Owner role cannot be assigned or removed")
		o.owner.call(http.MethodDelete, "/v1/admin/users/"+o.owner.id+"/roles",
			roleOf(o.roles["owner"])).
			want(t, 400, "The Owner role cannot be assigned or removed")
		o.owner.call(http.MethodPost, path, roleOf(db.NewID())).want(t, 404, "Role not found")
		o.owner.call(http.MethodPost, path, map[string]any{}).wantField(t, "roleId",
			"required")
		o.owner.call(http.MethodPost, "/v1/admin/users/"+db.NewID()+"/roles",
			roleOf(o.roles["staff"])).want(t, 404, "User not found")
		mgr.call(http.MethodPost, path, roleOf(o.roles["admin"])).
			want(t, 403, "Cannot grant permissions you do not hold")
		if r.audits(o.id, "user.role_assigned") < 1 || r.audits(o.id, "user.role_removed") != 1 {
			t.Fatal("role audits missing")
		}
	})
}

func TestAdminUserSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Sessions")
		m := o.member("Ian", o.roles["staff"])
		email := userEmail(t, o, m.id)
		second := r.loginAs(o, email, m.id)
		path := "/v1/admin/users/" + m.id + "/sessions"
		rep := o.owner.call(http.MethodGet, path, nil).want(t, 200, "")
		if len(rep.list()) != 2 || rep.list()[0]["ipAddress"] != "127.0.0.1" ||
			rep.list()[0]["expiresAt"] == nil {
			t.Fatalf("sessions: %s", rep.raw)
		}
		_, paged := rep.body["total"]
		if paged {
			t.Fatalf("session list is paginated: %s", rep.raw)
		}
		first := rep.ids()[1]
		o.owner.call(http.MethodDelete, path+"/"+db.NewID(), nil).
			want(t, 404, "Session not found")
		o.owner.call(http.MethodDelete, path+"/bad", nil).want(t, 404, "Session not found")
		o.owner.call(http.MethodDelete, path+"/"+first, nil).want(t, 204, "")
		o.owner.call(http.MethodDelete, path+"/"+first, nil).
			want(t, 404, "Session not found")
		if n := len(o.owner.call(http.MethodGet, path, nil).list()); n != 1 {
			t.Fatalf("%d sessions left, want 1", n)
		}
		o.owner.call(http.MethodDelete, path, nil).want(t, 204, "")
		second.call(http.MethodGet, "/v1/me/profile", nil).
			want(t, 401, "Invalid or expired session")
		if r.audits(o.id, "session.revoked") != 2 {
			t.Fatalf("session.revoked audits: %d", r.audits(o.id, "session.revoked"))
		}
		o.owner.call(http.MethodGet, "/v1/admin/users/"+db.NewID()+"/sessions", nil).
			want(t, 404, "User not found")
	})
}
