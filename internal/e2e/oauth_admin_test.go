package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func fieldsOf(body map[string]any) []string {
	var out []string
	errs, _ := body["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

// TestClientAdministration exercises /v1/admin/clients with a session.
func TestClientAdministration(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)

	resp, body := o.call(http.MethodPost, "/v1/admin/clients", map[string]any{
		"redirectUris": []string{"ftp://x/cb", "https://a.test/cb#f"},
		"isFirstParty": true, "requireConsent": true, "accessTokenLifetime": 5})
	got := strings.Join(fieldsOf(body), ",")
	for _, f := range []string{"name", "clientType", "redirectUris.0", "redirectUris.1",
		"requireConsent", "accessTokenLifetime"} {
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, f) {
			t.Errorf("invalid create: %d, want a %s error in %s", resp.StatusCode, f, got)
		}
	}
	resp, body = o.call(http.MethodPost, "/v1/admin/clients", map[string]any{
		"name": "SPA", "clientType": "public", "requirePkce": false,
		"redirectUris": []string{"https://spa.test/cb"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(
		strings.Join(fieldsOf(body), ","), "requirePkce") {
		t.Errorf("public client without PKCE: %d %v", resp.StatusCode, body)
	}

	pub := o.createClient(map[string]any{"name": "Mobile", "clientType": "public",
		"tokenEndpointAuthMethod": "none"})
	if pub.Secret != "" {
		t.Error("a public client got a secret")
	}
	if resp, _ := o.call(http.MethodPost, "/v1/admin/clients/"+pub.ID+"/rotate-secret",
		nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("rotate a public client's secret: %d", resp.StatusCode)
	}

	svc := serviceClient(o)
	resp, body = o.call(http.MethodGet, "/v1/admin/clients/"+svc.ID, nil)
	if resp.StatusCode != 200 || body["clientSecret"] != nil || body["clientId"] != svc.ClientID {
		t.Fatalf("get client: %d %v", resp.StatusCode, body)
	}
	checkList(t, o)
	checkClientCORS(t, o)
	checkUpdate(t, o, svc)
	checkRotateRevokeDelete(t, o, svc)
}

func checkList(t *testing.T, o *oauthEnv) {
	resp, body := o.call(http.MethodGet, "/v1/admin/clients?q=mob&limit=1&sort=-createdAt", nil)
	data, _ := body["data"].([]any)
	if resp.StatusCode != 200 || len(data) != 1 || body["total"] != float64(1) {
		t.Errorf("list q=mob: %d %v", resp.StatusCode, body)
	}
	for _, q := range []string{"limit=101", "sort=secret", "colour=red", "isActive=yes"} {
		if resp, _ := o.call(http.MethodGet, "/v1/admin/clients?"+q, nil); resp.StatusCode != 400 {
			t.Errorf("list ?%s: %d", q, resp.StatusCode)
		}
	}
}

func checkUpdate(t *testing.T, o *oauthEnv, c rpClient) {
	resp, body := o.call(http.MethodPatch, "/v1/admin/clients/"+c.ID, map[string]any{
		"name": "Renamed", "tokenEndpointAuthMethod": "client_secret_post"})
	if resp.StatusCode != 200 || body["name"] != "Renamed" {
		t.Errorf("patch: %d %v", resp.StatusCode, body)
	}
	for _, patch := range []map[string]any{{"clientType": "public"},
		{"tokenEndpointAuthMethod": "none"}, {"requirePkce": false}} {
		resp, _ := o.call(http.MethodPatch, "/v1/admin/clients/"+c.ID, patch)
		if resp.StatusCode != 400 {
			t.Errorf("patch %v: %d", patch, resp.StatusCode)
		}
	}
	o.call(http.MethodPatch, "/v1/admin/clients/"+c.ID,
		map[string]any{"tokenEndpointAuthMethod": "client_secret_basic"})
}

func checkRotateRevokeDelete(t *testing.T, o *oauthEnv, c rpClient) {
	token := serviceToken(t, o, c)
	resp, body := o.call(http.MethodPost, "/v1/admin/clients/"+c.ID+"/rotate-secret", nil)
	if resp.StatusCode != 200 || body["clientSecret"] == nil {
		t.Fatalf("rotate: %d %v", resp.StatusCode, body)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	if st, _ := clientFormStatus(t, o, c, "/oauth2/token", cc); st != 401 {
		t.Errorf("old secret after rotation: %d", st)
	}
	c.Secret = body["clientSecret"].(string)
	if st, _ := clientFormStatus(t, o, c, "/oauth2/token", cc); st != 200 {
		t.Errorf("new secret: %d", st)
	}

	resp, body = o.call(http.MethodPost, "/v1/admin/clients/"+c.ID+"/revoke", nil)
	if resp.StatusCode != 200 || body["message"] != "Client revoked" {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	if st, _ := clientFormStatus(t, o, c, "/oauth2/token", cc); st != 401 {
		t.Errorf("revoked client at the token endpoint: %d", st)
	}
	resp, body = o.call(http.MethodPatch, "/v1/admin/clients/"+c.ID,
		map[string]any{"isActive": true})
	if resp.StatusCode != 200 || body["isActive"] != true || body["revokedAt"] != nil {
		t.Errorf("reactivate: %d %v", resp.StatusCode, body)
	}
	if st := bearerGet(t, o, "/v1/admin/clients", token, nil); st != 401 {
		t.Errorf("token from before the revocation works again: %d", st)
	}
	resp, _ = o.call(http.MethodDelete, "/v1/admin/clients/"+c.ID, nil)
	if resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	for _, id := range []string{c.ID, "not-a-uuid"} {
		if resp, _ := o.call(http.MethodGet, "/v1/admin/clients/"+id, nil); resp.StatusCode != 404 {
			t.Errorf("get %s after delete: %d", id, resp.StatusCode)
		}
	}
}

// TestConsentsLogoutAndEnrollment covers /v1/me/consents, the logout
// confirmation and MFA enrollment through the hosted pages.
func TestConsentsLogoutAndEnrollment(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	c := o.createClient(nil)
	tok := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, codeFor(t, o, c, nil)))

	resp, body := o.call(http.MethodGet, "/v1/me/consents", nil)
	data, _ := body["data"].([]any)
	if resp.StatusCode != 200 || len(data) != 1 {
		t.Fatalf("consents: %d %v", resp.StatusCode, body)
	}
	consent := data[0].(map[string]any)
	if consent["clientId"] != c.ClientID || consent["clientName"] != "Relying party" {
		t.Errorf("consent %v", consent)
	}
	id := consent["id"].(string)
	if resp, _ := o.call(http.MethodDelete, "/v1/me/consents/"+id, nil); resp.StatusCode != 204 {
		t.Fatalf("delete consent: %d", resp.StatusCode)
	}
	if resp, _ := o.call(http.MethodDelete, "/v1/me/consents/"+id, nil); resp.StatusCode != 404 {
		t.Errorf("delete consent twice: %d", resp.StatusCode)
	}
	if got := introspectAs(t, o, c, tok["refresh_token"].(string)); got["active"] != false {
		t.Errorf("refresh token survived the consent's revocation: %v", got)
	}

	checkLogoutConfirmation(t, o, c)
	checkEnrollment(t, o, c)
	checkTokenMetrics(t, o)
}

func checkLogoutConfirmation(t *testing.T, o *oauthEnv, c rpClient) {
	b := newPageBrowser(t)
	o.signIn(b, authURL(o, c, nil))
	resp, page := b.get(o.s.URL + "/oauth2/logout")
	if resp.StatusCode != 200 || !strings.Contains(page, `name="confirm" value="yes"`) {
		t.Fatalf("logout without hint: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := b.post(o.s.URL+"/oauth2/logout", url.Values{"confirm": {"yes"},
		"_csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout confirmation with a bad CSRF token: %d", resp.StatusCode)
	}
	resp, page = b.post(o.s.URL+"/oauth2/logout", url.Values{"confirm": {"yes"},
		"_csrf": {formField(t, csrfField, page)}})
	if resp.StatusCode != 200 || !strings.Contains(page, "signed out") {
		t.Errorf("confirmed logout: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = b.get(authURL(o, c, nil))
	if !strings.Contains(resp.Header.Get("Location"), "/auth/login") {
		t.Errorf("session survived the logout: %s", resp.Header.Get("Location"))
	}
}

var secretField = regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`)

// checkEnrollment turns on requireMfa for the organisation and signs in:
// the pages enroll the user with TOTP and continue the flow.
func checkEnrollment(t *testing.T, o *oauthEnv, c rpClient) {
	d, err := db.Open(context.Background(), o.s.Env["DATABASE_URL"], db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ExecContext(context.Background(), `UPDATE organisations
		SET require_mfa = TRUE WHERE slug = $1`, o.slug); err != nil {
		t.Fatal(err)
	}
	b := newPageBrowser(t)
	resp, page := b.get(authURL(o, c, nil))
	resp, page = b.get(redirectOf(t, o.s, resp))
	target := queryOf(resp.Request.URL.String()).Get("redirect_uri")
	resp, _ = b.post(o.s.URL+"/auth/login", url.Values{"_csrf": {formField(t, csrfField, page)},
		"email": {o.email}, "password": {o.password}, "redirect_uri": {target}})
	setup := redirectOf(t, o.s, resp)
	if !strings.Contains(setup, "/auth/mfa/setup") {
		t.Fatalf("login with requireMfa went to %s", setup)
	}
	resp, page = b.get(setup)
	secret := formField(t, secretField, page)
	resp, page = b.post(o.s.URL+"/auth/mfa/setup", url.Values{
		"_csrf": {formField(t, csrfField, page)}, "redirect_uri": {target},
		"code": {oauthTOTP(t, secret, time.Now())}})
	if resp.StatusCode != 200 || strings.Count(page, "<li><code>") != 10 {
		t.Fatalf("enrollment: %d\n%s", resp.StatusCode, page)
	}
	cb := o.signIn(b, target)
	if cb.Query().Get("code") == "" {
		t.Errorf("flow after enrollment ended at %s", cb)
	}
}

func checkTokenMetrics(t *testing.T, o *oauthEnv) {
	_, body := newPageBrowser(t).get(o.s.URL + "/metrics")
	for _, m := range []string{
		`cerberus_tokens_issued_total{grant_type="authorization_code",token_type="access_token"}`,
		`cerberus_tokens_revoked_total`} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// checkClientCORS sends token requests from a browser origin: the
// client's allowedOrigins get CORS headers, other origins none.
func checkClientCORS(t *testing.T, o *oauthEnv) {
	c := o.createClient(map[string]any{"grantTypes": []string{"client_credentials"},
		"redirectUris": []string{}, "scopes": []string{"orders.read"},
		"allowedOrigins": []string{"https://spa.example.test"}})
	spa := "https://spa.example.test"
	for origin, want := range map[string]string{spa: spa, "https://evil.example.test": ""} {
		req, _ := http.NewRequest(http.MethodPost, o.s.URL+"/oauth2/token",
			strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.SetBasicAuth(c.ClientID, c.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != 200 ||
			got != want {
			t.Errorf("token from %s: %d, allow-origin %q", origin, resp.StatusCode, got)
		}
	}
}
