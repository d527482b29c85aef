// Package admin implements the tenant administration of Cerberus IAM
// that is about people and the organisation itself: user accounts as an
// administrator sees and changes them (creation, blocking, deletion, role
// assignment, their sessions), invitations, and the organisation's
// settings and deletion.
//
// Every change commits in one transaction with its audit row, webhook
// outbox rows and mail outbox rows; the cascades that end sessions and
// revoke grants run in that same transaction through the revocation
// package. The guards of the contract (no escalation, the owner's
// protections, nobody blocking or deleting themselves) are checked here,
// after the route has checked the permission.
//
// Errors a caller should see are *apperr.Error values carrying the
// contract's strings; anything else is unexpected and wrapped.
package admin

import (
	"context"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// Kicker wakes the mail worker after a commit that queued mail;
// *mail.Worker implements it.
type Kicker interface {
	Kick()
}

// Options are the collaborators of a Service. DB, Events, Authorizer,
// Identity and Outbox are required.
type Options struct {
	DB         *db.DB
	Events     *event.Recorder
	Authorizer *access.Authorizer
	// Identity supplies the password policy and hashing of new accounts.
	Identity *identity.Service
	Outbox   *mail.Outbox
	Mailer   Kicker             // nil: the worker polls
	Metrics  *telemetry.Metrics // nil: nothing is counted
	// Now is the clock (UTC); nil means time.Now.
	Now func() time.Time
}

// Service implements the administration of users, invitations and the
// organisation. It is safe for concurrent use.
type Service struct {
	db       *db.DB
	events   *event.Recorder
	authz    *access.Authorizer
	identity *identity.Service
	outbox   *mail.Outbox
	mailer   Kicker
	metrics  *telemetry.Metrics
	now      func() time.Time
}

// New returns a Service built from o.
func New(o Options) *Service {
	s := &Service{db: o.DB, events: o.Events, authz: o.Authorizer, identity: o.Identity,
		outbox: o.Outbox, mailer: o.Mailer, metrics: o.Metrics, now: o.Now}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	return s
}

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

// sessionsEnded counts sessions a cascade deleted, after the commit.
func (s *Service) sessionsEnded(n int) {
	if s.metrics != nil && n > 0 {
		s.metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndRevoked).Add(float64(n))
	}
}

// held is the set the actor may grant from.
func (s *Service) held(ctx context.Context, actor *access.Principal) ([]string, error) {
	return s.authz.Held(ctx, actor)
}

// Limits of the inputs.
const (
	maxName   = 100
	maxReason = 500
)

// checker collects the field errors of one input.
type checker struct{ apperr.Checker }

// email checks a required address and returns its normalised form.
func (c *checker) email(field, raw string) string {
	return identity.CheckEmail(&c.Checker, field, raw)
}

// phone checks an E.164 telephone number.
func (c *checker) phone(field, raw string) { identity.CheckPhone(&c.Checker, field, raw) }

// nullable maps "" to NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
