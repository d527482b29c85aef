package app

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminOrganisationRead(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Reader Org")
		staff := o.member("Sid", o.roles["staff"])
		rep := staff.call(http.MethodGet, "/v1/admin/organisation", nil).want(t, 200, "")
		for _, k := range []string{"id", "slug", "name", "email", "phone", "website",
			"ownerId", "allowedCallbackUrls", "allowedLogoutUrls", "allowedOrigins",
			"sessionLifetime", "sessionIdleTimeout", "requireMfa", "allowedMfaMethods",
			"passwordPolicy", "tokenLifetimePolicy", "branding", "metadata", "createdAt",
			"updatedAt"} {
			if _, ok := rep.body[k]; !ok {
				t.Errorf("organisation lacks %s: %s", k, rep.raw)
			}
		}
		if rep.str("id") != o.id || rep.str("ownerId") != o.owner.id ||
			rep.body["sessionLifetime"] != 3600.0 {
			t.Fatalf("organisation: %s", rep.raw)
		}
		o.owner.apiKey("users:read").call(http.MethodGet, "/v1/admin/organisation", nil).
			want(t, 403, "API key lacks required scope: organisation:read")
		o.owner.apiKey("organisation:read").call(http.MethodGet, "/v1/admin/organisation",
			nil).want(t, 200, "")
		o.clientToken("users:read").call(http.MethodGet, "/v1/admin/organisation", nil).
			want(t, 403, "Missing required permission: organisation:read")
		o.clientToken("organisation:read").call(http.MethodGet, "/v1/admin/organisation",
			nil).want(t, 200, "")
	})
}

func TestAdminOrganisationUpdate(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Settings Org")
		c := o.owner
		rep := c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"name": "Renamed Org", "email": "Ops@Example.com", "phone": "+15550001111",
			"website": "https://example.com", "allowedCallbackUrls": []string{
				"https://app.example.com/cb"}, "allowedLogoutUrls": []string{
				"https://app.example.com/bye"}, "allowedOrigins": []string{
				"https://app.example.com", "http://localhost:3000"},
			"sessionLifetime": 7200, "sessionIdleTimeout": 600, "requireMfa": false,
			"allowedMfaMethods": []string{"totp"},
			"passwordPolicy":    map[string]any{"minLength": 12, "preventReuse": 3},
			"tokenLifetimePolicy": map[string]any{"accessToken": 300,
				"refreshToken": 86400},
			"branding": map[string]any{"logoUrl": "https://cdn.example.com/l.png",
				"primaryColor": "#12AB9f"},
			"metadata": map[string]any{"plan": "gold"}}).want(t, 200, "")
		if rep.str("name") != "Renamed Org" || rep.str("email") != "ops@example.com" ||
			rep.body["sessionLifetime"] != 7200.0 || rep.obj("passwordPolicy")["minLength"] !=
			12.0 || rep.obj("branding")["primaryColor"] != "#12AB9f" ||
			rep.obj("metadata")["plan"] != "gold" || rep.str("slug") != o.slug {
			t.Fatalf("updated: %s", rep.raw)
		}
		var meta string
		_ = r.db.QueryRowContext(t.Context(), `SELECT metadata FROM audit_logs
			WHERE organisation_id = $1 AND event_type = 'organisation.updated'`, o.id).
			Scan(&meta)
		if !strings.Contains(meta, "sessionLifetime") || !strings.Contains(meta, "branding") ||
			strings.Contains(meta, "requireMfa") {
			t.Fatalf("organisation.updated metadata names other than the changed fields: %s",
				meta)
		}
		c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"name": "Renamed Org", "requireMfa": false}).want(t, 200, "")
		if n := r.audits(o.id, "organisation.updated"); n != 1 {
			t.Fatalf("a patch changing nothing was recorded: %d organisation.updated rows", n)
		}

		c.call(http.MethodPost, "/v1/admin/users", map[string]any{"email": "p@example.com",
			"firstName": "P", "lastName": "W", "password": "Sh0rt!pass"}).
			want(t, 400, "Password too weak")
		m := o.member("Lou", o.roles["staff"])
		sess := c.call(http.MethodGet, "/v1/admin/users/"+m.id+"/sessions", nil).list()[0]
		from, _ := time.Parse(time.RFC3339, sess["createdAt"].(string))
		to, _ := time.Parse(time.RFC3339, sess["expiresAt"].(string))
		if to.Sub(from) != 2*time.Hour {
			t.Fatalf("new session lives %s, want 2h", to.Sub(from))
		}

		c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"name": "", "email": nil, "phone": "12", "website": "http://example.com",
			"allowedCallbackUrls": []string{"/relative"},
			"allowedLogoutUrls":   slices.Repeat([]string{"https://a.example.com"}, 21),
			"allowedOrigins":      []string{"https://*.example.com", "https://a.com/path"},
			"sessionLifetime":     100, "sessionIdleTimeout": 30,
			"allowedMfaMethods": []string{"sms"},
			"passwordPolicy":    map[string]any{"minLength": 7, "preventReuse": 25},
			"tokenLifetimePolicy": map[string]any{"accessToken": 10,
				"idToken": 100000, "refreshToken": 60},
			"branding": map[string]any{"logoUrl": "ftp://x", "primaryColor": "red"},
			"metadata": map[string]any{"big": strings.Repeat("x", 17<<10)}}).
			wantField(t, "name", "required").wantField(t, "email", "invalid_type").
			wantField(t, "phone", "invalid_format").wantField(t, "website", "").
			wantField(t, "allowedCallbackUrls.0", "").
			wantField(t, "allowedLogoutUrls", "too_large").
			wantField(t, "allowedOrigins.0", "").wantField(t, "allowedOrigins.1", "").
			wantField(t, "sessionLifetime", "too_small").
			wantField(t, "sessionIdleTimeout", "too_small").
			wantField(t, "allowedMfaMethods", "").
			wantField(t, "passwordPolicy.minLength", "too_small").
			wantField(t, "passwordPolicy.preventReuse", "too_large").
			wantField(t, "tokenLifetimePolicy.accessToken", "too_small").
			wantField(t, "tokenLifetimePolicy.idToken", "too_large").
			wantField(t, "tokenLifetimePolicy.refreshToken", "too_small").
			wantField(t, "branding.logoUrl", "").wantField(t, "branding.primaryColor", "").
			wantField(t, "metadata", "too_large")
		c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"sessionIdleTimeout": 7201}).wantField(t, "sessionIdleTimeout", "too_large")
		c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"sessionLifetime": 300}).wantField(t, "sessionIdleTimeout", "too_large")
		c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{"slug": "x",
			"ownerId": db.NewID(), "passwordPolicy": map[string]any{"maxLength": 9}}).
			wantField(t, "slug", "unknown_field").wantField(t, "ownerId", "unknown_field").
			wantField(t, "passwordPolicy.maxLength", "unknown_field")
		rep = c.call(http.MethodPatch, "/v1/admin/organisation", map[string]any{
			"website": nil, "passwordPolicy": nil, "branding": nil, "metadata": nil}).
			want(t, 200, "")
		if rep.body["website"] != nil || rep.body["passwordPolicy"] != nil ||
			rep.body["branding"] != nil || rep.body["metadata"] != nil {
			t.Fatalf("cleared: %s", rep.raw)
		}
		o.member("Max", o.roles["manager"]).call(http.MethodPatch, "/v1/admin/organisation",
			map[string]any{"name": "x"}).
			want(t, 403, "Missing required permission: organisation:update")
	})
}

// TestAdminOrganisationDelete deletes an organisation after the refusals
// of the contract and checks the whole cascade, and that a second
// organisation is untouched.
func TestAdminOrganisationDelete(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o, other := r.onboard("Doomed"), r.onboard("Survivor")
		otherBefore := snapshot(t, r.db, other.id)
		adm := o.member("Ada", o.roles["admin"])
		body := map[string]any{"confirmDomain": o.slug}
		adm.call(http.MethodDelete, "/v1/admin/organisation", body).
			want(t, 403, "Missing required permission: organisation:delete")
		deleter := o.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Deleter", "slug": "deleter", "permissionIds": []string{
				permissionID(t, o, "organisation:delete")}}).want(t, 201, "").str("id")
		o.owner.call(http.MethodPost, "/v1/admin/users/"+adm.id+"/roles", roleOf(deleter)).
			want(t, 201, "")
		adm.call(http.MethodDelete, "/v1/admin/organisation", body).
			want(t, 403, "Only the organisation owner can delete it")
		o.owner.call(http.MethodDelete, "/v1/admin/organisation", map[string]any{
			"confirmDomain": other.slug}).want(t, 400, "confirmDomain does not match")
		o.owner.call(http.MethodDelete, "/v1/admin/organisation", map[string]any{}).
			want(t, 400, "confirmDomain does not match")

		key := o.owner.apiKey("users:read")
		// The bearer check caches a token's state for a few seconds after a
		// use, so the token checked after the deletion is one not used yet;
		// a twin token shows such tokens work until then.
		machine := o.clientToken("users:read")
		o.clientToken("users:read").call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 200, "")
		o.owner.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "pending@example.com", "roleId": o.roles["staff"]}).want(t, 201, "")
		r.exec(`INSERT INTO webhook_endpoints (id, organisation_id, url, events, secret,
			created_at, updated_at) VALUES ($1, $2, 'https://127.0.0.1:9/h', '["user.created"]',
			's', $3, $3)`, db.NewID(), o.id, time.Now().UTC())
		audits := r.count(`SELECT COUNT(*) FROM audit_logs WHERE organisation_id = $1`, o.id)

		o.owner.call(http.MethodDelete, "/v1/admin/organisation", body).want(t, 204, "")
		o.owner.call(http.MethodGet, "/v1/admin/organisation", nil).
			want(t, 401, "Invalid or expired session")
		adm.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired session")
		key.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")
		machine.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired token")
		for q, want := range map[string]int{
			`SELECT COUNT(*) FROM organisations WHERE id = $1 AND deleted_at IS NOT NULL`:    1,
			`SELECT COUNT(*) FROM users WHERE organisation_id = $1 AND deleted_at IS NULL`:   0,
			`SELECT COUNT(*) FROM clients WHERE organisation_id = $1 AND deleted_at IS NULL`: 0,
			`SELECT COUNT(*) FROM sessions WHERE organisation_id = $1`:                       0,
			`SELECT COUNT(*) FROM invitations WHERE organisation_id = $1
				AND status = 'pending'`: 0,
			`SELECT COUNT(*) FROM api_keys WHERE organisation_id = $1
				AND revoked_at IS NULL`: 0,
			`SELECT COUNT(*) FROM tokens WHERE organisation_id = $1 AND revoked_at IS NULL`: 0,
			`SELECT COUNT(*) FROM webhook_endpoints WHERE organisation_id = $1`:             0,
			`SELECT COUNT(*) FROM audit_logs WHERE organisation_id = $1
				AND event_type = 'organisation.deleted'`: 1,
		} {
			if got := r.count(q, o.id); got != want {
				t.Errorf("%s: %d, want %d", strings.Join(strings.Fields(q), " "), got, want)
			}
		}
		if n := r.count(`SELECT COUNT(*) FROM audit_logs WHERE organisation_id = $1`,
			o.id); n != audits+1 {
			t.Errorf("audit rows %d, want %d kept plus organisation.deleted", n, audits)
		}
		if after := snapshot(t, r.db, other.id); after != otherBefore {
			t.Fatalf("other organisation changed:\n%s", lineDiff(otherBefore, after))
		}
		other.owner.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
	})
}
