package identity

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/revocation"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// maxTokenLength bounds tokens sent in bodies.
const maxTokenLength = 256

// VerifyEmail consumes an email verification token and marks the user's
// email verified (audit user.email_verified, webhook user.updated). A valid
// token of an already verified user is consumed too. Errors: 400 "Missing
// verification token", 400 "Invalid or expired verification token"
// (unknown, used, expired, user deleted).
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if token == "" {
		return errMissingVerifyToken
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		t, err := findAccountToken(ctx, tx, token, now, PurposeVerifyEmail)
		if err != nil {
			return err
		}
		if t == nil {
			return errBadVerifyToken
		}
		u, err := userByIDAnyOrg(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		ok, err := consumeAccountToken(ctx, tx, t.ID, now)
		if err != nil || !ok || u == nil {
			return firstErr(err, errBadVerifyToken)
		}
		if u.EmailVerifiedAt != nil {
			return nil
		}
		return s.markVerified(ctx, tx, u, now)
	})
}

// firstErr returns err when set, else fallback.
func firstErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (s *Service) markVerified(ctx context.Context, tx *sql.Tx, u *user,
	now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET email_verified_at = $1,
		updated_at = $1 WHERE id = $2 AND organisation_id = $3`, now, u.ID,
		u.OrganisationID)
	if err != nil {
		return fmt.Errorf("mark email verified: %w", err)
	}
	return s.events.Record(ctx, tx, event.Event{Type: "user.email_verified",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID,
		Webhooks: []event.Webhook{userUpdated(u, "emailVerifiedAt")}})
}

// userUpdated is the user.updated webhook naming the changed fields.
func userUpdated(u *user, changes ...string) event.Webhook {
	return event.Webhook{Type: "user.updated", Data: map[string]any{
		"user": u.summary(), "changes": changes}}
}

// SendVerificationEmail sends the signed-in user a new verification link,
// invalidating earlier ones: 409 "Email already verified".
func (s *Service) SendVerificationEmail(ctx context.Context, orgID, userID string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err := userByID(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return ErrInvalidSession
		}
		if u.EmailVerifiedAt != nil {
			return errAlreadyVerified
		}
		return s.sendVerification(ctx, tx, u, s.clock())
	})
	if err == nil {
		s.kick()
	}
	return err
}

// ForgotPassword queues a password reset link for an existing, live,
// unblocked user with that email, invalidating earlier reset links; for
// any other address it does nothing. It returns the same nil either way
// and takes at least the configured floor, so neither the answer nor its
// timing tells whether the address exists. Only a malformed email is an
// error (400 "Invalid input").
func (s *Service) ForgotPassword(ctx context.Context, email string) error {
	var c checker
	email = c.email("email", email)
	if err := c.Err(); err != nil {
		return err
	}
	start := time.Now()
	err := s.queueReset(ctx, email)
	if err != nil {
		telemetry.Logger(ctx).Error("forgot password", "error", err.Error())
	}
	s.waitFloor(ctx, start)
	return nil
}

func (s *Service) queueReset(ctx context.Context, email string) error {
	u, err := userByEmail(ctx, s.db, email)
	if err != nil || u == nil || u.BlockedAt != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.sendReset(ctx, tx, u, s.clock())
	})
	if err == nil {
		s.kick()
	}
	return err
}

// sendReset issues a reset token and queues its email.
func (s *Service) sendReset(ctx context.Context, tx *sql.Tx, u *user, now time.Time) error {
	token, expires, err := IssueAccountToken(ctx, tx, u.ID, PurposePasswordReset, now)
	if err != nil {
		return err
	}
	return s.outbox.Enqueue(ctx, tx, mail.Mail{OrganisationID: u.OrganisationID,
		To: u.Email, Template: mail.TemplatePasswordReset, Data: map[string]any{
			mail.DataToken: token, mail.DataName: u.Name, mail.DataExpiresAt: expires}})
}

// waitFloor sleeps until the forgot-password floor has passed since start.
func (s *Service) waitFloor(ctx context.Context, start time.Time) {
	left := s.floor - time.Since(start)
	if left <= 0 {
		return
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ResetInput is a password reset: a reset or setup token and the new
// password.
type ResetInput struct {
	Token    string
	Password string
}

// ResetPassword sets a new password with a reset or setup token, in one
// transaction: token consumed, password and history stored, every session
// of the user deleted, their refresh and access tokens revoked, lock,
// counter and forced-reset flag cleared, email marked verified if it was
// not, audit user.password_reset and a notice email. Errors: 400 "Invalid
// input", 400 "Password too weak" (organisation policy), 400 "Invalid or
// expired password reset token".
func (s *Service) ResetPassword(ctx context.Context, in ResetInput) error {
	var c checker
	c.Secret("token", in.Token, maxTokenLength)
	if in.Password == "" {
		c.Add("password", apperr.CodeRequired, "Required")
	}
	if err := c.Err(); err != nil {
		return err
	}
	u, t, err := s.resetTarget(ctx, in.Token)
	if err != nil {
		return err
	}
	if err := s.checkNewPassword(ctx, u, passwordField, in.Password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return err
	}
	ended := 0
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		ended, err = s.resetTx(ctx, tx, u, t, hash)
		return err
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndRevoked).Add(float64(ended))
	s.kick()
	return nil
}

// resetTarget finds the user of a usable reset or setup token.
func (s *Service) resetTarget(ctx context.Context, token string) (*user, *accountToken,
	error) {
	t, err := findAccountToken(ctx, s.db, token, s.clock(), PurposePasswordReset,
		PurposePasswordSetup)
	if err != nil || t == nil {
		return nil, nil, firstErr(err, errBadResetToken)
	}
	u, err := userByIDAnyOrg(ctx, s.db, t.UserID)
	if err != nil || u == nil {
		return nil, nil, firstErr(err, errBadResetToken)
	}
	return u, t, nil
}

// checkNewPassword applies the policy of the user's organisation.
func (s *Service) checkNewPassword(ctx context.Context, u *user, field, password string,
	extra ...string) error {
	org, err := orgByID(ctx, s.db, u.OrganisationID)
	if err != nil {
		return err
	}
	policy := DefaultPasswordPolicy
	if org != nil {
		if policy, err = org.Policy(); err != nil {
			return err
		}
	}
	return s.checkPassword(ctx, policy, u.ID, field, password, extra...)
}

func (s *Service) resetTx(ctx context.Context, tx *sql.Tx, u *user, t *accountToken,
	hash string) (int, error) {
	now := s.clock()
	ok, err := consumeAccountToken(ctx, tx, t.ID, now)
	if err != nil || !ok {
		return 0, firstErr(err, errBadResetToken)
	}
	if err := setPassword(ctx, tx, u.ID, hash, now); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE users SET locked_at = NULL, failed_login_count = 0,
		password_reset_required = FALSE, email_verified_at = COALESCE(email_verified_at, $1),
		updated_at = $1 WHERE id = $2 AND organisation_id = $3`, now, u.ID, u.OrganisationID)
	if err != nil {
		return 0, fmt.Errorf("clear lock after reset: %w", err)
	}
	ended, err := endUserSessions(ctx, tx, u.ID, "")
	if err != nil {
		return 0, err
	}
	if err := revocation.UserGrants(ctx, tx, u.ID, now); err != nil {
		return 0, err
	}
	err = s.events.Record(ctx, tx, event.Event{Type: "user.password_reset",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID,
		Metadata: map[string]any{"setup": t.Purpose == PurposePasswordSetup}})
	if err != nil {
		return 0, err
	}
	return ended, s.notice(ctx, tx, u, mail.ChangePasswordReset, now)
}

// notice queues a security notice to the user.
func (s *Service) notice(ctx context.Context, tx *sql.Tx, u *user, change string,
	now time.Time) error {
	data := map[string]any{mail.DataChange: change, mail.DataName: u.Name,
		mail.DataTime: now}
	if ip := event.RequestFrom(ctx).IP; ip != "" {
		data[mail.DataIP] = ip
	}
	return s.outbox.Enqueue(ctx, tx, mail.Mail{OrganisationID: u.OrganisationID,
		To: u.Email, Template: mail.TemplateSecurityNotice, Data: data})
}

// ChangePasswordInput is a signed-in user's password change.
type ChangePasswordInput struct {
	CurrentPassword string
	NewPassword     string
}

// ChangePassword replaces the signed-in user's password, keeping the
// session sessionID and deleting the user's others (audit
// user.password_changed, notice email). Errors: 400 "Invalid input", 400
// "Current password is incorrect" (not counted toward lockout), 400
// "Password too weak" on newPassword (policy, reuse, same as current).
func (s *Service) ChangePassword(ctx context.Context, orgID, userID, sessionID string,
	in ChangePasswordInput) error {
	var c checker
	c.Secret("currentPassword", in.CurrentPassword, maxPasswordLength)
	if in.NewPassword == "" {
		c.Add(newPasswordFld, apperr.CodeRequired, "Required")
	}
	if err := c.Err(); err != nil {
		return err
	}
	u, err := userByID(ctx, s.db, orgID, userID)
	if err != nil || u == nil {
		return firstErr(err, ErrInvalidSession)
	}
	ok, _, err := s.verifyPassword(ctx, u, in.CurrentPassword)
	if err != nil || !ok {
		return firstErr(err, errWrongPassword)
	}
	var extra []string
	if in.NewPassword == in.CurrentPassword {
		extra = append(extra, msgSameAsNow)
	}
	if err := s.checkNewPassword(ctx, u, newPasswordFld, in.NewPassword,
		extra...); err != nil {
		return err
	}
	return s.storeChangedPassword(ctx, u, sessionID, in.NewPassword)
}

func (s *Service) storeChangedPassword(ctx context.Context, u *user, sessionID,
	password string) error {
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	ended := 0
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		if err := setPassword(ctx, tx, u.ID, hash, now); err != nil {
			return err
		}
		if ended, err = endUserSessions(ctx, tx, u.ID, sessionID); err != nil {
			return err
		}
		err = s.events.Record(ctx, tx, event.Event{Type: "user.password_changed",
			OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
			ResourceType: "user", ResourceID: u.ID})
		if err != nil {
			return err
		}
		return s.notice(ctx, tx, u, mail.ChangePasswordChanged, now)
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndRevoked).Add(float64(ended))
	s.kick()
	return nil
}
