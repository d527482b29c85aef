package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
)

func TestOnboardCreatesOrganisationOwnerRolesAndSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		c := r.client()
		a := c.do("POST", "/v1/auth/onboard", map[string]any{
			"organisationName": "Acme Inc.", "email": "  Owner@Example.COM ",
			"firstName": "Ada", "lastName": "Lovelace", "password": goodPassword,
			"metadata": map[string]any{"plan": "pro"}}).expect(t, 201, "")

		if a.str("message") != "Organisation onboarded successfully" {
			t.Errorf("message %q", a.str("message"))
		}
		org := a.obj("organisation")
		if org["slug"] != "acme-inc" || org["name"] != "Acme Inc." {
			t.Errorf("organisation %v", org)
		}
		checkConfigs(t, org["configs"].(map[string]any))
		user := a.obj("user")
		if user["email"] != "owner@example.com" || user["name"] != "Ada Lovelace" {
			t.Errorf("user %v", user)
		}
		staff := checkRoles(t, a.body["roles"].([]any))
		defaults := a.obj("invitationDefaults")
		if defaults["roleId"] != staff || defaults["expiresInDays"] != float64(7) {
			t.Errorf("invitationDefaults %v, staff %s", defaults, staff)
		}
		if c.cookie == "" || c.csrf == "" {
			t.Fatalf("no session cookie or CSRF token: %v", a.header)
		}
		if !strings.Contains(a.header.Get("Set-Cookie"), "HttpOnly") {
			t.Errorf("cookie %q", a.header.Get("Set-Cookie"))
		}

		// The session works and the owner holds every permission.
		p := c.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		if !p.body["emailVerified"].(bool) || p.body["permissions"].([]any)[0] != "*" {
			t.Errorf("profile %s", p.raw)
		}
		uid := user["id"].(string)
		if r.count(`SELECT COUNT(*) FROM organisations WHERE owner_id = $1`, uid) != 1 {
			t.Error("organisation owner_id not set")
		}
		if m := r.auditMeta(uid, "user.created"); m["onboard"] != true {
			t.Errorf("user.created metadata %v", m)
		}
	})
}

func checkConfigs(t *testing.T, cfg map[string]any) {
	t.Helper()
	want := `{"allowedCallbackUrls":[],"allowedLogoutUrls":[],"allowedMfaMethods":["totp"],` +
		`"allowedOrigins":[],"branding":null,"metadata":{"plan":"pro"},` +
		`"passwordPolicy":null,"requireMfa":false,"sessionIdleTimeout":1800,` +
		`"sessionLifetime":3600,"tokenLifetimePolicy":null}`
	if got := mustJSON(t, cfg); got != want {
		t.Errorf("configs\n got %s\nwant %s", got, want)
	}
}

// checkRoles checks the four seeded roles and returns the Staff role's id.
func checkRoles(t *testing.T, roles []any) string {
	t.Helper()
	var slugs []string
	staff := ""
	for _, x := range roles {
		role := x.(map[string]any)
		slugs = append(slugs, role["slug"].(string))
		for _, k := range []string{"id", "organisationId", "name", "description",
			"isDefault", "isSystem", "permissions", "userCount", "createdAt", "updatedAt"} {
			if _, ok := role[k]; !ok {
				t.Errorf("role %s lacks %s", role["slug"], k)
			}
		}
		perms := role["permissions"].([]any)
		if len(perms) == 0 || len(perms[0].(map[string]any)) != 3 {
			t.Errorf("role %s permissions %v", role["slug"], perms)
		}
		users := role["userCount"].(float64)
		if (role["slug"] == "owner") != (users == 1) {
			t.Errorf("role %s userCount %v", role["slug"], users)
		}
		if role["slug"] == "staff" {
			staff = role["id"].(string)
		}
	}
	if !slices.Equal(slugs, []string{"owner", "admin", "manager", "staff"}) {
		t.Errorf("role slugs %v", slugs)
	}
	return staff
}

func TestOnboardSlugsAreUnique(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		want := []string{"acme-inc", "acme-inc-2", "acme-inc-3"}
		for i, w := range want {
			a := r.onboard("Acme Inc.", "owner"+string(rune('a'+i))+"@example.com")
			if a.slug != w {
				t.Errorf("slug %q, want %q", a.slug, w)
			}
		}
		if a := r.onboard(" Café -- Société Générale!! ", "x@example.com"); a.slug !=
			"cafe-societe-generale" {
			t.Errorf("slug %q", a.slug)
		}
	})
}

func TestOnboardRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		r.onboard("First", "taken@example.com")
		c := r.client()

		a := c.do("POST", "/v1/auth/onboard", map[string]any{"email": "not-an-email",
			"firstName": "", "lastName": strings.Repeat("x", 101)}).
			expect(t, 400, "Invalid input")
		got := a.fieldErrors()
		for field, code := range map[string]string{"organisationName": "required",
			"email": "invalid_format", "firstName": "required", "lastName": "too_long",
			"password": "required"} {
			if !slices.Contains(got[field], code) {
				t.Errorf("field %s: %v, want %s", field, got[field], code)
			}
		}

		a = c.do("POST", "/v1/auth/onboard", onboardBody("weak@example.com", "abc")).
			expect(t, 400, "Password too weak")
		msgs := a.messages()
		if len(msgs) != 4 || a.fieldErrors()["password"][0] != "password_policy" {
			t.Errorf("weak password errors %v", msgs)
		}

		c.do("POST", "/v1/auth/onboard", onboardBody("TAKEN@example.com ", goodPassword)).
			expect(t, 409, "Email already registered")

		big := onboardBody("big@example.com", goodPassword)
		big["metadata"] = map[string]any{"blob": strings.Repeat("x", 17<<10)}
		if c.do("POST", "/v1/auth/onboard", big).expect(t, 400, "Invalid input").
			fieldErrors()["metadata"] == nil {
			t.Error("oversized metadata not reported")
		}
		c.do("POST", "/v1/auth/onboard", `{"organisationName":"A","extra":1}`).
			expect(t, 400, "Invalid input")
		if r.count(`SELECT COUNT(*) FROM organisations`) != 1 {
			t.Error("a refused onboarding created an organisation")
		}
	})
}

func onboardBody(email, password string) map[string]any {
	return map[string]any{"organisationName": "Org", "email": email, "firstName": "A",
		"lastName": "B", "password": password}
}

func TestOnboardWithoutAutoVerifySendsVerificationEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withoutAutoVerify())
		acct := r.onboard("Acme", "new@example.com")
		if r.userColumn(acct.userID, "email_verified_at").Valid {
			t.Error("email verified without auto-verify")
		}
		token := r.lastToken("new@example.com", "verify-email")
		r.client().do("GET", "/v1/auth/verify-email?token="+token, nil).
			expect(t, 200, "")
		if !r.userColumn(acct.userID, "email_verified_at").Valid {
			t.Error("email not verified by the link")
		}
	})
}

func TestAuthLimiterAnswers429(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withLimit(httpapi.LimitAuth, 1))
		c := r.client()
		c.do("POST", "/v1/auth/onboard", onboardBody("a@example.com", goodPassword)).
			expect(t, 201, "")
		a := c.do("POST", "/v1/auth/login", map[string]any{"email": "a@example.com",
			"password": goodPassword}).
			expect(t, 429, "Rate limit exceeded. Please try again later.")
		if a.header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		for _, path := range []string{"/v1/auth/onboard", "/v1/auth/register",
			"/v1/public/invitations/x/accept", "/v1/auth/forgot-password"} {
			c.do("POST", path, map[string]any{}).expect(t, 429, "")
		}
	})
}

func TestInvitationPreviewLimiter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withLimit(httpapi.LimitInviteGet, 2))
		c := r.client()
		for range 2 {
			c.do("GET", "/v1/public/invitations/x", nil).expect(t, 404, "")
		}
		c.do("GET", "/v1/public/invitations/x", nil).
			expect(t, 429, "Rate limit exceeded. Please try again later.")
		// The invitation limiter is its own: login still answers.
		c.do("POST", "/v1/auth/login", map[string]any{"email": "a@example.com",
			"password": "x"}).expect(t, 401, "")
	})
}
