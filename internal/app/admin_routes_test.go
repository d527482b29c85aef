package app

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
)

// adminPermissions is the permission each /v1/admin route requires (the
// organisation read admits any member by session; tokens and keys need
// organisation:read). A route missing here fails TestAdminRouteGuards.
var adminPermissions = map[string]string{
	"GET /v1/admin/users":                              "users:read",
	"POST /v1/admin/users":                             "users:create",
	"GET /v1/admin/users/{id}":                         "users:read",
	"PATCH /v1/admin/users/{id}":                       "users:update",
	"DELETE /v1/admin/users/{id}":                      "users:delete",
	"POST /v1/admin/users/{id}/roles":                  "users:update",
	"DELETE /v1/admin/users/{id}/roles":                "users:update",
	"GET /v1/admin/users/{id}/sessions":                "sessions:read",
	"DELETE /v1/admin/users/{id}/sessions":             "sessions:delete",
	"DELETE /v1/admin/users/{id}/sessions/{sessionId}": "sessions:delete",
	"GET /v1/admin/roles":                              "roles:read",
	"POST /v1/admin/roles":                             "roles:create",
	"GET /v1/admin/roles/{id}":                         "roles:read",
	"PATCH /v1/admin/roles/{id}":                       "roles:update",
	"DELETE /v1/admin/roles/{id}":                      "roles:delete",
	"POST /v1/admin/roles/{id}/permissions":            "roles:update",
	"DELETE /v1/admin/roles/{id}/permissions":          "roles:update",
	"GET /v1/admin/permissions":                        "permissions:read",
	"GET /v1/admin/permissions/{id}":                   "permissions:read",
	"GET /v1/admin/teams":                              "teams:read",
	"POST /v1/admin/teams":                             "teams:create",
	"GET /v1/admin/teams/{id}":                         "teams:read",
	"PATCH /v1/admin/teams/{id}":                       "teams:update",
	"DELETE /v1/admin/teams/{id}":                      "teams:delete",
	"POST /v1/admin/teams/{id}/members":                "teams:update",
	"DELETE /v1/admin/teams/{id}/members":              "teams:update",
	"GET /v1/admin/api-keys":                           "api_keys:read",
	"POST /v1/admin/api-keys":                          "api_keys:create",
	"GET /v1/admin/api-keys/{id}":                      "api_keys:read",
	"POST /v1/admin/api-keys/{id}/revoke":              "api_keys:delete",
	"GET /v1/admin/invitations":                        "invitations:read",
	"POST /v1/admin/invitations":                       "invitations:create",
	"POST /v1/admin/invitations/{id}/resend":           "invitations:create",
	"DELETE /v1/admin/invitations/{id}":                "invitations:delete",
	"GET /v1/admin/organisation":                       "organisation:read",
	"PATCH /v1/admin/organisation":                     "organisation:update",
	"DELETE /v1/admin/organisation":                    "organisation:delete",
	"GET /v1/admin/audit-logs":                         "audit_logs:read",
	"GET /v1/admin/audit-logs/export":                  "audit_logs:read",
	"GET /v1/admin/audit-logs/{id}":                    "audit_logs:read",
	"GET /v1/admin/clients":                            "clients:read",
	"POST /v1/admin/clients":                           "clients:create",
	"GET /v1/admin/clients/{id}":                       "clients:read",
	"PATCH /v1/admin/clients/{id}":                     "clients:update",
	"DELETE /v1/admin/clients/{id}":                    "clients:delete",
	"POST /v1/admin/clients/{id}/rotate-secret":        "clients:update",
	"POST /v1/admin/clients/{id}/revoke":               "clients:update",
	"GET /v1/admin/webhooks":                           "webhooks:read",
	"POST /v1/admin/webhooks":                          "webhooks:create",
	"GET /v1/admin/webhooks/{id}":                      "webhooks:read",
	"PATCH /v1/admin/webhooks/{id}":                    "webhooks:update",
	"DELETE /v1/admin/webhooks/{id}":                   "webhooks:delete",
	"POST /v1/admin/webhooks/{id}/rotate-secret":       "webhooks:update",
	"POST /v1/admin/webhooks/{id}/test":                "webhooks:update",
	"GET /v1/admin/webhooks/{id}/deliveries":           "webhooks:read",
}

// adminRoutes returns the router's /v1/admin routes, sorted.
func adminRoutes(r *admRig) []httpapi.Route {
	var out []httpapi.Route
	for _, rt := range r.rt.Routes() {
		if strings.HasPrefix(rt.Path, "/v1/admin/") {
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path+out[i].Method < out[j].Path+out[j].Method
	})
	return out
}

func routeKey(rt httpapi.Route) string { return rt.Method + " " + rt.Path }

// concrete fills a route pattern's wildcards with an unused id.
func concrete(pattern string) string {
	for _, w := range []string{"{id}", "{sessionId}"} {
		pattern = strings.ReplaceAll(pattern, w, db.NewID())
	}
	return pattern
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead
}

// TestAdminRouteGuards walks every /v1/admin route of the router: each is
// labelled admin, refuses callers without credentials, applies the
// X-Org-Domain rules to sessions and bearer credentials, wants the CSRF
// token on unsafe session requests, refuses restricted sessions, and
// answers 403 naming its permission to a user and to an API key lacking
// it.
func TestAdminRouteGuards(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		a, b := r.onboard("Guard One"), r.onboard("Guard Two")
		a.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Nothing", "slug": "nothing"}).want(t, http.StatusCreated, "")
		nobody := a.member("Nobody", roleID(t, a, "nothing"))
		routes := adminRoutes(r)
		if len(routes) < 40 {
			t.Fatalf("only %d admin routes registered", len(routes))
		}
		for _, rt := range routes {
			perm, ok := adminPermissions[routeKey(rt)]
			if !ok {
				t.Errorf("%s has no permission in the test table", routeKey(rt))
				continue
			}
			if rt.Auth != "admin" {
				t.Errorf("%s is labelled %q, want admin", routeKey(rt), rt.Auth)
			}
			checkTenantGuards(t, r, rt, a, b)
			checkPermissionGuard(t, rt, perm, nobody, a, b)
		}
		checkRestricted(t, r, a, nobody, routes)
	})
}

// roleID finds a role of o by slug through the API.
func roleID(t *testing.T, o *admOrg, slug string) string {
	t.Helper()
	rep := o.owner.call(http.MethodGet, query("/v1/admin/roles", "q", slug), nil)
	for _, m := range rep.want(t, http.StatusOK, "").list() {
		if m["slug"] == slug {
			return m["id"].(string)
		}
	}
	t.Fatalf("no role %s", slug)
	return ""
}

func checkTenantGuards(t *testing.T, r *admRig, rt httpapi.Route, a, b *admOrg) {
	t.Helper()
	path := concrete(rt.Path)
	anon := &admClient{r: r}
	anon.call(rt.Method, path, nil).want(t, http.StatusUnauthorized, "Authentication required")
	anon.org = a.slug
	anon.call(rt.Method, path, nil).want(t, http.StatusUnauthorized, "Authentication required")

	s := *a.owner
	s.org = ""
	s.call(rt.Method, path, nil).want(t, http.StatusBadRequest,
		"Missing X-Org-Domain header")
	s.org = "no-such-organisation"
	s.call(rt.Method, path, nil).want(t, http.StatusNotFound, "Organisation not found")
	s.org = b.slug
	s.call(rt.Method, path, nil).want(t, http.StatusForbidden,
		"Access denied for this organisation")
	if unsafeMethod(rt.Method) {
		s.org, s.csrf = a.slug, ""
		s.call(rt.Method, path, nil).want(t, http.StatusForbidden, "Invalid CSRF token")
	}
	key := *b.owner
	key.cookie, key.csrf, key.org = "", "", a.slug
	key.bearer = "ck_test_aaaaaaaa_" + strings.Repeat("A", 43)
	key.call(rt.Method, path, nil).want(t, http.StatusUnauthorized,
		"Invalid or expired API key")
}

func checkPermissionGuard(t *testing.T, rt httpapi.Route, perm string, nobody *admClient,
	a, b *admOrg) {
	t.Helper()
	path := concrete(rt.Path)
	rep := nobody.call(rt.Method, path, nil)
	if routeKey(rt) == "GET /v1/admin/organisation" {
		rep.want(t, http.StatusOK, "")
	} else {
		rep.want(t, http.StatusForbidden, "Missing required permission: "+perm)
	}
	scope := "webhooks:read"
	if strings.HasPrefix(perm, "webhooks:") {
		scope = "users:read"
	}
	key := a.owner.apiKey(scope)
	key.call(rt.Method, path, nil).want(t, http.StatusForbidden,
		"API key lacks required scope: "+perm)
	key.org = a.slug
	key.call(rt.Method, path, nil).want(t, http.StatusForbidden,
		"API key lacks required scope: "+perm)
	key.org = b.slug
	key.call(rt.Method, path, nil).want(t, http.StatusForbidden,
		"Access denied for this organisation")
	key.org = "no-such-organisation"
	key.call(rt.Method, path, nil).want(t, http.StatusNotFound, "Organisation not found")
}

// checkRestricted turns MFA on for the organisation: a user without MFA
// then gets only a restricted session, refused on every admin route.
func checkRestricted(t *testing.T, r *admRig, a *admOrg, nobody *admClient,
	routes []httpapi.Route) {
	t.Helper()
	a.owner.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
		"requireMfa": true}).want(t, http.StatusOK, "")
	email := userEmail(t, a, nobody.id)
	c := &admClient{r: r, org: a.slug}
	c.call(http.MethodPost, "/v1/auth/login", map[string]any{"email": email,
		"password": admPassword}).want(t, http.StatusUnauthorized,
		"MFA enrollment required before logging in")
	for _, rt := range routes {
		c.call(rt.Method, concrete(rt.Path), nil).want(t, http.StatusForbidden,
			"MFA enrollment required")
	}
}

// userEmail reads a user's email through the API.
func userEmail(t *testing.T, o *admOrg, id string) string {
	t.Helper()
	return o.owner.call(http.MethodGet, "/v1/admin/users/"+id, nil).
		want(t, http.StatusOK, "").str("email")
}
