package httpapi_test

import (
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

var backupCodeRE = regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`)

func TestMFAEnableAndVerify(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		owner.do("POST", "/v1/me/mfa/verify", map[string]any{"token": "123456"}).
			expect(t, 400, "MFA setup has not been started")

		a := owner.do("POST", "/v1/me/mfa/enable", nil).expect(t, 200, "")
		secret := a.str("secret")
		if len(secret) != 32 || a.str("message") != "Scan the QR code, then verify a code" {
			t.Fatalf("enable answer %s", a.raw)
		}
		wantURI := "otpauth://totp/Cerberus:ada@example.com?secret=" + secret +
			"&issuer=Cerberus&algorithm=SHA1&digits=6&period=30"
		if a.str("qrCodeUri") != wantURI {
			t.Errorf("uri %q\nwant %q", a.str("qrCodeUri"), wantURI)
		}
		checkPNGDataURL(t, a.str("qrCodeDataUrl"))
		if r.userColumn(owner.userID, "totp_pending_secret").String == secret {
			t.Error("pending secret stored in clear")
		}

		// Enabling again replaces the pending secret.
		secret = owner.do("POST", "/v1/me/mfa/enable", nil).expect(t, 200, "").str("secret")
		owner.do("POST", "/v1/me/mfa/verify", map[string]any{"token": "12345x"}).
			expect(t, 400, "Invalid verification code")
		owner.do("POST", "/v1/me/mfa/verify", map[string]any{}).expect(t, 400, "Invalid input")
		a = owner.do("POST", "/v1/me/mfa/verify", map[string]any{
			"token": r.totpCode(secret, 0)}).expect(t, 200, "")
		codes := a.body["backupCodes"].([]any)
		if len(codes) != 10 || a.str("message") != "MFA enabled successfully" ||
			a.str("warning") != "Store these backup codes now; they will not be shown again" {
			t.Fatalf("verify answer %s", a.raw)
		}
		for _, c := range codes {
			if !backupCodeRE.MatchString(c.(string)) {
				t.Errorf("backup code %q", c)
			}
		}
		if !slices.Contains(r.audits(owner.userID), "user.mfa.enabled") {
			t.Error("no user.mfa.enabled audit")
		}
		owner.do("POST", "/v1/me/mfa/enable", nil).expect(t, 400, "MFA is already enabled")
		owner.do("POST", "/v1/me/mfa/verify", map[string]any{
			"token": r.totpCode(secret, 30*time.Second)}).expect(t, 400, "MFA is already enabled")
	})
}

func checkPNGDataURL(t *testing.T, u string) {
	t.Helper()
	raw, ok := strings.CutPrefix(u, "data:image/png;base64,")
	if !ok {
		t.Fatalf("data URL %.40q", u)
	}
	png, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("not a PNG: %v", err)
	}
}

func TestMFACheckDisableAndBackupCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		for _, path := range []string{"check", "disable", "backup-codes"} {
			owner.do("POST", "/v1/me/mfa/"+path, map[string]any{"token": "123456"}).
				expect(t, 400, "MFA is not enabled")
		}
		secret, backup := r.enableMFA(owner.client)

		// check is a dry run: the same code stays valid.
		code := r.totpCode(secret, 0)
		for range 2 {
			a := owner.do("POST", "/v1/me/mfa/check", map[string]any{"token": code}).
				expect(t, 200, "")
			if a.body["valid"] != true {
				t.Fatalf("check %s", a.raw)
			}
		}
		if a := owner.do("POST", "/v1/me/mfa/check", map[string]any{"token": "abc"}).
			expect(t, 200, ""); a.body["valid"] != false {
			t.Errorf("check of a bad code %s", a.raw)
		}

		owner.do("POST", "/v1/me/mfa/backup-codes", map[string]any{"token": "ABCD-EF01"}).
			expect(t, 400, "Invalid verification code")
		a := owner.do("POST", "/v1/me/mfa/backup-codes", map[string]any{"token": backup[0]}).
			expect(t, 200, "")
		fresh := a.body["backupCodes"].([]any)
		if len(fresh) != 10 || a.str("message") != "Backup codes regenerated successfully" {
			t.Fatalf("backup-codes answer %s", a.raw)
		}
		if m := r.auditMeta(owner.userID, "user.updated"); m["backupCodesRegenerated"] != true {
			t.Errorf("audit metadata %v", m)
		}
		_, l := r.login("ada@example.com", goodPassword, backup[1])
		l.expect(t, 401, "Invalid MFA token")
		_, l = r.login("ada@example.com", goodPassword, fresh[0].(string))
		l.expect(t, 200, "")

		owner.do("POST", "/v1/me/mfa/disable", map[string]any{"token": "000000x"}).
			expect(t, 400, "Invalid verification code")
		a = owner.do("POST", "/v1/me/mfa/disable", map[string]any{"token": code}).
			expect(t, 200, "")
		if a.str("message") != "MFA disabled successfully" {
			t.Errorf("disable answer %s", a.raw)
		}
		checkDisabled(t, r, owner)
	})
}

func checkDisabled(t *testing.T, r *idRig, owner *account) {
	t.Helper()
	if r.userColumn(owner.userID, "totp_secret").Valid ||
		r.count(`SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = $1`, owner.userID) != 0 {
		t.Error("secret or backup codes kept after disable")
	}
	if !slices.Contains(r.audits(owner.userID), "user.mfa.disabled") {
		t.Error("no user.mfa.disabled audit")
	}
	ms := r.mails(owner.email)
	if ms[len(ms)-1].data["change"] != "mfa_disabled" {
		t.Errorf("notice %v", ms[len(ms)-1])
	}
	_, l := r.login("ada@example.com", goodPassword)
	l.expect(t, 200, "")
}

func TestExport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		r.enableMFA(owner.client)
		insertGrant(t, r, owner)
		r.exec(`INSERT INTO consents (id, user_id, client_id, organisation_id, scopes,
			granted_at, created_at, updated_at) SELECT $1, $2, id, organisation_id,
			'["openid"]', $3, $3, $3 FROM clients`, db.NewID(), owner.userID, r.clock.Now())
		r.exec(`INSERT INTO api_keys (id, organisation_id, created_by_id, name, prefix,
			key_hash, scopes, created_at, updated_at) VALUES ($1, $2, $3, 'ci',
			'ck_test_abcd1234', 'secret-digest', '["users:read"]', $4, $4)`, db.NewID(),
			owner.orgID, owner.userID, r.clock.Now())

		a := owner.do("GET", "/v1/me/export", nil).expect(t, 200, "")
		if a.header.Get("Content-Disposition") !=
			`attachment; filename="cerberus-export.json"` {
			t.Errorf("disposition %q", a.header.Get("Content-Disposition"))
		}
		data := a.obj("data")
		for key, n := range map[string]int{"roles": 1, "teams": 0, "sessions": 1,
			"consents": 1, "apiKeys": 1} {
			if got := len(data[key].([]any)); got != n {
				t.Errorf("%s: %d entries, want %d", key, got, n)
			}
		}
		if len(data["auditLogs"].([]any)) < 2 || a.str("generatedAt") == "" {
			t.Errorf("export %s", a.raw)
		}
		user := data["user"].(map[string]any)
		if user["mfaEnabled"] != true || user["email"] != "ada@example.com" {
			t.Errorf("user %v", user)
		}
		for _, secret := range []string{"argon2id", "secret-digest", "totp",
			r.userColumn(owner.userID, "totp_secret").String} {
			if strings.Contains(strings.ToLower(string(a.raw)), strings.ToLower(secret)) {
				t.Errorf("export contains %q", secret)
			}
		}
	})
}
