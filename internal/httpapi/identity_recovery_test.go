package httpapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

func TestVerifyEmailAndResend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withoutAutoVerify())
		owner := r.onboard("Acme", "ada@example.com")
		anon := r.client()
		anon.do("GET", "/v1/auth/verify-email", nil).expect(t, 400, "Missing verification token")
		anon.do("GET", "/v1/auth/verify-email?token=nope", nil).
			expect(t, 400, "Invalid or expired verification token")

		first := r.lastToken(owner.email, "verify-email")
		a := owner.do("POST", "/v1/auth/send-verification-email", nil).expect(t, 200, "")
		if a.str("message") != "Verification email sent" {
			t.Errorf("message %q", a.str("message"))
		}
		second := r.lastToken(owner.email, "verify-email")
		anon.do("GET", "/v1/auth/verify-email?token="+first, nil).
			expect(t, 400, "Invalid or expired verification token")

		a = anon.do("GET", "/v1/auth/verify-email?token="+second, nil).expect(t, 200, "")
		if a.str("message") != "Email verified successfully" {
			t.Errorf("message %q", a.str("message"))
		}
		if !slices.Contains(r.audits(owner.userID), "user.email_verified") {
			t.Error("no user.email_verified audit")
		}
		anon.do("GET", "/v1/auth/verify-email?token="+second, nil).
			expect(t, 400, "Invalid or expired verification token")
		owner.do("POST", "/v1/auth/send-verification-email", nil).
			expect(t, 409, "Email already verified")
	})
}

func TestVerifyEmailTokenLifetimeAndVerifiedUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withoutAutoVerify())
		owner := r.onboard("Acme", "ada@example.com")
		token := r.lastToken(owner.email, "verify-email")
		r.clock.Add(24*time.Hour + time.Second)
		r.client().do("GET", "/v1/auth/verify-email?token="+token, nil).
			expect(t, 400, "Invalid or expired verification token")

		// A valid token of a user verified meanwhile answers 200 and is
		// consumed.
		fresh := issueToken(t, r, owner.userID, identity.PurposeVerifyEmail)
		r.exec(`UPDATE users SET email_verified_at = $1 WHERE id = $2`, r.clock.Now(),
			owner.userID)
		r.client().do("GET", "/v1/auth/verify-email?token="+fresh, nil).expect(t, 200, "")
		r.client().do("GET", "/v1/auth/verify-email?token="+fresh, nil).
			expect(t, 400, "Invalid or expired verification token")
	})
}

func issueToken(t *testing.T, r *idRig, userID, purpose string) string {
	t.Helper()
	tok, _, err := identity.IssueAccountToken(context.Background(), r.d, userID, purpose,
		r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestForgotPassword(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		blocked := r.onboard("Beta", "bob@example.com")
		r.exec(`UPDATE users SET blocked_at = $1 WHERE id = $2`, r.clock.Now(),
			blocked.userID)
		c := r.client()
		want := "If the email exists, a password reset link has been sent"
		for _, email := range []string{"nobody@example.com", "bob@example.com",
			"ADA@example.com"} {
			a := c.do("POST", "/v1/auth/forgot-password", map[string]any{"email": email}).
				expect(t, 200, "")
			if a.str("message") != want {
				t.Errorf("%s: %s", email, a.raw)
			}
		}
		c.do("POST", "/v1/auth/forgot-password", map[string]any{"email": "bad"}).
			expect(t, 400, "Invalid input")
		if len(r.mails("nobody@example.com")) != 0 || len(r.mails("bob@example.com")) != 0 {
			t.Error("mail queued for an unknown or blocked address")
		}
		ms := r.mails(owner.email)
		if len(ms) != 1 || ms[0].template != "password-reset" {
			t.Fatalf("mails %v", ms)
		}
	})
}

func TestResetPassword(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d, withLockout(2))
		owner := r.onboard("Acme", "ada@example.com")
		grant := insertGrant(t, r, owner)
		r.login("ada@example.com", "Wr0ng$pass")
		r.login("ada@example.com", "Wr0ng$pass")
		r.exec(`UPDATE users SET password_reset_required = TRUE, email_verified_at = NULL
			WHERE id = $1`, owner.userID)
		c := r.client()
		c.do("POST", "/v1/auth/forgot-password", map[string]any{"email": owner.email})
		old := r.lastToken(owner.email, "password-reset")
		c.do("POST", "/v1/auth/forgot-password", map[string]any{"email": owner.email})
		token := r.lastToken(owner.email, "password-reset")

		c.do("POST", "/v1/auth/reset-password", map[string]any{}).
			expect(t, 400, "Invalid input")
		c.do("POST", "/v1/auth/reset-password", map[string]any{"token": old,
			"password": "N3w$ecret!"}).expect(t, 400, "Invalid or expired password reset token")
		c.do("POST", "/v1/auth/reset-password", map[string]any{"token": token,
			"password": "weak"}).expect(t, 400, "Password too weak")
		a := c.do("POST", "/v1/auth/reset-password", map[string]any{"token": token,
			"password": "N3w$ecret!"}).expect(t, 200, "")
		if a.str("message") != "Password reset successfully" {
			t.Errorf("message %q", a.str("message"))
		}
		checkResetEffects(t, r, owner, grant)
		c.do("POST", "/v1/auth/reset-password", map[string]any{"token": token,
			"password": "An0ther$ecret"}).
			expect(t, 400, "Invalid or expired password reset token")
		_, a = r.login("ada@example.com", "N3w$ecret!")
		a.expect(t, 200, "")
	})
}

func checkResetEffects(t *testing.T, r *idRig, owner *account, grant string) {
	t.Helper()
	owner.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
	if r.count(`SELECT COUNT(*) FROM sessions WHERE user_id = $1`, owner.userID) != 0 {
		t.Error("sessions survived the reset")
	}
	if r.count(`SELECT COUNT(*) FROM refresh_tokens WHERE id = $1 AND revoked_at IS NULL`,
		grant) != 0 || r.count(`SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL`) != 0 {
		t.Error("tokens survived the reset")
	}
	if r.userColumn(owner.userID, "locked_at").Valid ||
		r.userColumn(owner.userID, "failed_login_count").String != "0" ||
		!r.userColumn(owner.userID, "email_verified_at").Valid ||
		r.count(`SELECT COUNT(*) FROM users WHERE id = $1
			AND password_reset_required = FALSE`, owner.userID) != 1 {
		t.Error("lock, counter, forced-reset flag or verification not updated")
	}
	if !slices.Contains(r.audits(owner.userID), "user.password_reset") {
		t.Error("no user.password_reset audit")
	}
	ms := r.mails(owner.email)
	last := ms[len(ms)-1]
	if last.template != "security-notice" || last.data["change"] != "password_reset" {
		t.Errorf("last mail %v", last)
	}
}

// insertGrant gives the owner a client with a live refresh token and
// access token, and returns the refresh token's id.
func insertGrant(t *testing.T, r *idRig, owner *account) string {
	t.Helper()
	now := r.clock.Now()
	client, rt := db.NewID(), db.NewID()
	r.exec(`INSERT INTO clients (id, organisation_id, client_id, name, client_type,
		token_endpoint_auth_method, created_at, updated_at)
		VALUES ($1, $2, $3, 'App', 'confidential', 'client_secret_basic', $4, $4)`,
		client, owner.orgID, "c"+client[:8], now)
	r.exec(`INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id,
		organisation_id, auth_time, expires_at, created_at)
		VALUES ($1, $2, $1, $3, $4, $5, $6, $7, $6)`, rt, "h"+rt, client, owner.userID,
		owner.orgID, now, now.Add(time.Hour))
	r.exec(`INSERT INTO tokens (id, jti, client_id, user_id, organisation_id, issued_at,
		expires_at, created_at) VALUES ($1, $1, $2, $3, $4, $5, $6, $5)`, db.NewID(),
		client, owner.userID, owner.orgID, now, now.Add(time.Hour))
	return rt
}

func TestResetPasswordAcceptsSetupTokensAndRefusesExpired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		reset := issueToken(t, r, owner.userID, identity.PurposePasswordReset)
		setup := issueToken(t, r, owner.userID, identity.PurposePasswordSetup)
		r.clock.Add(time.Hour + time.Second)
		c := r.client()
		c.do("POST", "/v1/auth/reset-password", map[string]any{"token": reset,
			"password": "N3w$ecret!"}).expect(t, 400, "Invalid or expired password reset token")
		c.do("POST", "/v1/auth/reset-password", map[string]any{"token": setup,
			"password": "N3w$ecret!"}).expect(t, 200, "")
		if m := r.auditMeta(owner.userID, "user.password_reset"); m["setup"] != true {
			t.Errorf("audit metadata %v", m)
		}
	})
}

func TestChangePassword(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		other, _ := r.login("ada@example.com", goodPassword)
		change := func(current, next string) *answer {
			return owner.do("POST", "/v1/me/password", map[string]any{
				"currentPassword": current, "newPassword": next})
		}

		a := change("Wr0ng$pass", "N3w$ecret!").expect(t, 400, "Current password is incorrect")
		if f := a.fieldErrors(); !slices.Equal(f["currentPassword"], []string{"invalid_value"}) {
			t.Errorf("fields %v", f)
		}
		if r.userColumn(owner.userID, "failed_login_count").String != "0" {
			t.Error("a wrong current password counted toward lockout")
		}
		a = change(goodPassword, "short").expect(t, 400, "Password too weak")
		if f := a.fieldErrors(); f["newPassword"] == nil {
			t.Errorf("fields %v", f)
		}
		a = change(goodPassword, goodPassword).expect(t, 400, "Password too weak")
		if !slices.Contains(a.messages(), "New password must differ from the current password") {
			t.Errorf("messages %v", a.messages())
		}
		change("", "").expect(t, 400, "Invalid input")

		a = change(goodPassword, "N3w$ecret!").expect(t, 200, "")
		if a.str("message") != "Password changed successfully" {
			t.Errorf("message %q", a.str("message"))
		}
		owner.do("GET", "/v1/me/profile", nil).expect(t, 200, "")
		other.do("GET", "/v1/me/profile", nil).expect(t, 401, "Invalid or expired session")
		if !slices.Contains(r.audits(owner.userID), "user.password_changed") {
			t.Error("no user.password_changed audit")
		}
		ms := r.mails(owner.email)
		if ms[len(ms)-1].data["change"] != "password_changed" {
			t.Errorf("notice %v", ms[len(ms)-1])
		}
	})
}

func TestOrganisationPasswordPolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.exec(`UPDATE organisations SET password_policy = $1 WHERE id = $2`,
			`{"minLength":12,"requireSymbols":false,"preventReuse":2}`, owner.orgID)
		change := func(current, next string) *answer {
			return owner.do("POST", "/v1/me/password", map[string]any{
				"currentPassword": current, "newPassword": next})
		}
		a := change(goodPassword, "Short1Pass").expect(t, 400, "Password too weak")
		if !slices.Equal(a.messages(), []string{
			"Password must be at least 12 characters long"}) {
			t.Errorf("messages %v", a.messages())
		}
		change(goodPassword, "Longer1Password").expect(t, 200, "")
		change("Longer1Password", "Another1Password").expect(t, 200, "")
		a = change("Another1Password", "Longer1Password").expect(t, 400, "Password too weak")
		if !slices.Equal(a.messages(), []string{"Password was used recently"}) {
			t.Errorf("messages %v", a.messages())
		}
	})
}

func TestProfileUpdate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		a := owner.do("PATCH", "/v1/me/profile", map[string]any{"firstName": " Grace ",
			"phone": "+441234567890"}).expect(t, 200, "")
		if a.str("name") != "Grace Lovelace" || a.str("phone") != "+441234567890" ||
			a.str("firstName") != "Grace" {
			t.Errorf("profile %s", a.raw)
		}
		if m := r.auditMeta(owner.userID, "user.updated"); mustJSON(t, m["changes"]) !=
			`["firstName","phone"]` {
			t.Errorf("audit metadata %v", m)
		}
		a = owner.do("PATCH", "/v1/me/profile", map[string]any{"phone": nil}).
			expect(t, 200, "")
		if a.body["phone"] != nil {
			t.Errorf("phone not cleared: %s", a.raw)
		}
		a = owner.do("PATCH", "/v1/me/profile", map[string]any{"phone": "12345",
			"lastName": "", "firstName": nil}).expect(t, 400, "Invalid input")
		f := a.fieldErrors()
		if f["phone"] == nil || f["lastName"] == nil || f["firstName"] == nil {
			t.Errorf("fields %v", f)
		}
		owner.do("PATCH", "/v1/me/profile", map[string]any{"email": "x@example.com"}).
			expect(t, 400, "Invalid input")
	})
}
