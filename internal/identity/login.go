package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// LoginInput is one login attempt. MFAToken is optional: six digits or a
// backup code (XXXX-XXXX, any case, hyphen optional). IP and UserAgent
// describe the client and go into the session. PreviousSessionToken is
// the session cookie sent with the attempt, if any: that session is
// deleted when a new one is created.
type LoginInput struct {
	Email                string
	Password             string
	MFAToken             string
	IP                   string
	UserAgent            string
	PreviousSessionToken string
}

// LoginResult is the outcome of a login that got past the password. Exactly
// one of these holds:
//
//   - MFARequired: the password was right, the user has MFA and no code was
//     sent. UserID names the user and Stamp the password just checked, for
//     the second step (LoginSecondFactor); nothing else is set and no
//     session exists.
//   - EnrollmentRequired: the organisation requires MFA and the user has
//     none. A restricted session was created (SessionToken, Session); it
//     only allows MFA enrollment (BeginTOTP, ConfirmTOTP) and logout.
//   - otherwise: a full session was created (SessionToken, Session).
//
// User and Organisation are set whenever a session was created.
type LoginResult struct {
	MFARequired        bool
	EnrollmentRequired bool
	UserID             string
	// Stamp identifies the user's password at the first step of a login
	// that answered MFARequired; pass it to LoginSecondFactor. It changes
	// when the password does (reset, change), which ends the pending
	// login. It is not secret but carries no meaning for the holder.
	Stamp string
	// SessionToken is the cookie value of the new session; set it with
	// Cookies.SetSessionCookie(w, SessionToken, Session.MaxAge()).
	SessionToken string
	Session      *Session
	User         UserSummary
	Organisation OrganisationSummary
	// Method is how the user signed in: MethodPassword, MethodTOTP or
	// MethodBackupCode.
	Method string

	// replaced counts sessions deleted by the sign-in, for the metrics.
	replaced int
}

// Reasons of a failed login, as audit metadata and webhook data.
const (
	reasonInvalidPassword = "invalid_password"
	reasonLocked          = "locked"
	reasonBlocked         = "blocked"
	reasonResetRequired   = "reset_required"
	reasonMFARequired     = "mfa_required"
	reasonInvalidMFA      = "invalid_mfa"
)

// Login runs the password login in the contract's order: input checks
// (400 "Invalid input"), account lookup by normalised email (unknown
// accounts spend a dummy hash and get 401 "Invalid email or password"),
// password check, lock (401 "Account temporarily locked" whatever the
// password), wrong password (counted; the threshold locks the account),
// blocked (401 "Account is blocked"), forced reset (401 "Password reset
// required"), second factor (a result with MFARequired when no code was
// sent; 401 "Invalid MFA token" with requiresMfa, counted like a wrong
// password, for a bad or replayed code), required enrollment (a result
// with EnrollmentRequired and a restricted session), then success. A
// saturated password hasher answers 503.
func (s *Service) Login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	email, err := checkLogin(in)
	if err != nil {
		return nil, err
	}
	u, err := userByEmail(ctx, s.db, email)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, s.unknownAccount(ctx, in.Password)
	}
	ok, rehash, err := s.verifyPassword(ctx, u, in.Password)
	if err != nil {
		return nil, err
	}
	if err := s.checkLock(ctx, u, in.IP); err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.failAttempt(ctx, u, reasonInvalidPassword, in.IP)
	}
	return s.afterPassword(ctx, u, in, rehash)
}

// afterPassword runs the steps of a login after a correct password.
func (s *Service) afterPassword(ctx context.Context, u *user, in LoginInput,
	rehash bool) (*LoginResult, error) {
	if err := s.checkStanding(ctx, u, in.IP); err != nil {
		return nil, err
	}
	org, err := s.loginOrganisation(ctx, u)
	if err != nil {
		return nil, err
	}
	var f *factor
	if u.MFAEnabled {
		if in.MFAToken == "" {
			return s.mfaRequired(ctx, u, in.IP)
		}
		if f, err = s.secondFactor(ctx, u, in.MFAToken, in.IP); err != nil {
			return nil, err
		}
	}
	newHash := s.upgradedHash(ctx, in.Password, rehash)
	if org.RequireMFA && !u.MFAEnabled {
		return s.enroll(ctx, u, org, in, newHash)
	}
	return s.complete(ctx, u, org, f, in, newHash)
}

// loginOrganisation returns the user's live organisation; a user whose
// organisation is gone cannot sign in.
func (s *Service) loginOrganisation(ctx context.Context, u *user) (*organisation, error) {
	org, err := orgByID(ctx, s.db, u.OrganisationID)
	if err != nil {
		return nil, err
	}
	if org == nil {
		return nil, errInvalidLogin
	}
	return org, nil
}

// checkLogin validates a login body and returns the normalised email.
func checkLogin(in LoginInput) (string, error) {
	var c checker
	email := c.email("email", in.Email)
	c.Secret("password", in.Password, maxPasswordLength)
	if t := in.MFAToken; t != "" && !isTOTPCode(t) && !isBackupCode(t) {
		c.Add("mfaToken", apperr.CodeInvalidFormat,
			"Must be a six-digit code or a backup code")
	}
	return email, c.Err()
}

// unknownAccount spends the time of a password check on a dummy hash and
// refuses like a wrong password.
func (s *Service) unknownAccount(ctx context.Context, password string) error {
	if err := s.hasher.VerifyDummy(ctx, password); err != nil {
		return hashErr(err)
	}
	s.metrics.Logins.WithLabelValues(telemetry.LoginInvalidCredentials).Inc()
	telemetry.Logger(ctx).Info("login refused: unknown account", "event", "login.failed")
	return errInvalidLogin
}

// verifyPassword checks password against the user's hash; a user without
// a password (set-up pending) spends a dummy check and never matches.
func (s *Service) verifyPassword(ctx context.Context, u *user,
	password string) (ok, rehash bool, err error) {
	if u.PasswordHash == nil {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return false, false, hashErr(err)
		}
		return false, false, nil
	}
	ok, rehash, err = s.hasher.Verify(ctx, password, *u.PasswordHash)
	if err != nil {
		return false, false, hashErr(err)
	}
	return ok, rehash, nil
}

// upgradedHash returns a new hash of password when the stored one is
// outdated, or "" (no upgrade; also when the hasher is saturated, since the
// upgrade can wait for the next login).
func (s *Service) upgradedHash(ctx context.Context, password string, rehash bool) string {
	if !rehash {
		return ""
	}
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		telemetry.Logger(ctx).Warn("password hash upgrade skipped", "error", err.Error())
		return ""
	}
	return h
}

// locked reports a lock still in force at now.
func (s *Service) locked(u *user, now time.Time) bool {
	return u.LockedAt != nil && now.Before(u.LockedAt.Add(s.lockout.duration))
}

// checkLock refuses a locked account without touching its counter, and
// clears a lock that has run out.
func (s *Service) checkLock(ctx context.Context, u *user, ip string) error {
	now := s.clock()
	if s.locked(u, now) {
		return s.refuse(ctx, u, reasonLocked, ip, telemetry.LoginLocked, errLocked)
	}
	if u.LockedAt == nil {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `UPDATE users SET locked_at = NULL, updated_at = $1
		WHERE id = $2 AND locked_at = $3`, now, u.ID, *u.LockedAt)
	if err != nil {
		return fmt.Errorf("clear expired lock: %w", err)
	}
	u.LockedAt = nil
	return nil
}

// checkStanding refuses blocked users and users who must reset their
// password.
func (s *Service) checkStanding(ctx context.Context, u *user, ip string) error {
	if u.BlockedAt != nil {
		return s.refuse(ctx, u, reasonBlocked, ip, telemetry.LoginBlocked, errBlocked)
	}
	if u.PasswordResetRequired {
		return s.refuse(ctx, u, reasonResetRequired, ip, telemetry.LoginBlocked,
			errResetRequired)
	}
	return nil
}

// mfaRequired records the attempt that stopped at the second factor.
func (s *Service) mfaRequired(ctx context.Context, u *user, ip string) (*LoginResult, error) {
	err := s.refuse(ctx, u, reasonMFARequired, ip, telemetry.LoginMFARequired, nil)
	if err != nil {
		return nil, err
	}
	return &LoginResult{MFARequired: true, UserID: u.ID, Stamp: passwordStamp(u)}, nil
}

// secondFactor checks a login's code; a bad one counts as a failed attempt.
func (s *Service) secondFactor(ctx context.Context, u *user, code,
	ip string) (*factor, error) {
	f, err := s.checkFactor(ctx, u, code, true)
	if err != nil {
		return nil, err
	}
	if f == nil {
		s.countMFA(guessMethod(code), false)
		return nil, s.failAttempt(ctx, u, reasonInvalidMFA, ip)
	}
	return f, nil
}

// guessMethod names the kind of a code for the metrics.
func guessMethod(code string) string {
	if isTOTPCode(code) {
		return MethodTOTP
	}
	return MethodBackupCode
}

func (s *Service) countMFA(method string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	s.metrics.MFAVerifications.WithLabelValues(method, result).Inc()
}

// refuse records a refused attempt of an existing user in its own
// transaction (audit user.login.failed, webhook login.failed), counts it
// and returns answer.
func (s *Service) refuse(ctx context.Context, u *user, reason, ip, result string,
	answer error) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.events.Record(ctx, tx, loginFailedEvent(u, reason, ip))
	})
	if err != nil {
		return err
	}
	s.metrics.Logins.WithLabelValues(result).Inc()
	return answer
}

// failAttempt counts a wrong password or code. Reaching the threshold locks
// the account (audit user.locked) and resets the counter. The counter, the
// lock and the audit rows commit in a transaction of their own.
func (s *Service) failAttempt(ctx context.Context, u *user, reason, ip string) error {
	lockedNow := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		lockedNow, err = s.countFailure(ctx, tx, u)
		if err != nil {
			return err
		}
		if lockedNow {
			if err := s.events.Record(ctx, tx, lockedEvent(u)); err != nil {
				return err
			}
		}
		return s.events.Record(ctx, tx, loginFailedEvent(u, reason, ip))
	})
	if err != nil {
		return err
	}
	switch {
	case lockedNow:
		s.metrics.Logins.WithLabelValues(telemetry.LoginLocked).Inc()
		telemetry.Logger(ctx).Warn("account locked after failed logins",
			"event", "user.locked", "userId", u.ID)
		return errLocked
	case reason == reasonInvalidMFA:
		s.metrics.Logins.WithLabelValues(telemetry.LoginMFAFailed).Inc()
		return errInvalidMFA
	}
	s.metrics.Logins.WithLabelValues(telemetry.LoginInvalidCredentials).Inc()
	return errInvalidLogin
}

// countFailure increments the user's failed-login counter and locks the
// account when it reaches the threshold. It reports whether it locked.
func (s *Service) countFailure(ctx context.Context, tx *sql.Tx, u *user) (bool, error) {
	now := s.clock()
	var n int
	err := tx.QueryRowContext(ctx, `UPDATE users SET failed_login_count =
		failed_login_count + 1, updated_at = $1 WHERE id = $2
		RETURNING failed_login_count`, now, u.ID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count failed login: %w", err)
	}
	if n < s.lockout.threshold {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE users SET locked_at = $1, failed_login_count = 0,
		updated_at = $1 WHERE id = $2`, now, u.ID)
	if err != nil {
		return false, fmt.Errorf("lock account: %w", err)
	}
	return true, nil
}

func loginFailedEvent(u *user, reason, ip string) event.Event {
	return event.Event{
		Type: "user.login.failed", OrganisationID: u.OrganisationID, UserID: u.ID,
		Actor: userActor(u.ID), ResourceType: "user", ResourceID: u.ID, Failed: true,
		ErrorMessage: reason, Metadata: map[string]any{"reason": reason},
		Webhooks: []event.Webhook{{Type: "login.failed", Data: map[string]any{
			"user":   map[string]any{"id": u.ID, "email": u.Email},
			"reason": reason, "ipAddress": nullable(ip)}}},
	}
}

func lockedEvent(u *user) event.Event {
	return event.Event{Type: "user.locked", OrganisationID: u.OrganisationID,
		UserID: u.ID, Actor: &event.SystemActor, ResourceType: "user", ResourceID: u.ID}
}

func userActor(id string) *event.Actor {
	return &event.Actor{Type: event.ActorUser, ID: id}
}

// enroll creates the restricted session of a user who must enrol MFA.
func (s *Service) enroll(ctx context.Context, u *user, org *organisation,
	in LoginInput, newHash string) (*LoginResult, error) {
	var token string
	var sess *Session
	replaced := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		var err error
		if replaced, err = deleteByToken(ctx, tx, in.PreviousSessionToken); err != nil {
			return err
		}
		if err := storeUpgrade(ctx, tx, u.ID, newHash, now); err != nil {
			return err
		}
		token, sess, err = s.createSession(ctx, tx, newSession{user: u, org: org,
			restricted: true, amr: []string{AMRPassword}, ip: in.IP, ua: in.UserAgent}, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.countReplaced(replaced)
	s.metrics.Logins.WithLabelValues(telemetry.LoginEnrollmentRequired).Inc()
	s.metrics.SessionsCreated.Inc()
	return &LoginResult{EnrollmentRequired: true, UserID: u.ID, SessionToken: token,
		Session: sess, User: u.summary(), Organisation: org.summary(),
		Method: MethodPassword}, nil
}

// storeUpgrade replaces the password hash with an upgraded one (same
// password, so no history row); "" does nothing.
func storeUpgrade(ctx context.Context, q db.Querier, userID, hash string,
	now time.Time) error {
	if hash == "" {
		return nil
	}
	_, err := q.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2
		WHERE id = $3`, hash, now, userID)
	if err != nil {
		return fmt.Errorf("upgrade password hash: %w", err)
	}
	return nil
}

// deleteByToken deletes the session of a cookie value, if any, and
// returns how many rows went.
func deleteByToken(ctx context.Context, q db.Querier, token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	res, err := q.ExecContext(ctx, `DELETE FROM sessions WHERE session_token = $1`,
		crypto.HashToken(token))
	if err != nil {
		return 0, fmt.Errorf("delete previous session: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *Service) countReplaced(n int) {
	if n > 0 {
		s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndLogout).Add(float64(n))
	}
}

// errReplay stops a sign-in transaction whose code was used concurrently.
var errReplay = errors.New("second factor already used")

// complete signs a user in after every check passed: the factor is
// consumed, the counters reset, the telemetry written and a full session
// created, with the success events.
func (s *Service) complete(ctx context.Context, u *user, org *organisation, f *factor,
	in LoginInput, newHash string) (*LoginResult, error) {
	method := MethodPassword
	if f != nil {
		method = f.method
	}
	var res *LoginResult
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		if f != nil {
			ok, err := f.consume(ctx, tx, u.ID, now)
			if err != nil {
				return err
			}
			if !ok {
				return errReplay
			}
		}
		var err error
		res, err = s.signIn(ctx, tx, signIn{user: u, org: org, method: method, ip: in.IP,
			ua: in.UserAgent, replaceToken: in.PreviousSessionToken, newHash: newHash}, now)
		return err
	})
	if errors.Is(err, errReplay) {
		s.countMFA(method, false)
		return nil, s.failAttempt(ctx, u, reasonInvalidMFA, in.IP)
	}
	if err != nil {
		return nil, err
	}
	if f != nil {
		s.countMFA(method, true)
	}
	s.signedIn(res)
	return res, nil
}

// signIn describes a successful sign-in.
type signIn struct {
	user   *user
	org    *organisation
	method string
	ip, ua string
	// replaceToken and replaceID name a session to delete first: the
	// cookie sent with the login, or the restricted session being promoted.
	replaceToken, replaceID string
	// newHash is an upgraded password hash to store, or "".
	newHash string
}

// signIn applies the success effects of a login in tx: counters reset,
// last login time and address, login count, hash upgrade, the new full
// session, audit user.login.success and webhooks login.success and
// session.created.
func (s *Service) signIn(ctx context.Context, tx *sql.Tx, in signIn,
	now time.Time) (*LoginResult, error) {
	n, err := deleteByToken(ctx, tx, in.replaceToken)
	if err != nil {
		return nil, err
	}
	if in.replaceID != "" {
		m, err := deleteSession(ctx, tx, in.replaceID)
		if err != nil {
			return nil, err
		}
		n += int(m)
	}
	if err := recordLogin(ctx, tx, in.user.ID, in.ip, now); err != nil {
		return nil, err
	}
	if err := storeUpgrade(ctx, tx, in.user.ID, in.newHash, now); err != nil {
		return nil, err
	}
	amr := []string{AMRPassword}
	if in.method != MethodPassword {
		amr = append(amr, AMROTP)
	}
	token, sess, err := s.createSession(ctx, tx, newSession{user: in.user, org: in.org,
		amr: amr, ip: in.ip, ua: in.ua}, now)
	if err != nil {
		return nil, err
	}
	if err := s.events.Record(ctx, tx, loginSuccessEvent(in.user, sess, in.method)); err != nil {
		return nil, err
	}
	return &LoginResult{UserID: in.user.ID, SessionToken: token, Session: sess,
		User: in.user.summary(), Organisation: in.org.summary(), Method: in.method,
		replaced: n}, nil
}

// recordLogin resets the failure counter and lock and records the login.
func recordLogin(ctx context.Context, q db.Querier, userID, ip string, now time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE users SET failed_login_count = 0, locked_at = NULL,
		last_login_at = $1, last_login_ip = $2, login_count = login_count + 1,
		updated_at = $1 WHERE id = $3`, now, nullable(ip), userID)
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}

func loginSuccessEvent(u *user, sess *Session, method string) event.Event {
	ip := nullable(sess.IPAddress)
	return event.Event{
		Type: "user.login.success", OrganisationID: u.OrganisationID, UserID: u.ID,
		Actor: userActor(u.ID), ResourceType: "session", ResourceID: sess.ID,
		Metadata: map[string]any{"method": method},
		Webhooks: []event.Webhook{
			{Type: "login.success", Data: map[string]any{"user": u.summary(),
				"sessionId": sess.ID, "ipAddress": ip, "mfaUsed": method != MethodPassword}},
			{Type: "session.created", Data: map[string]any{"session": sessionRef(sess),
				"ipAddress": ip}},
		},
	}
}

// signedIn counts a committed sign-in.
func (s *Service) signedIn(res *LoginResult) {
	s.countReplaced(res.replaced)
	s.metrics.Logins.WithLabelValues(telemetry.LoginSuccess).Inc()
	s.metrics.SessionsCreated.Inc()
}

// SecondFactorInput is the second step of a login that answered
// MFARequired. UserID and Stamp are the result's, Code a TOTP code or a
// backup code (white space around it is ignored); IP, UserAgent and
// PreviousSessionToken are as in LoginInput.
type SecondFactorInput struct {
	UserID               string
	Stamp                string
	Code                 string
	IP                   string
	UserAgent            string
	PreviousSessionToken string
}

// LoginSecondFactor is the second step of a login that answered
// MFARequired, for hosted pages that keep the user id between the steps
// (in a sealed cookie). The account is checked again (lock, block, forced
// reset); a bad or replayed code counts toward lockout exactly as in Login
// and answers 401 "Invalid MFA token"; a user who no longer exists, no
// longer has MFA or whose password changed since the first step (Stamp)
// gets 401 "Invalid email or password" and must start over.
// An empty code, or one that is neither six digits nor a backup code, is
// 400 "Invalid input" (field code) and is not counted, as Login refuses a
// malformed mfaToken. On success a full session is created as by Login,
// and the session of PreviousSessionToken is deleted.
func (s *Service) LoginSecondFactor(ctx context.Context,
	in SecondFactorInput) (*LoginResult, error) {
	in.Code = strings.TrimSpace(in.Code)
	if err := checkSecondFactor(in.Code); err != nil {
		return nil, err
	}
	u, err := userByIDAnyOrg(ctx, s.db, in.UserID)
	if err != nil {
		return nil, err
	}
	if u == nil || !u.MFAEnabled || !samePassword(u, in.Stamp) {
		return nil, errInvalidLogin
	}
	if err := s.checkLock(ctx, u, in.IP); err != nil {
		return nil, err
	}
	if err := s.checkStanding(ctx, u, in.IP); err != nil {
		return nil, err
	}
	org, err := s.loginOrganisation(ctx, u)
	if err != nil {
		return nil, err
	}
	f, err := s.secondFactor(ctx, u, in.Code, in.IP)
	if err != nil {
		return nil, err
	}
	return s.complete(ctx, u, org, f, LoginInput{IP: in.IP, UserAgent: in.UserAgent,
		PreviousSessionToken: in.PreviousSessionToken}, "")
}

// checkSecondFactor validates the code of the second login step.
func checkSecondFactor(code string) error {
	var c checker
	switch {
	case code == "":
		c.Add("code", apperr.CodeRequired, "Enter the code from your authenticator app")
	case !isTOTPCode(code) && !isBackupCode(code):
		c.Add("code", apperr.CodeInvalidFormat, "Must be a six-digit code or a backup code")
	}
	return c.Err()
}

// passwordStamp identifies the user's current password hash: a digest of
// it, so a reset, a change or an administrator's new password changes it.
// "" when the user has no password.
func passwordStamp(u *user) string {
	if u.PasswordHash == nil {
		return ""
	}
	return crypto.HashToken("cerberus login stamp\x00" + *u.PasswordHash)
}

// samePassword reports whether stamp names the user's current password.
func samePassword(u *user, stamp string) bool {
	now := passwordStamp(u)
	return now != "" && crypto.EqualHash(now, stamp)
}
