package access

import (
	"context"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// ServiceOptions are the collaborators of a Service; DB, Events and
// Authorizer are required.
type ServiceOptions struct {
	DB         *db.DB
	Events     *event.Recorder
	Authorizer *Authorizer
	// Now is the clock (UTC); nil means time.Now.
	Now func() time.Time
	// Production makes new API keys ck_live_…; otherwise they are ck_test_….
	Production bool
}

// Service administers the roles, teams and API keys of organisations and
// authenticates API keys. Every change commits in one transaction with its
// audit row and webhook outbox rows; changes to roles, role permissions
// and role memberships also bump the organisation's RBAC version there, so
// cached permission sets never outlive them.
//
// Errors a caller should see are *apperr.Error values carrying the
// contract's strings; anything else is unexpected and wrapped.
type Service struct {
	db     *db.DB
	events *event.Recorder
	authz  *Authorizer
	now    func() time.Time
	live   bool
}

// NewService returns a Service built from o.
func NewService(o ServiceOptions) *Service {
	s := &Service{db: o.DB, events: o.Events, authz: o.Authorizer, now: o.Now,
		live: o.Production}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	return s
}

// clock returns the current time truncated to what the database stores.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// held is the set actor may grant from (Authorizer.Held).
func (s *Service) held(ctx context.Context, actor *Principal) ([]string, error) {
	return s.authz.Held(ctx, actor)
}
