package e2e_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

const (
	ownerEmail = "ada@example.com"
	firstPass  = "Sup3r$ecret"
	secondPass = "N3w$ecret!pass"
)

// TestIdentityLifecycle follows one account through its life over HTTP:
// onboarding, logout and login, TOTP enrollment, logins with TOTP and with
// backup codes, session listing and revocation, and a password reset
// through the mail, after which every older session is rejected.
func TestIdentityLifecycle(t *testing.T) {
	srv, smtp := startWithMail(t, nil)
	ada := newAccountBrowser(t, srv.URL)
	ada.call("POST", "/v1/auth/onboard", map[string]any{"organisationName": "Analytical",
		"email": ownerEmail, "firstName": "Ada", "lastName": "Lovelace",
		"password": firstPass}).want(t, 201, "")
	ada.call("GET", "/v1/me/profile", nil).want(t, 200, "")

	ada.call("POST", "/v1/auth/logout", nil).want(t, 200, "")
	ada.call("GET", "/v1/me/profile", nil).want(t, 401, "Authentication required")
	ada.login(ownerEmail, firstPass, "").want(t, 200, "")

	secret, backup := enrolTOTP(t, ada)
	signInWithSecondFactor(t, srv.URL, secret, backup)

	// A second device signs in; the first lists both and revokes it.
	phone := newAccountBrowser(t, srv.URL)
	phone.login(ownerEmail, firstPass, backup[1]).want(t, 200, "")
	revokeOther(t, ada, phone)

	// A third device stays signed in until the reset.
	tablet := newAccountBrowser(t, srv.URL)
	tablet.login(ownerEmail, firstPass, backup[2]).want(t, 200, "")
	resetThroughMail(t, srv.URL, smtp)
	for name, b := range map[string]*accountBrowser{"laptop": ada, "tablet": tablet} {
		b.call("GET", "/v1/me/profile", nil).want(t, 401, "")
		if name == "laptop" {
			b.call("GET", "/v1/me/sessions", nil).want(t, 401, "Authentication required")
		}
	}
	fresh := newAccountBrowser(t, srv.URL)
	fresh.login(ownerEmail, firstPass, backup[3]).want(t, 401, "Invalid email or password")
	fresh.login(ownerEmail, secondPass, backup[3]).want(t, 200, "")
	checkMetrics(t, srv.URL)
}

// enrolTOTP turns TOTP on with codes computed like an authenticator app.
func enrolTOTP(t *testing.T, b *accountBrowser) (string, []string) {
	t.Helper()
	setup := b.call("POST", "/v1/me/mfa/enable", nil).want(t, 200, "")
	secret := setup.str("secret")
	if !strings.HasPrefix(setup.str("qrCodeUri"), "otpauth://totp/Cerberus:"+ownerEmail) {
		t.Fatalf("enable answer %s", setup.raw)
	}
	v := b.call("POST", "/v1/me/mfa/verify", map[string]any{
		"token": codeAt(t, secret, 0)}).want(t, 200, "")
	var codes []string
	for _, c := range v.body["backupCodes"].([]any) {
		codes = append(codes, c.(string))
	}
	if len(codes) != 10 {
		t.Fatalf("backup codes %v", codes)
	}
	return secret, codes
}

// signInWithSecondFactor logs in with TOTP (the next time step, since the
// current one was used to enrol) and with a backup code, which then fails
// a second time.
func signInWithSecondFactor(t *testing.T, base, secret string, backup []string) {
	t.Helper()
	b := newAccountBrowser(t, base)
	b.login(ownerEmail, firstPass, "").want(t, 401, "Multi-factor authentication required")
	next := codeAt(t, secret, 30*time.Second)
	b.login(ownerEmail, firstPass, next).want(t, 200, "")
	b.login(ownerEmail, firstPass, next).want(t, 401, "Invalid MFA token")
	b.login(ownerEmail, firstPass, backup[0]).want(t, 200, "")
	b.call("DELETE", "/v1/auth/session", nil).want(t, 204, "")
	b.login(ownerEmail, firstPass, backup[0]).want(t, 401, "Invalid MFA token")
}

// revokeOther lists the sessions from b and revokes other's.
func revokeOther(t *testing.T, b, other *accountBrowser) {
	t.Helper()
	list := b.call("GET", "/v1/me/sessions", nil).want(t, 200, "")
	var otherID string
	for _, x := range list.body["data"].([]any) {
		s := x.(map[string]any)
		if s["current"] == false {
			otherID = s["id"].(string)
		}
	}
	if otherID == "" {
		t.Fatalf("no other session in %s", list.raw)
	}
	b.call("DELETE", "/v1/me/sessions/"+otherID, nil).want(t, 204, "")
	other.call("GET", "/v1/me/profile", nil).want(t, 401, "")
	b.call("GET", "/v1/me/profile", nil).want(t, 200, "")
}

// resetThroughMail asks for a reset, reads the mail from the SMTP server,
// takes the token of its link (as the admin front end would) and sets the
// new password.
func resetThroughMail(t *testing.T, base string, smtp *mailtest.Server) {
	t.Helper()
	anon := newAccountBrowser(t, base)
	anon.call("POST", "/v1/auth/forgot-password", map[string]any{"email": "ADA@example.com"}).
		want(t, 200, "")
	smtp.Wait(t, 1)
	msg := smtp.Last(t, ownerEmail)
	link := msg.Link("https://admin.example.test/reset-password?token=")
	if link == "" || msg.Token() == "" {
		t.Fatalf("reset mail without a link:\n%s", msg.Text)
	}
	anon.call("POST", "/v1/auth/reset-password", map[string]any{"token": msg.Token(),
		"password": secondPass}).want(t, 200, "")
	anon.call("POST", "/v1/auth/reset-password", map[string]any{"token": msg.Token(),
		"password": secondPass + "x"}).want(t, 400, "Invalid or expired password reset token")
	smtp.Wait(t, 2)
	notice := smtp.Last(t, ownerEmail)
	if !strings.Contains(strings.ToLower(notice.Subject+notice.Text), "password") {
		t.Errorf("no password notice: %q", notice.Subject)
	}
}

// checkMetrics reads the login and session counters.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`cerberus_logins_total{result="success"}`,
		`cerberus_logins_total{result="mfa_required"} 1`,
		`cerberus_mfa_verifications_total{method="backup_code",result="success"}`,
		`cerberus_sessions_ended_total{reason="revoked"}`, "cerberus_sessions_created_total"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
