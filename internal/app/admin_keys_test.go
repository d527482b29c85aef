package app

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

var testKeyFormat = regexp.MustCompile(`^ck_test_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$`)

func TestAdminAPIKeys(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Keys")
		c := o.owner
		rep := c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{
			"name": "CI", "scopes": []string{"users:read", "users:read", "teams:*"},
			"expiresInDays": 30}).want(t, 201, "")
		raw, id := rep.str("key"), rep.str("id")
		if !testKeyFormat.MatchString(raw) || rep.str("prefix") != raw[:16] ||
			rep.str("warning") != "Store this key now; it will not be shown again" ||
			len(rep.body["scopes"].([]any)) != 2 || rep.str("createdById") != c.id ||
			rep.body["expiresAt"] == nil || rep.body["lastUsedAt"] != nil {
			t.Fatalf("created key: %s", rep.raw)
		}
		if n := r.count(`SELECT COUNT(*) FROM api_keys WHERE key_hash = $1`,
			crypto.HashToken(raw)); n != 1 {
			t.Fatal("key not stored as its SHA-256")
		}
		got := c.call(http.MethodGet, "/v1/admin/api-keys/"+id, nil).want(t, 200, "")
		if _, shown := got.body["key"]; shown || strings.Contains(string(got.raw), raw) {
			t.Fatalf("key shown again: %s", got.raw)
		}
		key := &admClient{r: r, bearer: raw}
		key.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		used := c.call(http.MethodGet, "/v1/admin/api-keys/"+id, nil).str("lastUsedAt")
		key.call(http.MethodGet, "/v1/admin/teams", nil).want(t, 200, "")
		if used == "" || c.call(http.MethodGet, "/v1/admin/api-keys/"+id, nil).
			str("lastUsedAt") != used {
			t.Fatalf("lastUsedAt %q must be written once a minute at most", used)
		}
		key.call(http.MethodGet, "/v1/admin/roles", nil).
			want(t, 403, "API key lacks required scope: roles:read")
		key.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "x",
			"scopes": []string{"users:read"}}).
			want(t, 403, "API key lacks required scope: api_keys:create")
		c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "",
			"scopes": []string{"users:read", "users:fly"}, "expiresInDays": 3651}).
			wantField(t, "name", "required").wantField(t, "scopes.1", "invalid_value").
			wantField(t, "expiresInDays", "invalid_value")
		c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "n",
			"scopes": []string{}, "expiresInDays": 0}).
			wantField(t, "scopes", "required").wantField(t, "expiresInDays", "")
		never := c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "Ever",
			"scopes": []string{"*"}, "expiresInDays": nil}).want(t, 201, "")
		if never.body["expiresAt"] != nil {
			t.Fatalf("key without expiry: %s", never.raw)
		}

		wantIDs(t, c.call(http.MethodGet, "/v1/admin/api-keys", nil), id, never.str("id"))
		rep = c.call(http.MethodPost, "/v1/admin/api-keys/"+id+"/revoke", nil).
			want(t, 200, "")
		if rep.str("message") != "API key revoked" {
			t.Fatalf("revoke: %s", rep.raw)
		}
		c.call(http.MethodPost, "/v1/admin/api-keys/"+id+"/revoke", nil).want(t, 200, "")
		key.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/api-keys", "revoked", "true"), nil),
			id)
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/api-keys", "revoked", "false"),
			nil), never.str("id"))
		c.call(http.MethodGet, query("/v1/admin/api-keys", "revoked", "maybe"), nil).
			wantField(t, "revoked", "invalid_value")
		c.call(http.MethodGet, query("/v1/admin/api-keys", "sort", "-lastUsedAt"), nil).
			want(t, 200, "")
		c.call(http.MethodGet, query("/v1/admin/api-keys", "sort", "prefix"), nil).
			wantField(t, "sort", "invalid_value")
		c.call(http.MethodGet, "/v1/admin/api-keys/"+db.NewID(), nil).
			want(t, 404, "API key not found")
		c.call(http.MethodPost, "/v1/admin/api-keys/"+db.NewID()+"/revoke", nil).
			want(t, 404, "API key not found")
		if r.audits(o.id, "api_key.created") != 2 || r.audits(o.id, "api_key.revoked") != 1 {
			t.Fatal("api key audits")
		}
	})
}

// TestAPIKeyRefusals covers the ways a key stops or never starts working:
// a scope its creator does not hold, creation by a key or a client token,
// expiry, a forged secret behind a real prefix, and a blocked creator.
func TestAPIKeyRefusals(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Key rules")
		reader := o.member("Rex", o.roles["staff"])
		key := reader.apiKeyOf(o, "users:read")
		reader.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "x",
			"scopes": []string{"users:delete"}}).
			want(t, 403, "Cannot grant permissions you do not hold")
		reader.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "x",
			"scopes": []string{"users:*"}}).
			want(t, 403, "Cannot grant permissions you do not hold")
		key.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")

		maker := o.owner.apiKey("api_keys:create")
		maker.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "x",
			"scopes": []string{"users:read"}}).
			want(t, 403, "API keys can only be created by a user")
		machine := o.clientToken("api_keys:create", "users:read")
		machine.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		machine.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{"name": "x",
			"scopes": []string{"users:read"}}).
			want(t, 403, "API keys can only be created by a user")

		forged := key.bearer[:17] + strings.Repeat("A", 43)
		(&admClient{r: r, bearer: forged}).call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")
		(&admClient{r: r, bearer: "ck_live_short"}).call(http.MethodGet, "/v1/admin/users",
			nil).want(t, 401, "Invalid or expired API key")

		expiring := o.owner.apiKey("users:read")
		r.exec(`UPDATE api_keys SET expires_at = $1 WHERE prefix = $2`,
			"2020-01-01T00:00:00.000Z", expiring.bearer[:16])
		expiring.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")

		o.owner.call(http.MethodPatch, "/v1/admin/users/"+reader.id, map[string]any{
			"blockedAt": "2030-01-01T00:00:00Z"}).want(t, 200, "")
		key.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired API key")
		o.owner.call(http.MethodPatch, "/v1/admin/users/"+reader.id, map[string]any{
			"blockedAt": nil}).want(t, 200, "")
		key.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		writer := o.owner.apiKey("teams:create")
		writer.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Bots",
			"slug": "bots"}).want(t, 201, "")
		if n := r.count(`SELECT COUNT(*) FROM audit_logs a
			JOIN api_keys k ON CAST(k.id AS TEXT) = a.actor_id
			WHERE a.event_type = 'team.created' AND a.actor_type = 'api_key'
			AND k.prefix = $1`, writer.bearer[:16]); n != 1 {
			t.Fatal("team.created by a key does not name the key as its actor")
		}
	})
}
