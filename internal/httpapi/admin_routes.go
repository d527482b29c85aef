package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/admin"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/audit"
)

// AdminAPI serves the tenant administration routes of /v1/admin except
// OAuth clients and webhooks: users and their sessions, roles,
// permissions, teams, API keys, invitations, the organisation and the
// audit log. Each route is guarded by the admin credentials (session with
// CSRF and X-Org-Domain, access token or API key) and its permission; the
// services apply the remaining rules.
type AdminAPI struct {
	Access *access.Service
	Admin  *admin.Service
	Audit  *audit.Service
	Auth   *Authenticator
}

// adminBase prefixes every administration route.
const adminBase = "/v1/admin"

// Register adds the administration routes to rt.
func (a *AdminAPI) Register(rt *Router) {
	a.registerUsers(rt)
	a.registerRoles(rt)
	a.registerTeams(rt)
	a.registerKeys(rt)
	a.registerInvitations(rt)
	a.registerOrganisation(rt)
	a.registerAudit(rt)
}

// handle registers an administration route requiring perm.
func (a *AdminAPI) handle(rt *Router, method, path, perm string, h HandlerFunc) {
	rt.Handle(method, adminBase+path, h, Auth("admin", nil),
		Use(a.Auth.Admin(), a.Auth.Require(perm)))
}

func (a *AdminAPI) registerUsers(rt *Router) {
	a.handle(rt, http.MethodGet, "/users", "users:read", a.listUsers)
	a.handle(rt, http.MethodPost, "/users", "users:create", a.createUser)
	a.handle(rt, http.MethodGet, "/users/{id}", "users:read", a.getUser)
	a.handle(rt, http.MethodPatch, "/users/{id}", "users:update", a.updateUser)
	a.handle(rt, http.MethodDelete, "/users/{id}", "users:delete", a.deleteUser)
	a.handle(rt, http.MethodPost, "/users/{id}/roles", "users:update", a.assignRole)
	a.handle(rt, http.MethodDelete, "/users/{id}/roles", "users:update", a.removeRole)
	a.handle(rt, http.MethodGet, "/users/{id}/sessions", "sessions:read", a.userSessions)
	a.handle(rt, http.MethodDelete, "/users/{id}/sessions", "sessions:delete",
		a.revokeUserSessions)
	a.handle(rt, http.MethodDelete, "/users/{id}/sessions/{sessionId}", "sessions:delete",
		a.revokeUserSession)
}

func (a *AdminAPI) registerRoles(rt *Router) {
	a.handle(rt, http.MethodGet, "/roles", "roles:read", a.listRoles)
	a.handle(rt, http.MethodPost, "/roles", "roles:create", a.createRole)
	a.handle(rt, http.MethodGet, "/roles/{id}", "roles:read", a.getRole)
	a.handle(rt, http.MethodPatch, "/roles/{id}", "roles:update", a.updateRole)
	a.handle(rt, http.MethodDelete, "/roles/{id}", "roles:delete", a.deleteRole)
	a.handle(rt, http.MethodPost, "/roles/{id}/permissions", "roles:update",
		a.grantPermission)
	a.handle(rt, http.MethodDelete, "/roles/{id}/permissions", "roles:update",
		a.revokePermission)
	a.handle(rt, http.MethodGet, "/permissions", "permissions:read", a.listPermissions)
	a.handle(rt, http.MethodGet, "/permissions/{id}", "permissions:read", a.getPermission)
}

func (a *AdminAPI) registerTeams(rt *Router) {
	a.handle(rt, http.MethodGet, "/teams", "teams:read", a.listTeams)
	a.handle(rt, http.MethodPost, "/teams", "teams:create", a.createTeam)
	a.handle(rt, http.MethodGet, "/teams/{id}", "teams:read", a.getTeam)
	a.handle(rt, http.MethodPatch, "/teams/{id}", "teams:update", a.updateTeam)
	a.handle(rt, http.MethodDelete, "/teams/{id}", "teams:delete", a.deleteTeam)
	a.handle(rt, http.MethodPost, "/teams/{id}/members", "teams:update", a.addMember)
	a.handle(rt, http.MethodDelete, "/teams/{id}/members", "teams:update", a.removeMember)
}

func (a *AdminAPI) registerKeys(rt *Router) {
	a.handle(rt, http.MethodGet, "/api-keys", "api_keys:read", a.listKeys)
	a.handle(rt, http.MethodPost, "/api-keys", "api_keys:create", a.createKey)
	a.handle(rt, http.MethodGet, "/api-keys/{id}", "api_keys:read", a.getKey)
	a.handle(rt, http.MethodPost, "/api-keys/{id}/revoke", "api_keys:delete", a.revokeKey)
}

func (a *AdminAPI) registerInvitations(rt *Router) {
	a.handle(rt, http.MethodGet, "/invitations", "invitations:read", a.listInvitations)
	a.handle(rt, http.MethodPost, "/invitations", "invitations:create",
		a.createInvitation)
	a.handle(rt, http.MethodPost, "/invitations/{id}/resend", "invitations:create",
		a.resendInvitation)
	a.handle(rt, http.MethodDelete, "/invitations/{id}", "invitations:delete",
		a.cancelInvitation)
}

func (a *AdminAPI) registerOrganisation(rt *Router) {
	rt.Handle(http.MethodGet, adminBase+"/organisation", a.getOrganisation,
		Auth("admin", nil), Use(a.Auth.Admin(), a.memberOr("organisation:read")))
	a.handle(rt, http.MethodPatch, "/organisation", "organisation:update",
		a.updateOrganisation)
	a.handle(rt, http.MethodDelete, "/organisation", "organisation:delete",
		a.deleteOrganisation)
}

func (a *AdminAPI) registerAudit(rt *Router) {
	a.handle(rt, http.MethodGet, "/audit-logs", "audit_logs:read", a.listAudit)
	a.handle(rt, http.MethodGet, "/audit-logs/export", "audit_logs:read", a.exportAudit)
	a.handle(rt, http.MethodGet, "/audit-logs/{id}", "audit_logs:read", a.getAudit)
}

// memberOr admits every session principal (a member of the organisation)
// and requires perm of tokens and API keys.
func (a *AdminAPI) memberOr(perm string) Middleware {
	require := a.Auth.Require(perm)
	return func(next http.Handler) http.Handler {
		guarded := require(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := Principal(r); p != nil && p.Kind == access.KindSession {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

// created answers 201 when added, else 200, with body.
func created(w http.ResponseWriter, added bool, body any) {
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	WriteJSON(w, status, body)
}

// boolFilter reads a true/false filter; absent is nil.
func boolFilter(q ListQuery, name string) (*bool, error) {
	s, ok := q.Filters[name]
	if !ok {
		return nil, nil
	}
	if s != "true" && s != "false" {
		return nil, apperr.InvalidInput(apperr.Field(name, apperr.CodeInvalidValue,
			"Must be true or false"))
	}
	b := s == "true"
	return &b, nil
}

// orgOf is the organisation of the caller of a guarded request.
func orgOf(r *http.Request) string { return Principal(r).OrganisationID }
