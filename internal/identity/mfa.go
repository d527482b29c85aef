package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// TOTPSetup is a pending TOTP secret to show the user.
type TOTPSetup struct {
	// Secret is the Base32 secret for manual entry.
	Secret string
	// URI is the otpauth:// URI the QR code encodes.
	URI string
	// PNG is the QR code image; DataURL the same as a data: URL.
	PNG     []byte
	DataURL string
}

// BeginTOTP creates or replaces the user's pending TOTP secret (sealed with
// the key ring) and returns it with its otpauth:// URI and QR code. It is
// allowed on restricted sessions. Error: 400 "MFA is already enabled".
func (s *Service) BeginTOTP(ctx context.Context, orgID, userID string) (*TOTPSetup, error) {
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	if u.MFAEnabled {
		return nil, errMFAEnabled
	}
	setup, _, err := s.storePending(ctx, u, false)
	return setup, err
}

// PendingTOTP returns the user's pending TOTP secret as BeginTOTP does,
// but creates one only when none is pending: a page that shows the set-up
// again (a reload, a mistyped code) keeps the secret the user scanned. It
// is allowed on restricted sessions. Error: 400 "MFA is already enabled".
func (s *Service) PendingTOTP(ctx context.Context, orgID, userID string) (*TOTPSetup,
	error) {
	for range 2 {
		u, err := s.sessionUser(ctx, orgID, userID)
		if err != nil {
			return nil, err
		}
		if u.MFAEnabled {
			return nil, errMFAEnabled
		}
		if u.TOTPPending != nil {
			secret, err := s.keys.OpenString(*u.TOTPPending)
			if err != nil {
				return nil, fmt.Errorf("open pending totp secret: %w", err)
			}
			return totpSetup(u.Email, secret)
		}
		setup, stored, err := s.storePending(ctx, u, true)
		if err != nil || stored {
			return setup, err
		}
		// A concurrent request stored one first: show that one.
	}
	return nil, errors.New("pending totp secret keeps changing")
}

// storePending stores a new pending secret for u and returns it; with
// onlyIfNone it stores nothing (stored false) when one is pending by then.
func (s *Service) storePending(ctx context.Context, u *user,
	onlyIfNone bool) (setup *TOTPSetup, stored bool, err error) {
	secret := newTOTPSecret()
	sealed, err := s.keys.SealString(secret)
	if err != nil {
		return nil, false, fmt.Errorf("seal totp secret: %w", err)
	}
	if setup, err = totpSetup(u.Email, secret); err != nil {
		return nil, false, err
	}
	q := `UPDATE users SET totp_pending_secret = $1, updated_at = $2
		WHERE id = $3 AND organisation_id = $4`
	if onlyIfNone {
		q += ` AND totp_pending_secret IS NULL`
	}
	res, err := s.db.ExecContext(ctx, q, sealed, s.clock(), u.ID, u.OrganisationID)
	if err != nil {
		return nil, false, fmt.Errorf("store pending totp secret: %w", err)
	}
	n, _ := res.RowsAffected()
	return setup, n == 1 || !onlyIfNone, nil
}

// totpSetup describes a secret for the user with email.
func totpSetup(email, secret string) (*TOTPSetup, error) {
	uri := totpURI(email, secret)
	png, err := qrPNG(uri)
	if err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: secret, URI: uri, PNG: png, DataURL: pngDataURL(png)}, nil
}

// sessionUser loads the signed-in user; a user gone since the session was
// checked is an invalid session.
func (s *Service) sessionUser(ctx context.Context, orgID, userID string) (*user, error) {
	u, err := userByID(ctx, s.db, orgID, userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, ErrInvalidSession
	}
	return u, nil
}

// TOTPActivation is the outcome of ConfirmTOTP.
type TOTPActivation struct {
	// BackupCodes are shown once; only their hashes are kept.
	BackupCodes []string
	// Promoted reports that the restricted session was replaced by a full
	// one: set the new cookie (SessionToken, Session.MaxAge()) and send the
	// new session's CSRF token.
	Promoted     bool
	SessionToken string
	Session      *Session
}

// ConfirmTOTP activates the pending secret of the user of session
// sessionID with a current code: the secret becomes active, the code's
// time step is recorded, a set of backup codes replaces any earlier one
// and MFA is on (audit user.mfa.enabled, webhook mfa.enabled). A
// restricted session is replaced by a full one (amr pwd, otp) with the
// effects of a successful login. Errors: 400 "MFA is already enabled", 400
// "MFA setup has not been started", 400 "Invalid verification code".
func (s *Service) ConfirmTOTP(ctx context.Context, orgID, userID, sessionID,
	code string) (*TOTPActivation, error) {
	if err := checkCodeBody(code); err != nil {
		return nil, err
	}
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	step, err := s.checkPending(u, code)
	if err != nil {
		return nil, err
	}
	codes := newBackupCodes()
	hashes, err := s.hasher.HashCodeSet(ctx, codes)
	if err != nil {
		return nil, hashErr(err)
	}
	act := &TOTPActivation{BackupCodes: codes}
	var res *LoginResult
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		if err := s.activate(ctx, tx, u, step, hashes, now); err != nil {
			return err
		}
		res, err = s.promote(ctx, tx, u, sessionID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.countMFA(MethodTOTP, true)
	if res != nil {
		s.signedIn(res)
		act.Promoted, act.SessionToken, act.Session = true, res.SessionToken, res.Session
	}
	return act, nil
}

// checkPending checks a code against the pending secret and returns its
// step.
func (s *Service) checkPending(u *user, code string) (int64, error) {
	if u.MFAEnabled {
		return 0, errMFAEnabled
	}
	if u.TOTPPending == nil {
		return 0, errMFANotStarted
	}
	secret, err := s.keys.OpenString(*u.TOTPPending)
	if err != nil {
		return 0, fmt.Errorf("open pending totp secret: %w", err)
	}
	step, ok := matchTOTP(secret, strings.TrimSpace(code), s.clock())
	if !ok {
		s.countMFA(MethodTOTP, false)
		return 0, errBadCode
	}
	return step, nil
}

// activate turns the pending secret on, unless a concurrent request did.
func (s *Service) activate(ctx context.Context, tx *sql.Tx, u *user, step int64,
	hashes []string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = totp_pending_secret,
		totp_pending_secret = NULL, totp_last_step = $1, mfa_enabled = TRUE,
		updated_at = $2 WHERE id = $3 AND organisation_id = $4 AND mfa_enabled = FALSE
		AND totp_pending_secret = $5`, step, now, u.ID, u.OrganisationID, *u.TOTPPending)
	if err != nil {
		return fmt.Errorf("activate totp: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errMFAEnabled
	}
	if err := storeBackupCodes(ctx, tx, u.ID, hashes, now); err != nil {
		return err
	}
	return s.events.Record(ctx, tx, event.Event{Type: "user.mfa.enabled",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID, Metadata: map[string]any{"method": "totp"},
		Webhooks: []event.Webhook{{Type: "mfa.enabled", Data: map[string]any{
			"user": u.summary()}}}})
}

// promote replaces a restricted session by a full one with the effects of
// a successful login; nil when the session is not restricted.
func (s *Service) promote(ctx context.Context, tx *sql.Tx, u *user, sessionID string,
	now time.Time) (*LoginResult, error) {
	var restricted bool
	var ip, ua sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT restricted, ip_address, user_agent FROM sessions
		WHERE id = $1 AND user_id = $2 AND organisation_id = $3`, sessionID, u.ID,
		u.OrganisationID).Scan(&restricted, &ip, &ua)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !restricted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	org, err := orgByID(ctx, tx, u.OrganisationID)
	if err != nil || org == nil {
		return nil, firstErr(err, ErrInvalidSession)
	}
	req := event.RequestFrom(ctx)
	return s.signIn(ctx, tx, signIn{user: u, org: org, method: MethodTOTP,
		ip: firstNonEmpty(req.IP, ip.String), ua: firstNonEmpty(req.UserAgent, ua.String),
		replaceID: sessionID}, now)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CheckTOTP reports whether code is a TOTP code the user's active secret
// would accept now (a step not used before). It consumes nothing and
// changes no MFA state, but a wrong six-digit code counts toward lockout
// (countBadCode). Errors: 400 "MFA is not enabled", 400 "Account
// temporarily locked".
func (s *Service) CheckTOTP(ctx context.Context, orgID, userID, code string) (bool, error) {
	if err := checkCodeBody(code); err != nil {
		return false, err
	}
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return false, err
	}
	if !u.MFAEnabled {
		return false, errMFANotEnabled
	}
	if s.locked(u, s.clock()) {
		return false, errMFALocked
	}
	code = strings.TrimSpace(code)
	f, err := s.checkTOTP(u, code)
	if err != nil || f != nil {
		return f != nil, err
	}
	return false, s.countBadCode(ctx, u, code, false)
}

// DisableMFA turns MFA off after a TOTP or backup code: secret and backup
// codes cleared (audit user.mfa.disabled, webhook mfa.disabled, notice
// email). Errors: 400 "MFA is not enabled", 403 "Your organisation
// requires MFA", 400 "Invalid verification code" (counted as verifyCode
// says), 400 "Account temporarily locked".
func (s *Service) DisableMFA(ctx context.Context, orgID, userID, code string) error {
	if err := checkCodeBody(code); err != nil {
		return err
	}
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return err
	}
	if !u.MFAEnabled {
		return errMFANotEnabled
	}
	org, err := orgByID(ctx, s.db, orgID)
	if err != nil || org == nil {
		return firstErr(err, ErrInvalidSession)
	}
	if org.RequireMFA {
		return errMFAOrgRequired
	}
	f, err := s.verifyCode(ctx, u, code)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.disable(ctx, tx, u, f, s.clock())
	})
	if err == nil {
		s.kick()
	}
	return err
}

// verifyCode checks a TOTP or backup code for an MFA change; a bad one is
// 400 "Invalid verification code" and counts toward lockout (countBadCode).
// A locked account is refused whatever the code.
func (s *Service) verifyCode(ctx context.Context, u *user, code string) (*factor, error) {
	if s.locked(u, s.clock()) {
		return nil, errMFALocked
	}
	f, err := s.checkFactor(ctx, u, code, true)
	if err != nil {
		return nil, err
	}
	if f == nil {
		code = strings.TrimSpace(code)
		s.countMFA(guessMethod(code), false)
		if err := s.countBadCode(ctx, u, code, true); err != nil {
			return nil, err
		}
		return nil, errBadCode
	}
	s.countMFA(f.method, true)
	return f, nil
}

func (s *Service) disable(ctx context.Context, tx *sql.Tx, u *user, f *factor,
	now time.Time) error {
	if ok, err := f.consume(ctx, tx, u.ID, now); err != nil || !ok {
		return firstErr(err, errBadCode)
	}
	_, err := tx.ExecContext(ctx, `UPDATE users SET mfa_enabled = FALSE, totp_secret = NULL,
		totp_pending_secret = NULL, totp_last_step = NULL, updated_at = $1
		WHERE id = $2 AND organisation_id = $3`, now, u.ID, u.OrganisationID)
	if err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	if err := storeBackupCodes(ctx, tx, u.ID, nil, now); err != nil {
		return err
	}
	err = s.events.Record(ctx, tx, event.Event{Type: "user.mfa.disabled",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID,
		Webhooks: []event.Webhook{{Type: "mfa.disabled", Data: map[string]any{
			"user": u.summary()}}}})
	if err != nil {
		return err
	}
	return s.notice(ctx, tx, u, mail.ChangeMFADisabled, now)
}

// RegenerateBackupCodes replaces the user's backup codes after a TOTP or
// backup code and returns the new set (audit user.updated with
// backupCodesRegenerated). Errors: 400 "MFA is not enabled", 400 "Invalid
// verification code" (counted as verifyCode says), 400 "Account
// temporarily locked".
func (s *Service) RegenerateBackupCodes(ctx context.Context, orgID, userID,
	code string) ([]string, error) {
	if err := checkCodeBody(code); err != nil {
		return nil, err
	}
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	if !u.MFAEnabled {
		return nil, errMFANotEnabled
	}
	f, err := s.verifyCode(ctx, u, code)
	if err != nil {
		return nil, err
	}
	codes := newBackupCodes()
	hashes, err := s.hasher.HashCodeSet(ctx, codes)
	if err != nil {
		return nil, hashErr(err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		if ok, err := f.consume(ctx, tx, u.ID, now); err != nil || !ok {
			return firstErr(err, errBadCode)
		}
		if err := storeBackupCodes(ctx, tx, u.ID, hashes, now); err != nil {
			return err
		}
		return s.events.Record(ctx, tx, event.Event{Type: "user.updated",
			OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
			ResourceType: "user", ResourceID: u.ID,
			Metadata: map[string]any{"backupCodesRegenerated": true}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// countBadCode counts a wrong code sent to an MFA change (check, disable,
// backup codes) as a failed attempt, as a wrong sign-in code is, so a
// stolen session cannot guess codes at the pace of the rate limit.
// Reaching the threshold locks the account (audit user.locked) and answers
// 400 "Account temporarily locked". A code that could never be right
// (neither six digits nor, when allowBackup, a backup code) is not
// counted, as Login does not count a malformed mfaToken. No
// user.login.failed is written: this is no sign-in.
func (s *Service) countBadCode(ctx context.Context, u *user, code string,
	allowBackup bool) error {
	if !isTOTPCode(code) && (!allowBackup || !isBackupCode(code)) {
		return nil
	}
	lockedNow := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if lockedNow, err = s.countFailure(ctx, tx, u); err != nil || !lockedNow {
			return err
		}
		return s.events.Record(ctx, tx, lockedEvent(u))
	})
	if err != nil {
		return err
	}
	if lockedNow {
		telemetry.Logger(ctx).Warn("account locked after wrong MFA codes",
			"event", "user.locked", "userId", u.ID)
		return errMFALocked
	}
	return nil
}

// checkCodeBody validates the {token} body of the MFA endpoints.
func checkCodeBody(code string) error {
	var c checker
	c.Secret("token", code, maxTokenLength)
	return c.Err()
}
