// Package identity owns the people side of Cerberus IAM: organisations and
// their onboarding, users and their passwords, browser sessions and their
// CSRF tokens, login with lockout and a TOTP second factor, one-time
// account tokens (email verification, password reset and setup),
// invitation acceptance and the self-service of a signed-in user.
//
// Every change commits in one transaction with its audit row, its webhook
// outbox rows and its mail outbox rows; the mail worker is woken after the
// commit. Failed logins are the exception the contract asks for: their
// audit rows and counters commit in a transaction of their own, so that a
// refused attempt leaves its trace.
//
// Errors a caller should see are *apperr.Error values carrying the
// contract's strings; anything else is unexpected and wrapped with context.
package identity

import (
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// Kicker wakes the mail worker after a transaction that queued mail has
// committed; *mail.Worker implements it.
type Kicker interface {
	Kick()
}

// Options are the collaborators and settings of a Service. DB, Keys,
// Hasher, Outbox, Events, Authorizer and Metrics are required.
type Options struct {
	DB         *db.DB
	Keys       *crypto.KeyRing
	Hasher     *crypto.PasswordHasher
	Outbox     *mail.Outbox
	Mailer     Kicker // nil: nobody is woken, the worker polls
	Events     *event.Recorder
	Authorizer *access.Authorizer
	Metrics    *telemetry.Metrics
	// Now is the clock (UTC); nil means time.Now.
	Now func() time.Time
	// Cookies holds the session cookie settings.
	Cookies Cookies
	// LockoutThreshold is how many failed attempts in a row lock an
	// account (LOGIN_LOCKOUT_THRESHOLD, default 10).
	LockoutThreshold int
	// LockoutDuration is how long a lock lasts (LOGIN_LOCKOUT_MINUTES,
	// default 15 minutes).
	LockoutDuration time.Duration
	// OnboardAutoVerify marks the owner's email verified at onboarding
	// instead of sending a verification email (ONBOARD_AUTO_VERIFY).
	OnboardAutoVerify bool
	// ForgotPasswordFloor is the least time a forgot-password request
	// takes, whether or not the email exists, so its timing tells nothing
	// (default 250 ms; negative disables the floor).
	ForgotPasswordFloor time.Duration
}

// Service implements the identity flows. It is safe for concurrent use.
type Service struct {
	db         *db.DB
	keys       *crypto.KeyRing
	hasher     *crypto.PasswordHasher
	outbox     *mail.Outbox
	mailer     Kicker
	events     *event.Recorder
	authz      *access.Authorizer
	metrics    *telemetry.Metrics
	now        func() time.Time
	cookies    Cookies
	csrfKey    []byte
	lockout    lockoutPolicy
	autoVerify bool
	floor      time.Duration
	origins    originCache
}

// lockoutPolicy is when failed attempts lock an account, and for how long.
type lockoutPolicy struct {
	threshold int
	duration  time.Duration
}

// Defaults of the optional settings.
const (
	defaultLockoutThreshold = 10
	defaultLockoutDuration  = 15 * time.Minute
	defaultForgotFloor      = 250 * time.Millisecond
)

// New returns a Service built from o.
func New(o Options) *Service {
	s := &Service{
		db: o.DB, keys: o.Keys, hasher: o.Hasher, outbox: o.Outbox,
		mailer: o.Mailer, events: o.Events, authz: o.Authorizer, metrics: o.Metrics,
		now: o.Now, cookies: o.Cookies.withDefaults(),
		csrfKey:    crypto.DeriveKey(o.Keys.Current(), crypto.InfoCSRF),
		lockout:    lockoutPolicy{o.LockoutThreshold, o.LockoutDuration},
		autoVerify: o.OnboardAutoVerify, floor: o.ForgotPasswordFloor,
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if s.lockout.threshold <= 0 {
		s.lockout.threshold = defaultLockoutThreshold
	}
	if s.lockout.duration <= 0 {
		s.lockout.duration = defaultLockoutDuration
	}
	if s.floor == 0 {
		s.floor = defaultForgotFloor
	}
	return s
}

// Cookies returns the session cookie settings, for pages that set or clear
// the cookie themselves.
func (s *Service) Cookies() Cookies { return s.cookies }

// clock returns the current time truncated to what the database stores.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// kick wakes the mail worker after a commit that queued mail.
func (s *Service) kick() {
	if s.mailer != nil {
		s.mailer.Kick()
	}
}

// errBusy is the answer when every password-hashing slot stays taken.
var errBusy = &apperr.Error{Kind: apperr.Unavailable,
	Detail: "Service temporarily unavailable", RetryAfter: 1}
