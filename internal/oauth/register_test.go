package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// register posts body to the registration endpoint as actor.
func (e *env) register(t *testing.T, actor *access.Principal, contentType,
	body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth2/register", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r = r.WithContext(access.WithPrincipal(r.Context(), actor))
	w := httptest.NewRecorder()
	if err := e.p.RegisterEndpoint(w, r); err != nil {
		oe := AsError(err)
		if oe == nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return oe.Status, map[string]any{"error": oe.Code, "error_description": oe.Description,
			"challenge": w.Header().Get("WWW-Authenticate")}
	}
	out := map[string]any{}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func TestRegisterClientDefaults(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		st, got := e.register(t, e.owner, "application/json", `{"client_name": "CLI",
			"redirect_uris": ["https://cli.example.test/cb"], "software_id": "ignored"}`)
		if st != http.StatusCreated || got["client_secret"] == nil ||
			got["client_secret_expires_at"] != 0.0 || got["client_id_issued_at"] == nil ||
			got["token_endpoint_auth_method"] != AuthSecretBasic || got["scope"] != "openid" {
			t.Fatalf("registration: %d %v", st, got)
		}
		if g := got["grant_types"].([]any); len(g) != 1 || g[0] != GrantAuthorizationCode {
			t.Fatalf("grant_types %v", g)
		}
		c, err := e.p.ClientByClientID(context.Background(), got["client_id"].(string))
		if err != nil || c == nil || c.IsFirstParty || !c.RequirePKCE ||
			c.OrganisationID != e.org || !c.checkSecret(got["client_secret"].(string)) {
			t.Fatalf("stored client %+v %v", c, err)
		}
		if e.auditCount(t, "client.created") != 1 {
			t.Fatal("no client.created audit row")
		}

		st, got = e.register(t, e.owner, "application/json", `{"token_endpoint_auth_method":
			"none", "redirect_uris": ["com.example.app:/cb"], "scope": "openid profile"}`)
		if st != http.StatusCreated || got["client_secret"] != nil {
			t.Fatalf("public registration: %d %v", st, got)
		}
		c, _ = e.p.ClientByClientID(context.Background(), got["client_id"].(string))
		if c == nil || !c.Public() || c.Name != registeredName {
			t.Fatalf("public client %+v", c)
		}
	})
}

func TestRegisterClientRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		staff := e.addUser(t, e.org, "staff@acme.test", "staff")
		key := &access.Principal{Kind: access.KindAPIKey, OrganisationID: e.org,
			UserID: staff, Scopes: []string{"users:read", "clients:create"}}
		cases := []struct {
			name, body string
			actor      *access.Principal
			status     int
			code       string
		}{
			{"javascript redirect", `{"redirect_uris": ["javascript:alert(1)"]}`, e.owner,
				400, CodeInvalidRedirectURI},
			{"fragment", `{"redirect_uris": ["https://a.example.test/cb#x"]}`, e.owner,
				400, CodeInvalidRedirectURI},
			{"no redirect", `{}`, e.owner, 400, CodeInvalidRedirectURI},
			{"unknown grant", `{"grant_types": ["password"]}`, e.owner, 400,
				CodeInvalidClientMetadata},
			{"implicit", `{"redirect_uris": ["https://a.example.test/cb"],
				"response_types": ["token"]}`, e.owner, 400, CodeInvalidClientMetadata},
			{"wrong type", `{"redirect_uris": "https://a.example.test/cb"}`, e.owner, 400,
				CodeInvalidClientMetadata},
			{"escalation", `{"redirect_uris": ["https://a.example.test/cb"],
				"scope": "openid users:update"}`, key, 403, CodeInsufficientScope},
			{"NUL in client_name", `{"redirect_uris": ["https://a.example.test/cb"],
				"client_name": "a\u0000b"}`, e.owner, 400, CodeInvalidClientMetadata},
		}
		for _, tc := range cases {
			st, got := e.register(t, tc.actor, "application/json", tc.body)
			if st != tc.status || got["error"] != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.name, st, got, tc.status, tc.code)
			}
		}
		_, got := e.register(t, key, "application/json", `{"redirect_uris":
			["https://a.example.test/cb"], "scope": "openid users:update"}`)
		if got["error_description"] != "Cannot grant permissions you do not hold" ||
			!strings.Contains(got["challenge"].(string), `error="insufficient_scope"`) {
			t.Errorf("escalation answer %v", got)
		}
		st, got := e.register(t, key, "application/json", `{"redirect_uris":
			["https://a.example.test/cb"], "scope": "openid users:read"}`)
		if st != http.StatusCreated {
			t.Errorf("a held permission scope: %d %v", st, got)
		}
		if st, _ := e.register(t, e.owner, "text/plain", `{}`); st != 400 {
			t.Errorf("text/plain body: %d", st)
		}
	})
}
