package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// isoTenant is an organisation populated with one of everything: a role
// and a team with the same slugs as in the other tenant, a member with a
// session, an API key, an invitation, a client, a webhook endpoint and
// audit rows.
type isoTenant struct {
	*admOrg
	member, role, team, key, invitation, client, webhook, session, audit string
	hasWebhooks                                                          bool
}

func populate(t *testing.T, r *admRig, name string) *isoTenant {
	t.Helper()
	o := r.onboard(name)
	x := &isoTenant{admOrg: o}
	c := o.owner
	x.role = c.call(http.MethodPost, "/v1/admin/roles", map[string]any{"name": "Auditor",
		"slug": "auditor"}).want(t, 201, "").str("id")
	x.team = c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Core",
		"slug": "core"}).want(t, 201, "").str("id")
	sam := o.member("Sam", x.role)
	x.member = sam.id
	c.call(http.MethodPost, "/v1/admin/teams/"+x.team+"/members",
		map[string]any{"userId": x.member}).want(t, 201, "")
	x.session = c.call(http.MethodGet, "/v1/admin/users/"+x.member+"/sessions", nil).
		want(t, 200, "").ids()[0]
	x.key = c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "k",
		"scopes": []string{"users:read"}}).want(t, 201, "").str("id")
	x.invitation = c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
		"email": "guest-" + db.NewID()[24:] + "@example.com", "roleId": x.role}).
		want(t, 201, "").str("id")
	x.client = c.call(http.MethodPost, "/v1/admin/clients", map[string]any{
		"name": "Service", "clientType": "confidential",
		"grantTypes": []string{"client_credentials"}}).want(t, 201, "").str("id")
	x.hasWebhooks = hasRoute(r, "POST /v1/admin/webhooks")
	if x.hasWebhooks {
		x.webhook = c.call(http.MethodPost, "/v1/admin/webhooks", map[string]any{
			"url": "https://127.0.0.1:9/hook", "events": []string{"user.created"}}).
			want(t, 201, "").str("id")
	}
	x.audit = c.call(http.MethodGet, query("/v1/admin/audit-logs", "limit", "1"), nil).
		want(t, 200, "").ids()[0]
	return x
}

func hasRoute(r *admRig, key string) bool {
	for _, rt := range r.rt.Routes() {
		if routeKey(rt) == key {
			return true
		}
	}
	return false
}

// isoCase is one request of tenant A aimed at tenant B's data.
type isoCase struct {
	method, path string
	body         any
	status       int
	detail       string
}

// isoCases lists, by route, what the owner of a sends carrying b's ids,
// and the answer it must get: 404 for another tenant's ids (400 naming
// the field when they come in a creation body), success limited to its
// own data otherwise.
func isoCases(a, b *isoTenant) map[string][]isoCase {
	const v = "/v1/admin"
	nf := func(res string) string { return res + " not found" }
	perm := permissionOf(a)
	return map[string][]isoCase{
		"GET /v1/admin/users": {
			{"GET", v + "/users", nil, 200, ""},
			{"GET", query(v+"/users", "roleId", b.role), nil, 200, ""},
			{"GET", query(v+"/users", "teamId", b.team), nil, 200, ""}},
		"POST /v1/admin/users": {
			{"POST", v + "/users", newUser("x", "roleIds", b.role), 400, "Invalid input"},
			{"POST", v + "/users", newUser("y", "teamIds", b.team), 400, "Invalid input"}},
		"GET /v1/admin/users/{id}": {{"GET", v + "/users/" + b.member, nil, 404, nf("User")}},
		"PATCH /v1/admin/users/{id}": {{"PATCH", v + "/users/" + b.member,
			map[string]any{"firstName": "Hacked"}, 404, nf("User")}},
		"DELETE /v1/admin/users/{id}": {{"DELETE", v + "/users/" + b.member, nil, 404,
			nf("User")}},
		"POST /v1/admin/users/{id}/roles": {
			{"POST", v + "/users/" + b.member + "/roles", roleOf(a.role), 404, nf("User")},
			{"POST", v + "/users/" + a.member + "/roles", roleOf(b.role), 404, nf("Role")}},
		"DELETE /v1/admin/users/{id}/roles": {
			{"DELETE", v + "/users/" + b.member + "/roles", roleOf(a.role), 404, nf("User")},
			{"DELETE", v + "/users/" + a.member + "/roles", roleOf(b.role), 404,
				nf("Role")}},
		"GET /v1/admin/users/{id}/sessions": {{"GET", v + "/users/" + b.member +
			"/sessions", nil, 404, nf("User")}},
		"DELETE /v1/admin/users/{id}/sessions": {{"DELETE", v + "/users/" + b.member +
			"/sessions", nil, 404, nf("User")}},
		"DELETE /v1/admin/users/{id}/sessions/{sessionId}": {
			{"DELETE", v + "/users/" + b.member + "/sessions/" + b.session, nil, 404,
				nf("User")},
			{"DELETE", v + "/users/" + a.member + "/sessions/" + b.session, nil, 404,
				nf("Session")}},
		"GET /v1/admin/roles": {{"GET", v + "/roles", nil, 200, ""}},
		"POST /v1/admin/roles": {{"POST", v + "/roles", map[string]any{"name": "Other",
			"slug": "other", "permissionIds": []string{perm}}, 201, ""}},
		"GET /v1/admin/roles/{id}": {{"GET", v + "/roles/" + b.role, nil, 404, nf("Role")}},
		"PATCH /v1/admin/roles/{id}": {{"PATCH", v + "/roles/" + b.role,
			map[string]any{"name": "Hacked"}, 404, nf("Role")}},
		"DELETE /v1/admin/roles/{id}": {{"DELETE", v + "/roles/" + b.role, nil, 404,
			nf("Role")}},
		"POST /v1/admin/roles/{id}/permissions": {{"POST", v + "/roles/" + b.role +
			"/permissions", map[string]any{"permissionId": perm}, 404, nf("Role")}},
		"DELETE /v1/admin/roles/{id}/permissions": {{"DELETE", v + "/roles/" + b.role +
			"/permissions", map[string]any{"permissionId": perm}, 404, nf("Role")}},
		// The catalogue is global: every organisation reads the same rows.
		"GET /v1/admin/permissions":      {{"GET", v + "/permissions", nil, 200, ""}},
		"GET /v1/admin/permissions/{id}": {{"GET", v + "/permissions/" + perm, nil, 200, ""}},
		"GET /v1/admin/teams":            {{"GET", v + "/teams", nil, 200, ""}},
		"POST /v1/admin/teams": {{"POST", v + "/teams", map[string]any{"name": "Other",
			"slug": "other"}, 201, ""}},
		"GET /v1/admin/teams/{id}": {{"GET", v + "/teams/" + b.team, nil, 404, nf("Team")}},
		"PATCH /v1/admin/teams/{id}": {{"PATCH", v + "/teams/" + b.team,
			map[string]any{"name": "Hacked"}, 404, nf("Team")}},
		"DELETE /v1/admin/teams/{id}": {{"DELETE", v + "/teams/" + b.team, nil, 404,
			nf("Team")}},
		"POST /v1/admin/teams/{id}/members": {
			{"POST", v + "/teams/" + b.team + "/members", userOf(a.member), 404, nf("Team")},
			{"POST", v + "/teams/" + a.team + "/members", userOf(b.member), 404,
				nf("User")}},
		"DELETE /v1/admin/teams/{id}/members": {
			{"DELETE", v + "/teams/" + b.team + "/members", userOf(b.member), 404,
				nf("Team")},
			{"DELETE", v + "/teams/" + a.team + "/members", userOf(b.member), 404,
				nf("User")}},
		"GET /v1/admin/api-keys": {{"GET", v + "/api-keys", nil, 200, ""}},
		"POST /v1/admin/api-keys": {{"POST", v + "/api-keys", map[string]any{"name": "n",
			"scopes": []string{"users:read"}}, 201, ""}},
		"GET /v1/admin/api-keys/{id}": {{"GET", v + "/api-keys/" + b.key, nil, 404,
			nf("API key")}},
		"POST /v1/admin/api-keys/{id}/revoke": {{"POST", v + "/api-keys/" + b.key +
			"/revoke", nil, 404, nf("API key")}},
		"GET /v1/admin/invitations": {{"GET", v + "/invitations", nil, 200, ""}},
		"POST /v1/admin/invitations": {{"POST", v + "/invitations", map[string]any{
			"email": "iso-" + db.NewID()[24:] + "@example.com", "roleId": b.role}, 400,
			"Invalid input"}},
		"POST /v1/admin/invitations/{id}/resend": {{"POST", v + "/invitations/" +
			b.invitation + "/resend", nil, 404, nf("Invitation")}},
		"DELETE /v1/admin/invitations/{id}": {{"DELETE", v + "/invitations/" +
			b.invitation, nil, 404, nf("Invitation")}},
		"GET /v1/admin/organisation": {{"GET", v + "/organisation", nil, 200, ""}},
		"PATCH /v1/admin/organisation": {{"PATCH", v + "/organisation",
			map[string]any{"name": "Renamed"}, 200, ""}},
		"DELETE /v1/admin/organisation": {{"DELETE", v + "/organisation",
			map[string]any{"confirmDomain": b.slug}, 400, "confirmDomain does not match"}},
		"GET /v1/admin/audit-logs": {
			{"GET", v + "/audit-logs", nil, 200, ""},
			{"GET", query(v+"/audit-logs", "userId", b.member), nil, 200, ""}},
		"GET /v1/admin/audit-logs/export": {{"GET", query(v+"/audit-logs/export",
			"format", "ndjson"), nil, 200, ""}},
		"GET /v1/admin/audit-logs/{id}": {{"GET", v + "/audit-logs/" + b.audit, nil, 404,
			nf("Audit log")}},
		"GET /v1/admin/clients": {{"GET", v + "/clients", nil, 200, ""}},
		"POST /v1/admin/clients": {{"POST", v + "/clients", map[string]any{"name": "Own",
			"clientType": "confidential", "grantTypes": []string{"client_credentials"}},
			201, ""}},
		"GET /v1/admin/clients/{id}": {{"GET", v + "/clients/" + b.client, nil, 404,
			nf("Client")}},
		"PATCH /v1/admin/clients/{id}": {{"PATCH", v + "/clients/" + b.client,
			map[string]any{"name": "Hacked"}, 404, nf("Client")}},
		"DELETE /v1/admin/clients/{id}": {{"DELETE", v + "/clients/" + b.client, nil, 404,
			nf("Client")}},
		"POST /v1/admin/clients/{id}/rotate-secret": {{"POST", v + "/clients/" + b.client +
			"/rotate-secret", nil, 404, nf("Client")}},
		"POST /v1/admin/clients/{id}/revoke": {{"POST", v + "/clients/" + b.client +
			"/revoke", nil, 404, nf("Client")}},
		"GET /v1/admin/webhooks": {{"GET", v + "/webhooks", nil, 200, ""}},
		"POST /v1/admin/webhooks": {{"POST", v + "/webhooks", map[string]any{
			"url": "https://127.0.0.1:9/a", "events": []string{"user.created"},
			"clientId": b.client}, 400, "Invalid input"}},
		"GET /v1/admin/webhooks/{id}": {{"GET", v + "/webhooks/" + b.webhook, nil, 404,
			nf("Webhook")}},
		"PATCH /v1/admin/webhooks/{id}": {{"PATCH", v + "/webhooks/" + b.webhook,
			map[string]any{"isActive": false}, 404, nf("Webhook")}},
		"DELETE /v1/admin/webhooks/{id}": {{"DELETE", v + "/webhooks/" + b.webhook, nil,
			404, nf("Webhook")}},
		"POST /v1/admin/webhooks/{id}/rotate-secret": {{"POST", v + "/webhooks/" +
			b.webhook + "/rotate-secret", nil, 404, nf("Webhook")}},
		"POST /v1/admin/webhooks/{id}/test": {{"POST", v + "/webhooks/" + b.webhook +
			"/test", nil, 404, nf("Webhook")}},
		"GET /v1/admin/webhooks/{id}/deliveries": {{"GET", v + "/webhooks/" + b.webhook +
			"/deliveries", nil, 404, nf("Webhook")}},
	}
}

func newUser(first, field, id string) map[string]any {
	return map[string]any{"email": first + "-" + db.NewID()[24:] + "@example.com",
		"firstName": first, "lastName": "Iso", field: []string{id}}
}

func roleOf(id string) map[string]any { return map[string]any{"roleId": id} }
func userOf(id string) map[string]any { return map[string]any{"userId": id} }

// permissionOf returns the id of a catalogue permission.
func permissionOf(o *isoTenant) string {
	rep := o.owner.call(http.MethodGet, query("/v1/admin/permissions", "category",
		"teams"), nil)
	return rep.ids()[0]
}

// TestAdminTenantIsolation gives two organisations the same role and team
// slugs and similar users, then has the owner of the first call every
// /v1/admin route of the router with the second one's ids: each answer is
// a 404 (or a 400 naming the body field), no answer mentions the second
// tenant's ids, the second tenant's session header is refused with 403,
// and the second tenant's rows are byte for byte unchanged afterwards.
func TestAdminTenantIsolation(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		a, b := populate(t, r, "Tenant A"), populate(t, r, "Tenant B")
		before := snapshot(t, r.db, b.id)
		cases := isoCases(a, b)
		foreign := b.ids()
		for _, rt := range adminRoutes(r) {
			list, ok := cases[routeKey(rt)]
			if !ok {
				t.Errorf("%s has no isolation case", routeKey(rt))
				continue
			}
			for _, c := range list {
				rep := a.owner.call(c.method, c.path, c.body).want(t, c.status, c.detail)
				assertNoForeignIDs(t, c, rep, foreign)
			}
			wrong := *a.owner
			wrong.org = b.slug
			wrong.call(rt.Method, list[0].path, list[0].body).want(t, http.StatusForbidden,
				"Access denied for this organisation")
		}
		if after := snapshot(t, r.db, b.id); after != before {
			t.Fatalf("tenant B changed:\n%s", lineDiff(before, after))
		}
	})
}

// ids are every id of the tenant's own data.
func (x *isoTenant) ids() []string {
	out := []string{x.admOrg.id, x.owner.id, x.member, x.role, x.team, x.key, x.invitation,
		x.client, x.session, x.audit}
	if x.webhook != "" {
		out = append(out, x.webhook)
	}
	for _, id := range x.roles {
		out = append(out, id)
	}
	return out
}

// assertNoForeignIDs fails when an answer, apart from its instance (the
// request path), mentions one of the other tenant's ids.
func assertNoForeignIDs(t *testing.T, c isoCase, rep *reply, foreign []string) {
	t.Helper()
	raw := string(rep.raw)
	if rep.body != nil {
		delete(rep.body, "instance")
		b, _ := json.Marshal(rep.body)
		raw = string(b)
	}
	for _, id := range foreign {
		if strings.Contains(raw, id) {
			t.Errorf("%s %s answered with the other tenant's id %s: %s", c.method, c.path,
				id, raw)
		}
	}
}

// lineDiff lists the lines only before has (-) and only after has (+).
func lineDiff(before, after string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	b, a := in(before), in(after)
	var out strings.Builder
	for l := range b {
		if !a[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for l := range a {
		if !b[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// snapshot renders every row of an organisation's tables, so two
// snapshots are equal only when nothing of the tenant changed.
func snapshot(t *testing.T, d *db.DB, orgID string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"organisations", "users", "roles", "teams", "sessions",
		"invitations", "clients", "api_keys", "webhook_endpoints", "webhook_deliveries",
		"consents", "tokens", "refresh_tokens", "audit_logs", "email_outbox"} {
		col := "organisation_id"
		if table == "organisations" {
			col = "id"
		}
		dumpRows(t, d, &b, table, `SELECT * FROM `+table+` WHERE `+col+` = $1 ORDER BY id`,
			orgID)
	}
	for _, j := range [][2]string{
		{"role_permissions", `SELECT rp.* FROM role_permissions rp JOIN roles r
			ON r.id = rp.role_id WHERE r.organisation_id = $1 ORDER BY rp.id`},
		{"user_roles", `SELECT ur.* FROM user_roles ur JOIN users u ON u.id = ur.user_id
			WHERE u.organisation_id = $1 ORDER BY ur.id`},
		{"team_members", `SELECT tm.* FROM team_members tm JOIN teams m
			ON m.id = tm.team_id WHERE m.organisation_id = $1 ORDER BY tm.id`},
	} {
		dumpRows(t, d, &b, j[0], j[1], orgID)
	}
	return b.String()
}

func dumpRows(t *testing.T, d *db.DB, b *strings.Builder, table, q string, args ...any) {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("snapshot %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if raw, ok := v.([]byte); ok {
				vals[i] = string(raw)
			}
		}
		fmt.Fprintf(b, "%s%v\n", table, vals)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 && (table == "users" || table == "roles" || table == "audit_logs") {
		t.Fatalf("snapshot of %s is empty", table)
	}
}
