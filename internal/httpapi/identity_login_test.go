package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestLoginCreatesSessionAndRecordsTelemetry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		first := owner.cookie

		// The cookie of the onboarding session goes with the login: it is
		// replaced.
		a := owner.do("POST", "/v1/auth/login", map[string]any{
			"email": " ADA@Example.com", "password": goodPassword}).expect(t, 200, "")
		if a.str("message") != "Login successful" ||
			a.obj("user")["email"] != "ada@example.com" ||
			a.obj("organisation")["slug"] != "acme" {
			t.Fatalf("login body %s", a.raw)
		}
		if owner.cookie == first || owner.csrf == "" {
			t.Fatal("login did not send a new cookie and CSRF token")
		}
		old := r.client()
		old.cookie = first
		old.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")

		if r.userColumn(owner.userID, "login_count").String != "1" ||
			r.userColumn(owner.userID, "last_login_ip").String != "192.0.2.1" ||
			!r.userColumn(owner.userID, "last_login_at").Valid {
			t.Error("login telemetry not recorded")
		}
		if m := r.auditMeta(owner.userID, "user.login.success"); m["method"] != "password" {
			t.Errorf("login audit metadata %v", m)
		}
		var amr string
		_ = d.QueryRowContext(context.Background(), `SELECT amr FROM sessions
			WHERE user_id = $1`, owner.userID).Scan(&amr)
		if strings.ReplaceAll(amr, " ", "") != `["pwd"]` {
			t.Errorf("amr %s", amr)
		}
	})
}

func TestLoginRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")

		_, a := r.login("bad", "")
		a.expect(t, 400, "Invalid input")
		if f := a.fieldErrors(); f["email"] == nil || f["password"] == nil {
			t.Errorf("fields %v", f)
		}
		_, a = r.login("ada@example.com", goodPassword, "12")
		if a.expect(t, 400, "Invalid input").fieldErrors()["mfaToken"] == nil {
			t.Error("bad mfaToken not reported")
		}

		_, unknown := r.login("nobody@example.com", goodPassword)
		_, wrong := r.login("ada@example.com", "Wr0ng$pass")
		unknown.expect(t, 401, "Invalid email or password")
		wrong.expect(t, 401, "Invalid email or password")
		delete(unknown.body, "requestId")
		delete(wrong.body, "requestId")
		if mustJSON(t, unknown.body) != mustJSON(t, wrong.body) {
			t.Errorf("bodies differ:\n%s\n%s", unknown.raw, wrong.raw)
		}
		if unknown.header.Get("Set-Cookie") != "" {
			t.Error("a failed login set a cookie")
		}
		if m := r.auditMeta(owner.userID, "user.login.failed"); m["reason"] !=
			"invalid_password" {
			t.Errorf("failed login metadata %v", m)
		}

		r.exec(`UPDATE users SET password_reset_required = TRUE WHERE id = $1`, owner.userID)
		_, a = r.login("ada@example.com", goodPassword)
		a.expect(t, 401, "Password reset required")
		r.exec(`UPDATE users SET blocked_at = $1 WHERE id = $2`, r.clock.Now(), owner.userID)
		_, a = r.login("ada@example.com", goodPassword)
		a.expect(t, 401, "Account is blocked")
		_, a = r.login("ada@example.com", "Wr0ng$pass")
		a.expect(t, 401, "Invalid email or password")

		var reasons []string
		rows, _ := d.QueryContext(context.Background(), `SELECT metadata FROM audit_logs
			WHERE event_type = 'user.login.failed' ORDER BY created_at, id`)
		for rows.Next() {
			var m map[string]any
			_ = rows.Scan(db.JSON(&m))
			reasons = append(reasons, m["reason"].(string))
		}
		rows.Close()
		want := []string{"invalid_password", "reset_required", "blocked", "invalid_password"}
		if !slices.Equal(reasons, want) {
			t.Errorf("failure reasons %v, want %v", reasons, want)
		}
	})
}

func TestLoginWithoutPasswordSetNeverMatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.exec(`UPDATE users SET password_hash = NULL WHERE id = $1`, owner.userID)
		_, a := r.login("ada@example.com", goodPassword)
		a.expect(t, 401, "Invalid email or password")
	})
}

func TestLoginLockout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withLockout(3))
		owner := r.onboard("Acme", "alice@x.com")

		// Case and Unicode variants of the address share one counter.
		for i, email := range []string{"Alice@x.com", "alice@X.COM", "ａｌｉｃｅ@ｘ.ｃｏｍ"} {
			_, a := r.login(email, "Wr0ng$pass")
			want := "Invalid email or password"
			if i == 2 {
				want = "Account temporarily locked"
			}
			a.expect(t, 401, want)
		}
		if !slices.Contains(r.audits(owner.userID), "user.locked") {
			t.Error("no user.locked audit")
		}
		if r.userColumn(owner.userID, "failed_login_count").String != "0" {
			t.Error("counter not reset by the lock")
		}

		// The right password during the lock gets the same answer and
		// changes nothing.
		_, a := r.login("alice@x.com", goodPassword)
		a.expect(t, 401, "Account temporarily locked")
		if r.userColumn(owner.userID, "failed_login_count").String != "0" {
			t.Error("counter changed during the lock")
		}

		r.clock.Add(15*time.Minute + time.Second)
		_, a = r.login("alice@x.com", goodPassword)
		a.expect(t, 200, "")
		if r.userColumn(owner.userID, "locked_at").Valid {
			t.Error("expired lock not cleared")
		}
	})
}

func TestLoginUpgradesOutdatedHash(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		old := crypto.NewPasswordHasher(crypto.HashParams{MemoryKiB: 128, Iterations: 2,
			Parallelism: 1}, 1, time.Second, nil)
		h, err := old.Hash(context.Background(), goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		r.exec(`UPDATE users SET password_hash = $1 WHERE id = $2`, h, owner.userID)
		_, a := r.login("ada@example.com", goodPassword)
		a.expect(t, 200, "")
		got := r.userColumn(owner.userID, "password_hash").String
		if got == h || !strings.Contains(got, "m=64,t=1,p=1") {
			t.Errorf("hash not upgraded: %s", got)
		}
		_, a = r.login("ada@example.com", goodPassword)
		a.expect(t, 200, "")
	})
}

func TestLoginWithTOTPAndBackupCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withLockout(4))
		owner := r.onboard("Acme", "ada@example.com")
		secret, backup := r.enableMFA(owner.client)

		c, a := r.login("ada@example.com", goodPassword)
		a.expect(t, 401, "Multi-factor authentication required")
		if a.body["requiresMfa"] != true || c.cookie != "" {
			t.Fatalf("mfa step: %s cookie %q", a.raw, c.cookie)
		}
		code := r.totpCode(secret, 0)
		_, a = r.login("ada@example.com", goodPassword, code)
		a.expect(t, 200, "")
		if m := r.auditMeta(owner.userID, "user.login.success"); m["method"] != "totp" {
			t.Errorf("method %v", m)
		}

		// The same step, and an earlier one, are never accepted again.
		_, a = r.login("ada@example.com", goodPassword, code)
		a.expect(t, 401, "Invalid MFA token")
		if a.body["requiresMfa"] != true {
			t.Errorf("replay answer %s", a.raw)
		}
		_, a = r.login("ada@example.com", goodPassword, r.totpCode(secret, -30*time.Second))
		a.expect(t, 401, "Invalid MFA token")

		// Backup codes work once, in any case and without the hyphen.
		bc := strings.ToLower(strings.ReplaceAll(backup[3], "-", ""))
		_, a = r.login("ada@example.com", goodPassword, bc)
		a.expect(t, 200, "")
		if m := r.auditMeta(owner.userID, "user.login.success"); m["method"] != "backup_code" {
			t.Errorf("method %v", m)
		}
		_, a = r.login("ada@example.com", goodPassword, backup[3])
		a.expect(t, 401, "Invalid MFA token")

		// Bad codes count toward the lock like wrong passwords: one failure
		// since the last success, two more, then the fourth locks.
		for _, bad := range []string{"ABCD-0123", "000000"} {
			_, a = r.login("ada@example.com", goodPassword, bad)
			a.expect(t, 401, "Invalid MFA token")
		}
		_, a = r.login("ada@example.com", goodPassword, "ABCD-0124")
		a.expect(t, 401, "Account temporarily locked")
		_, a = r.login("ada@example.com", goodPassword, r.totpCode(secret, 30*time.Second))
		a.expect(t, 401, "Account temporarily locked")
	})
}
