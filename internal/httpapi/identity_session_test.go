package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestSessionExpiryAndIdleLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.client().do("GET", "/v1/me/profile", nil).expect(t, 401, "Authentication required")
		stranger := r.client()
		stranger.cookie = "not-a-session"
		stranger.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")

		// lastActivityAt is written only when older than 60 s.
		last := func() string { return r.sessionColumn(owner.userID, "last_activity_at") }
		before := last()
		r.clock.Add(30 * time.Second)
		owner.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		if last() != before {
			t.Error("lastActivityAt written within 60 s")
		}
		r.clock.Add(31 * time.Second)
		owner.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		if last() == before {
			t.Error("lastActivityAt not written after 60 s")
		}

		// Idle longer than 1800 s: the session is deleted, the cookie
		// cleared.
		r.clock.Add(1801 * time.Second)
		a := owner.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		if !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") || owner.cookie != "" {
			t.Errorf("cookie not cleared: %q", a.header.Get("Set-Cookie"))
		}
		if n := r.count(`SELECT COUNT(*) FROM sessions`); n != 0 {
			t.Errorf("%d sessions left", n)
		}
	})
}

func TestSessionAbsoluteLifetimeIsFixedAtCreation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.exec(`UPDATE organisations SET session_lifetime = 600, session_idle_timeout = 300`)
		c, a := r.login("ada@example.com", goodPassword)
		a.expect(t, 200, "")
		if !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=600") {
			t.Errorf("cookie %q", a.header.Get("Set-Cookie"))
		}
		// A later policy change does not move existing sessions.
		r.exec(`UPDATE organisations SET session_lifetime = 86400`)
		for range 2 {
			r.clock.Add(4 * time.Minute)
			c.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		}
		owner.cookie = ""
		r.clock.Add(2 * time.Minute)
		c.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
	})
}

func TestSessionEndsWhenUserBlockedOrOrganisationDeleted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		a := r.onboard("Acme", "ada@example.com")
		b := r.onboard("Beta", "bob@example.com")
		r.exec(`UPDATE users SET blocked_at = $1 WHERE id = $2`, r.clock.Now(), a.userID)
		a.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		r.exec(`UPDATE organisations SET deleted_at = $1 WHERE id = $2`, r.clock.Now(),
			b.orgID)
		b.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
	})
}

func TestCSRFProtectsStateChangingSessionRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		var sid string
		_ = d.QueryRowContext(context.Background(), `SELECT id FROM sessions`).Scan(&sid)
		if owner.csrf != r.svc.CSRFToken(sid) || len(owner.csrf) != 43 {
			t.Fatalf("CSRF token %q is not the session's", owner.csrf)
		}

		token := owner.csrf
		owner.noCSRF = true
		owner.do("PATCH", "/v1/me/profile", map[string]any{"firstName": "Eve"}).
			expect(t, 403, "Invalid CSRF token")
		owner.noCSRF, owner.csrf = false, token[:42]+"x"
		owner.do("PATCH", "/v1/me/profile", map[string]any{"firstName": "Eve"}).
			expect(t, 403, "Invalid CSRF token")
		owner.csrf = token
		a := owner.do("PATCH", "/v1/me/profile", map[string]any{"firstName": "Eve"}).
			expect(t, 200, "")
		if a.header.Get("X-CSRF-Token") != token {
			t.Error("session answer without the CSRF token")
		}
		owner.noCSRF = true
		owner.do("GET", "/v1/me/sessions", nil).expect(t, 200, "")
		owner.do("POST", "/v1/auth/logout", nil).expect(t, 200, "")
	})
}

func TestLogoutEndpoints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		cookie := owner.cookie
		owner.noCSRF = true
		a := owner.do("POST", "/v1/auth/logout", nil).expect(t, 200, "")
		if a.str("message") != "Logged out successfully" ||
			!strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("logout answer %s %v", a.raw, a.header)
		}
		if !slices.Contains(r.audits(owner.userID), "user.logout") {
			t.Error("no user.logout audit")
		}
		owner.cookie = cookie
		owner.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		r.client().do("POST", "/v1/auth/logout", nil).expect(t, 200, "")
		owner.cookie = "garbage"
		owner.do("POST", "/v1/auth/logout", nil).expect(t, 200, "")

		c, _ := r.login("ada@example.com", goodPassword)
		a = c.do("DELETE", "/v1/auth/session", nil).expect(t, 204, "")
		if len(a.raw) != 0 || c.cookie != "" {
			t.Errorf("DELETE /v1/auth/session: body %q cookie %q", a.raw, c.cookie)
		}
		if n := r.count(`SELECT COUNT(*) FROM sessions`); n != 0 {
			t.Errorf("%d sessions left", n)
		}
		r.client().do("DELETE", "/v1/auth/session", nil).expect(t, 204, "")
	})
}

func TestListAndRevokeOwnSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		other := r.onboard("Beta", "bob@example.com")
		r.clock.Add(2 * time.Minute)
		second, _ := r.login("ada@example.com", goodPassword)

		list := owner.do("GET", "/v1/me/sessions", nil).expect(t, 200, "")
		data := list.body["data"].([]any)
		if len(data) != 2 {
			t.Fatalf("sessions %s", list.raw)
		}
		newest, oldest := data[0].(map[string]any), data[1].(map[string]any)
		if newest["current"] != false || oldest["current"] != true ||
			newest["userAgent"] != "identity-test/1.0" || newest["ipAddress"] != "192.0.2.1" {
			t.Errorf("sessions %s", list.raw)
		}

		var otherSession string
		_ = d.QueryRowContext(context.Background(), `SELECT id FROM sessions
			WHERE user_id = $1`, other.userID).Scan(&otherSession)
		for _, id := range []string{"not-an-id", "01950000-0000-7000-8000-000000000000",
			otherSession} {
			owner.do("DELETE", "/v1/me/sessions/"+id, nil).expect(t, 204, "")
		}
		other.do("GET", "/v1/me/profile", nil).expect(t, 200, "")

		owner.do("DELETE", "/v1/me/sessions/"+newest["id"].(string), nil).expect(t, 204, "")
		second.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		if !slices.Contains(r.audits(owner.userID), "session.revoked") {
			t.Error("no session.revoked audit")
		}

		a := owner.do("DELETE", "/v1/me/sessions/"+oldest["id"].(string), nil).
			expect(t, 204, "")
		if !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Error("revoking the current session kept the cookie")
		}
	})
}

func TestRestrictedSessionForMFAEnrollment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.exec(`UPDATE organisations SET require_mfa = TRUE WHERE id = $1`, owner.orgID)

		c, a := r.login("ada@example.com", goodPassword)
		a.expect(t, 401, "MFA enrollment required before logging in")
		if a.body["requiresEnrollment"] != true || c.cookie == "" || c.csrf == "" {
			t.Fatalf("enrollment answer %s", a.raw)
		}
		if !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=900") {
			t.Errorf("restricted cookie %q", a.header.Get("Set-Cookie"))
		}
		p := c.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		if p.body["mfaEnrollmentRequired"] != true {
			t.Errorf("profile %s", p.raw)
		}
		for _, path := range []string{"/v1/me/sessions", "/v1/me/export"} {
			c.do("GET", path, nil).expect(t, 403, "MFA enrollment required")
		}
		c.do("PATCH", "/v1/me/profile", map[string]any{"firstName": "X"}).
			expect(t, 403, "MFA enrollment required")

		restricted := c.cookie
		secret := c.do("POST", "/v1/me/mfa/enable", nil).expect(t, 200, "").str("secret")
		oldCSRF := c.csrf
		c.do("POST", "/v1/me/mfa/verify", map[string]any{"token": r.totpCode(secret, 0)}).
			expect(t, 200, "")
		if c.cookie == restricted || c.csrf == oldCSRF {
			t.Fatal("verify did not replace the restricted session")
		}
		p = c.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		if p.body["mfaEnrollmentRequired"] != false || p.body["mfaEnabled"] != true {
			t.Errorf("profile after promotion %s", p.raw)
		}
		c.do("GET", "/v1/me/sessions", nil).expect(t, 200, "")
		gone := r.client()
		gone.cookie = restricted
		gone.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		if m := r.auditMeta(owner.userID, "user.login.success"); m["method"] != "totp" {
			t.Errorf("promotion login audit %v", m)
		}
		c.do("POST", "/v1/me/mfa/disable", map[string]any{"token": r.totpCode(secret,
			30*time.Second)}).expect(t, 403, "Your organisation requires MFA")
	})
}

// sessionColumn reads a column of the user's newest session as text.
func (r *idRig) sessionColumn(userID, column string) string {
	r.t.Helper()
	var v string
	err := r.d.QueryRowContext(context.Background(), "SELECT CAST("+column+
		" AS TEXT) FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1",
		userID).Scan(&v)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}
