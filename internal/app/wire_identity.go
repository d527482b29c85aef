package app

import (
	"context"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

// buildIdentity synchronises the permission catalogue, makes the shared
// event recorder, authorizer and route authenticator when nobody has yet,
// and builds the identity service (the session credential and the
// X-Org-Domain resolver of the guards) with its session gauge worker.
func (s *server) buildIdentity(ctx context.Context, svc *services) error {
	if err := access.SyncCatalogue(ctx, s.db, svc.now()); err != nil {
		return fmt.Errorf("sync permission catalogue: %w", err)
	}
	if svc.events == nil {
		svc.events = event.NewRecorder(svc.now)
	}
	if svc.authz == nil {
		svc.authz = access.NewAuthorizer(s.db)
	}
	svc.identity = identity.New(identity.Options{
		DB: s.db, Keys: svc.keys, Hasher: svc.hasher, Outbox: svc.outbox,
		Mailer: svc.mailer, Events: svc.events, Authorizer: svc.authz,
		Metrics: s.metrics, Now: svc.now,
		Cookies: identity.Cookies{Name: s.cfg.SessionCookieName,
			Secure: s.cfg.SessionCookieSecure, Domain: s.cfg.SessionCookieDomain},
		LockoutThreshold:  s.cfg.LockoutThreshold,
		LockoutDuration:   s.cfg.LockoutDuration,
		OnboardAutoVerify: s.cfg.OnboardAutoVerify,
	})
	if svc.authn == nil {
		svc.authn = &httpapi.Authenticator{}
	}
	svc.authn.Sessions = svc.identity
	svc.authn.Organisations = svc.identity
	svc.authn.Authorizer = svc.authz
	s.workers = append(s.workers,
		identity.NewSessionGauge(s.db, s.metrics, svc.now, s.log))
	return nil
}

// registerIdentity adds the authentication and self-service routes.
func (s *server) registerIdentity(rt *httpapi.Router, svc *services) {
	h := &httpapi.IdentityHandlers{Service: svc.identity, Auth: svc.authn}
	h.Register(rt)
}
