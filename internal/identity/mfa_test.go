package identity_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

// TestPendingTOTPKeepsTheSecret checks that PendingTOTP, which the set-up
// page calls on every showing, creates a secret only when none is pending,
// while BeginTOTP (the JSON API's enable) replaces it.
func TestPendingTOTPKeepsTheSecret(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil)
		s := r.onboard(t, "ada@example.com").Session
		ctx := context.Background()
		first, err := r.svc.PendingTOTP(ctx, s.OrganisationID, s.UserID)
		if err != nil || first.DataURL == "" || first.URI == "" {
			t.Fatalf("first showing: %+v, %v", first, err)
		}
		again, err := r.svc.PendingTOTP(ctx, s.OrganisationID, s.UserID)
		if err != nil || again.Secret != first.Secret || again.DataURL != first.DataURL {
			t.Fatalf("second showing replaced the secret: %v", err)
		}
		begun, err := r.svc.BeginTOTP(ctx, s.OrganisationID, s.UserID)
		if err != nil || begun.Secret == first.Secret {
			t.Fatalf("enable kept the pending secret: %v", err)
		}
		shown, err := r.svc.PendingTOTP(ctx, s.OrganisationID, s.UserID)
		if err != nil || shown.Secret != begun.Secret {
			t.Fatalf("page after enable: %v", err)
		}
		code, _ := totp.GenerateCode(shown.Secret, r.clock.Now())
		if _, err := r.svc.ConfirmTOTP(ctx, s.OrganisationID, s.UserID, s.ID,
			code); err != nil {
			t.Fatal(err)
		}
		_, err = r.svc.PendingTOTP(ctx, s.OrganisationID, s.UserID)
		if e := apperr.As(err); e == nil || e.Detail != "MFA is already enabled" {
			t.Fatalf("with MFA on: %v", err)
		}
	})
}

// TestSecondFactorRefusesMalformedCodes checks that the second login step
// answers 400 to an empty or malformed code without counting it, as Login
// does for a malformed mfaToken.
func TestSecondFactorRefusesMalformedCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil, func(o *identity.Options) { o.LockoutThreshold = 2 })
		on := r.onboard(t, "ada@example.com")
		enrol(t, r, on.Session)
		ctx := context.Background()
		for _, code := range []string{"", " ", "12345", "abcdefgh!", "0000-000"} {
			_, err := r.svc.LoginSecondFactor(ctx, identity.SecondFactorInput{
				UserID: on.User.ID, Code: code})
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.Invalid || len(e.Fields) != 1 ||
				e.Fields[0].Field != "code" {
				t.Errorf("code %q: %v", code, err)
			}
		}
		if n := failedLogins(t, r, on.User.ID); n != 0 {
			t.Errorf("malformed codes counted %d failures", n)
		}
	})
}

// failedLogins returns the user's failed-login counter.
func failedLogins(t *testing.T, r *rig, userID string) int {
	t.Helper()
	var n int
	if err := r.d.QueryRowContext(context.Background(), `SELECT failed_login_count
		FROM users WHERE id = $1`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasswordResetEndsPendingSecondFactor checks that the second login
// step refuses a first step made before a password reset or change, even
// with a right code, and that it does not count as a failure.
func TestPasswordResetEndsPendingSecondFactor(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil)
		on := r.onboard(t, "ada@example.com")
		secret := enrol(t, r, on.Session)
		ctx := context.Background()
		pw := password
		first := func() *identity.LoginResult {
			t.Helper()
			res, err := r.svc.Login(ctx, identity.LoginInput{Email: "ada@example.com",
				Password: pw})
			if err != nil || !res.MFARequired || res.Stamp == "" {
				t.Fatalf("first step: %+v, %v", res, err)
			}
			return res
		}
		code := func() string {
			c, _ := totp.GenerateCode(secret, r.clock.Now())
			return c
		}
		second := func(res *identity.LoginResult) error {
			_, err := r.svc.LoginSecondFactor(ctx, identity.SecondFactorInput{
				UserID: res.UserID, Stamp: res.Stamp, Code: code()})
			r.clock.Add(30 * time.Second)
			return err
		}

		before := first()
		var token string
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			token, _, err = identity.IssueAccountToken(ctx, tx, on.User.ID,
				identity.PurposePasswordReset, r.clock.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		pw = "N3w$ecret!"
		if err := r.svc.ResetPassword(ctx, identity.ResetInput{Token: token,
			Password: pw}); err != nil {
			t.Fatal(err)
		}
		if e := apperr.As(second(before)); e == nil || e.Detail != "Invalid email or password" {
			t.Fatalf("step begun before the reset: %v", e)
		}
		if n := failedLogins(t, r, on.User.ID); n != 0 {
			t.Errorf("the refused step counted %d failures", n)
		}

		before = first()
		res, err := r.svc.Login(ctx, identity.LoginInput{Email: "ada@example.com",
			Password: pw, MFAToken: code()})
		if err != nil {
			t.Fatal(err)
		}
		r.clock.Add(30 * time.Second)
		if err := r.svc.ChangePassword(ctx, res.Session.OrganisationID, res.UserID,
			res.Session.ID, identity.ChangePasswordInput{CurrentPassword: pw,
				NewPassword: "Th1rd$ecret"}); err != nil {
			t.Fatal(err)
		}
		if e := apperr.As(second(before)); e == nil || e.Detail != "Invalid email or password" {
			t.Fatalf("step begun before the change: %v", e)
		}
		pw = "Th1rd$ecret"
		if err := second(first()); err != nil {
			t.Fatalf("fresh sign-in: %v", err)
		}
		if err := second(&identity.LoginResult{UserID: on.User.ID}); err == nil {
			t.Fatal("a step without a stamp signed in")
		}
	})
}

// TestWrongCodesAtMFAChangesCountTowardLockout checks that wrong codes
// sent to check, disable and backup-code regeneration count as failed
// attempts as wrong sign-in codes do: the threshold locks the account
// (audit user.locked), and while it is locked these calls answer 400
// "Account temporarily locked" whatever the code, so a stolen session
// cannot guess codes. Malformed codes are not counted.
func TestWrongCodesAtMFAChangesCountTowardLockout(t *testing.T) {
	calls := map[string]func(r *rig, orgID, userID, code string) error{
		"check": func(r *rig, orgID, userID, code string) error {
			valid, err := r.svc.CheckTOTP(context.Background(), orgID, userID, code)
			if err == nil && !valid {
				return errInvalidCheck
			}
			return err
		},
		"disable": func(r *rig, orgID, userID, code string) error {
			return r.svc.DisableMFA(context.Background(), orgID, userID, code)
		},
		"backup-codes": func(r *rig, orgID, userID, code string) error {
			_, err := r.svc.RegenerateBackupCodes(context.Background(), orgID, userID, code)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				r := newRig(t, d, nil, func(o *identity.Options) { o.LockoutThreshold = 3 })
				s := r.onboard(t, "ada@example.com").Session
				secret := enrol(t, r, s)
				do := func(code string) string {
					err := call(r, s.OrganisationID, s.UserID, code)
					if e := apperr.As(err); e != nil {
						return e.Detail
					}
					if err != nil {
						t.Fatal(err)
					}
					return ""
				}
				for _, code := range []string{"abc", "12345", "000000", "111111"} {
					if got := do(code); got != wrongAnswer(name) {
						t.Fatalf("code %s: %q", code, got)
					}
				}
				if n := failedLogins(t, r, s.UserID); n != 2 {
					t.Fatalf("%d failures counted, want 2", n)
				}
				if got := do("222222"); got != "Account temporarily locked" {
					t.Fatalf("third wrong code: %q", got)
				}
				if n := auditCount(t, r, "user.locked"); n != 1 {
					t.Errorf("%d user.locked rows", n)
				}
				code, _ := totp.GenerateCode(secret, r.clock.Now())
				if got := do(code); got != "Account temporarily locked" {
					t.Fatalf("right code while locked: %q", got)
				}
				_, err := r.svc.Login(context.Background(), identity.LoginInput{
					Email: "ada@example.com", Password: password})
				if e := apperr.As(err); e == nil || e.Detail != "Account temporarily locked" {
					t.Errorf("login while locked: %v", err)
				}
				r.clock.Add(16 * time.Minute)
				code, _ = totp.GenerateCode(secret, r.clock.Now())
				if got := do(code); got != "" {
					t.Fatalf("right code after the lock: %q", got)
				}
			})
		})
	}
}

// errInvalidCheck stands for a check that answered {valid: false}.
var errInvalidCheck = apperr.New(apperr.Invalid, "not valid")

func wrongAnswer(call string) string {
	if call == "check" {
		return "not valid"
	}
	return "Invalid verification code"
}

// auditCount returns how many audit rows of a type exist.
func auditCount(t *testing.T, r *rig, eventType string) int {
	t.Helper()
	var n int
	if err := r.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_logs
		WHERE event_type = $1`, eventType).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
