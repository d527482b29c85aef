package identity_test

import (
	"context"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
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
