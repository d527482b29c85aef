package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/oauth"
	"github.com/cerberus-iam/cerberus/internal/web"
)

// newProvider builds the OAuth provider of the configuration.
func (s *server) newProvider(svc *services) *oauth.Provider {
	if svc.events == nil {
		svc.events = event.NewRecorder(svc.now)
	}
	if svc.authz == nil {
		svc.authz = access.NewAuthorizer(s.db)
	}
	return oauth.New(oauth.Deps{DB: s.db, Ring: svc.keys, Events: svc.events,
		Authorizer: svc.authz, Metrics: s.metrics, Now: svc.now},
		oauth.Config{Issuer: s.cfg.IssuerURL, AccessTokenAlg: s.cfg.JWTAlg,
			RotateEvery: time.Duration(s.cfg.JWKSRotateDays) * 24 * time.Hour,
			LoginUIURL:  s.cfg.LoginUIURL, Production: s.cfg.Production()})
}

// buildOAuth makes the provider, synchronises the scopes table, ensures an
// active signing key per algorithm, plugs the bearer check into the route
// guards and adds the hourly key-rotation worker.
func (s *server) buildOAuth(ctx context.Context, svc *services) error {
	svc.oauth = s.newProvider(svc)
	if err := oauth.SyncScopes(ctx, s.db, svc.now()); err != nil {
		return fmt.Errorf("sync scopes: %w", err)
	}
	if err := svc.oauth.Keys.Ensure(ctx); err != nil {
		return err
	}
	if svc.authn == nil {
		svc.authn = &httpapi.Authenticator{Authorizer: svc.authz}
	}
	svc.authn.Tokens = svc.oauth
	s.workers = append(s.workers, &oauth.Rotator{Keys: svc.oauth.Keys, Log: s.log})
	return nil
}

// registerOAuth adds the protocol endpoints, the hosted pages, client
// administration and the consent self-service routes.
func (s *server) registerOAuth(rt *httpapi.Router, svc *services, health *httpapi.Health) {
	p := svc.oauth
	health.SigningKeys = p.Keys.Check
	o := httpapi.OAuthStyle()
	for _, path := range []string{"/.well-known/openid-configuration",
		"/.well-known/oauth-authorization-server"} {
		rt.Handle(http.MethodGet, path, p.DiscoveryEndpoint, o)
	}
	rt.Handle(http.MethodGet, "/oauth2/jwks.json", p.JWKSEndpoint, o)
	rt.Handle(http.MethodPost, "/oauth2/token", p.TokenEndpoint, o,
		httpapi.Limit(httpapi.LimitToken), httpapi.Auth("client", nil))
	rt.Handle(http.MethodPost, "/oauth2/device_authorization",
		p.DeviceAuthorizationEndpoint, o, httpapi.Limit(httpapi.LimitToken),
		httpapi.Auth("client", nil))
	rt.Handle(http.MethodPost, "/oauth2/introspect", p.IntrospectEndpoint, o,
		httpapi.Auth("client", nil))
	rt.Handle(http.MethodPost, "/oauth2/revoke", p.RevokeEndpoint, o,
		httpapi.Auth("client", nil))
	rt.Handle(http.MethodPost, "/oauth2/register", p.RegisterEndpoint, o,
		httpapi.Auth("bearer", svc.authn.BearerScope("clients:create")))
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		rt.Handle(m, "/oauth2/userinfo", p.UserinfoEndpoint, o, httpapi.Auth("bearer", nil))
	}
	pages := &web.Pages{Identity: svc.identity, OAuth: p, Ring: svc.keys,
		FormKey: crypto.DeriveKey(s.cfg.SecretKey, crypto.InfoForm), Issuer: s.cfg.IssuerURL,
		AdminOrigin: s.cfg.AdminWebOrigin, LoginUIURL: s.cfg.LoginUIURL,
		SecureCookies: s.cfg.SessionCookieSecure, Now: svc.now}
	pages.Register(rt)
	(&httpapi.ClientsAPI{Provider: p, Auth: svc.authn}).Register(rt)
	(&httpapi.ConsentsAPI{Provider: p, Auth: svc.authn}).Register(rt)
}

// organisationOrigins is the organisation half of the CORS checker, when a
// service provides it.
type organisationOrigins interface {
	OrganisationAllows(r *http.Request, origin string, preflight bool) bool
}

// originChecker answers the CORS questions about tenant data: client
// origins from the OAuth provider, organisation origins from orgs when
// set (otherwise only the base origins apply to /v1).
type originChecker struct {
	orgs    organisationOrigins
	clients *oauth.Provider
}

// OrganisationAllows delegates to the organisation service, if any.
func (c originChecker) OrganisationAllows(r *http.Request, origin string, pre bool) bool {
	return c.orgs != nil && c.orgs.OrganisationAllows(r, origin, pre)
}

// ClientAllows checks the calling client's allowedOrigins.
func (c originChecker) ClientAllows(r *http.Request, origin string, pre bool) bool {
	return c.clients.ClientAllows(r, origin, pre)
}

// corsChecker returns the CORS checker of the services.
func (s *server) corsChecker(svc *services) httpapi.OriginChecker {
	c := originChecker{clients: svc.oauth}
	if o, ok := any(svc.identity).(organisationOrigins); ok {
		c.orgs = o
	}
	return c
}
