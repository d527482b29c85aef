package app

import (
	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/admin"
	"github.com/cerberus-iam/cerberus/internal/audit"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
)

// registerAdmin builds the administration services, plugs the API key
// credential into the route guards (the session credential, the
// X-Org-Domain resolver and the authorizer come from the identity wiring,
// the bearer token check from the OAuth wiring) and adds the /v1/admin
// routes of users, roles, permissions, teams, API keys, invitations, the
// organisation and the audit log.
func (s *server) registerAdmin(rt *httpapi.Router, svc *services) {
	if svc.events == nil {
		svc.events = event.NewRecorder(svc.now)
	}
	if svc.authz == nil {
		svc.authz = access.NewAuthorizer(s.db)
	}
	if svc.authn == nil {
		svc.authn = &httpapi.Authenticator{}
	}
	if svc.authn.Authorizer == nil {
		svc.authn.Authorizer = svc.authz
	}
	acc := access.NewService(access.ServiceOptions{DB: s.db, Events: svc.events,
		Authorizer: svc.authz, Now: svc.now, Production: s.cfg.Production()})
	svc.authn.APIKeys = acc
	api := &httpapi.AdminAPI{Access: acc, Audit: audit.New(s.db), Auth: svc.authn,
		Admin: admin.New(admin.Options{DB: s.db, Events: svc.events, Authorizer: svc.authz,
			Identity: svc.identity, Outbox: svc.outbox, Mailer: svc.mailer,
			Metrics: s.metrics, Now: svc.now})}
	api.Register(rt)
}
