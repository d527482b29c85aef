package identity_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice@X.com ":   "alice@x.com",
		"alice@X.COM":      "alice@x.com",
		"ａｌｉｃｅ@ｘ.ｃｏｍ":      "alice@x.com",
		"Ǆemal@example.io": "džemal@example.io",
	} {
		if got := identity.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlugify(t *testing.T) {
	ten := "abcdefghij"
	four := ten + "-" + ten + "-" + ten + "-" + ten // 43 characters
	for in, want := range map[string]string{
		"Acme Inc.":              "acme-inc",
		"  --Hello,   World--  ": "hello-world",
		"Café Société":           "cafe-societe",
		"日本":                     "org",
		"A":                      "a",
		four + " " + ten:         four + "-abcd",
		four + " abc x":          four + "-abc",
	} {
		if got := identity.Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPasswordPolicyRules(t *testing.T) {
	p := identity.DefaultPasswordPolicy
	if got := p.Rules("Sup3r$ecret"); len(got) != 0 {
		t.Errorf("good password refused: %v", got)
	}
	want := []string{
		"Password must be at least 8 characters long",
		"Password must contain at least one upper-case letter",
		"Password must contain at least one digit",
		"Password must contain at least one symbol",
	}
	if got := p.Rules("abc"); !slices.Equal(got, want) {
		t.Errorf("Rules(abc) = %v", got)
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	if got := p.Rules("A1$" + string(long)); !slices.Equal(got,
		[]string{"Password must be at most 128 characters long"}) {
		t.Errorf("long password: %v", got)
	}
	// A letter that is neither upper nor lower case is no symbol.
	if got := p.Rules("Aa1日本語語語"); !slices.Equal(got,
		[]string{"Password must contain at least one symbol"}) {
		t.Errorf("CJK password: %v", got)
	}
}

func TestLoginSecondFactorForHostedPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil, func(o *identity.Options) { o.LockoutThreshold = 2 })
		on := r.onboard(t, "ada@example.com")
		ctx := context.Background()
		secret := enrol(t, r, on.Session)

		res, err := r.svc.Login(ctx, identity.LoginInput{Email: "ada@example.com",
			Password: password})
		if err != nil || !res.MFARequired || res.UserID != on.User.ID || res.Session != nil {
			t.Fatalf("first step: %+v, %v", res, err)
		}
		second := func(userID, code, ip, ua, previous string) (*identity.LoginResult, error) {
			return r.svc.LoginSecondFactor(ctx, identity.SecondFactorInput{UserID: userID,
				Stamp: res.Stamp, Code: code, IP: ip, UserAgent: ua,
				PreviousSessionToken: previous})
		}
		_, err = second(res.UserID, "000000", "192.0.2.9", "page", "")
		if e := apperr.As(err); e == nil || e.Detail != "Invalid MFA token" {
			t.Fatalf("bad code: %v", err)
		}
		code, _ := totp.GenerateCode(secret, r.clock.Now())
		done, err := second(res.UserID, code, "192.0.2.9", "page", on.SessionToken)
		if err != nil || done.Session == nil || done.Method != identity.MethodTOTP ||
			!slices.Equal(done.Session.AMR, []string{"pwd", "otp"}) {
			t.Fatalf("second step: %+v, %v", done, err)
		}
		sess, err := r.svc.SessionByToken(ctx, done.SessionToken)
		if err != nil || sess.IPAddress != "192.0.2.9" || sess.UserAgent != "page" {
			t.Fatalf("session %+v, %v", sess, err)
		}
		if _, err := r.svc.SessionByToken(ctx, on.SessionToken); err == nil {
			t.Error("the session sent with the sign-in survived it")
		}

		// Failures count toward the lock.
		for _, want := range []string{"Invalid MFA token", "Account temporarily locked"} {
			_, err = second(res.UserID, "111111", "", "", "")
			if e := apperr.As(err); e == nil || e.Detail != want {
				t.Fatalf("got %v, want %s", err, want)
			}
		}
		_, err = second(db.NewID(), code, "", "", "")
		if e := apperr.As(err); e == nil || e.Detail != "Invalid email or password" {
			t.Fatalf("unknown user: %v", err)
		}
	})
}

// enrol turns TOTP on for the session's user and returns the secret; the
// clock moves a step on so the next code is fresh.
func enrol(t *testing.T, r *rig, s *identity.Session) string {
	t.Helper()
	ctx := context.Background()
	setup, err := r.svc.BeginTOTP(ctx, s.OrganisationID, s.UserID)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(setup.Secret, r.clock.Now())
	act, err := r.svc.ConfirmTOTP(ctx, s.OrganisationID, s.UserID, s.ID, code)
	if err != nil || len(act.BackupCodes) != 10 || act.Promoted {
		t.Fatalf("confirm: %+v, %v", act, err)
	}
	r.clock.Add(30 * time.Second)
	return setup.Secret
}

func TestEnrollmentPromotesRestrictedSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil)
		on := r.onboard(t, "ada@example.com")
		ctx := context.Background()
		if _, err := d.ExecContext(ctx, `UPDATE organisations SET require_mfa = TRUE`); err != nil {
			t.Fatal(err)
		}
		res, err := r.svc.Login(ctx, identity.LoginInput{Email: "ada@example.com",
			Password: password, PreviousSessionToken: on.SessionToken})
		if err != nil || !res.EnrollmentRequired || !res.Session.Restricted ||
			res.Session.MaxAge() != 900 {
			t.Fatalf("login: %+v, %v", res, err)
		}
		if _, err := r.svc.SessionByToken(ctx, on.SessionToken); err == nil {
			t.Error("the session sent with the login survived it")
		}
		setup, err := r.svc.BeginTOTP(ctx, res.Session.OrganisationID, res.UserID)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(setup.Secret, r.clock.Now())
		act, err := r.svc.ConfirmTOTP(ctx, res.Session.OrganisationID, res.UserID,
			res.Session.ID, code)
		if err != nil || !act.Promoted || act.Session.Restricted ||
			act.Session.MaxAge() != 3600 {
			t.Fatalf("confirm: %+v, %v", act, err)
		}
		if _, err := r.svc.SessionByToken(ctx, res.SessionToken); err == nil {
			t.Error("restricted session survived the promotion")
		}
		if _, err := r.svc.SessionByToken(ctx, act.SessionToken); err != nil {
			t.Errorf("promoted session: %v", err)
		}
	})
}

func TestSessionGaugeCountsLiveSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil)
		r.onboard(t, "a@example.com")
		r.onboard(t, "b@example.com")
		g := identity.NewSessionGauge(d, r.metrics, r.clock.Now, discardLogger())
		if n, err := g.Count(context.Background()); err != nil || n != 2 {
			t.Fatalf("count %d, %v", n, err)
		}
		r.clock.Add(31 * time.Minute)
		if n, err := g.Count(context.Background()); err != nil || n != 0 {
			t.Fatalf("count after idle %d, %v", n, err)
		}
	})
}
