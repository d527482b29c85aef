package e2e_test

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// discoveryKeys are the members the discovery document may have; a new
// member must be added here together with a check that exercises it.
var discoveryKeys = []string{"issuer", "authorization_endpoint", "token_endpoint",
	"userinfo_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint",
	"end_session_endpoint", "scopes_supported", "response_types_supported",
	"response_modes_supported", "grant_types_supported", "subject_types_supported",
	"id_token_signing_alg_values_supported", "code_challenge_methods_supported",
	"prompt_values_supported", "acr_values_supported", "token_endpoint_auth_methods_supported",
	"revocation_endpoint_auth_methods_supported",
	"introspection_endpoint_auth_methods_supported", "claims_supported",
	"authorization_response_iss_parameter_supported", "request_parameter_supported",
	"request_uri_parameter_supported", "claims_parameter_supported",
	"registration_endpoint", "device_authorization_endpoint",
	"token_endpoint_auth_signing_alg_values_supported"}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestDiscoveryListsOnlyWhatWorks walks every advertised endpoint, grant
// type, response mode and client authentication method and uses each.
func TestDiscoveryListsOnlyWhatWorks(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	doc := discovery(t, o)

	for _, k := range sortedKeys(doc) {
		if !slices.Contains(discoveryKeys, k) {
			t.Errorf("discovery advertises %q, which no test exercises", k)
		}
	}
	if doc["authorization_response_iss_parameter_supported"] != true ||
		doc["issuer"] != o.s.URL {
		t.Errorf("discovery: %v", doc)
	}

	checked := map[string]bool{}
	walkAuthMethods(t, o, doc, checked)
	walkGrants(t, o, doc, checked)
	walkResponseModes(t, o, doc, checked)
	walkEndpoints(t, o, doc, checked)
	for _, group := range []string{"grant_types_supported", "response_modes_supported",
		"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
		"introspection_endpoint_auth_methods_supported",
		"token_endpoint_auth_signing_alg_values_supported"} {
		for _, v := range strs(doc[group]) {
			if !checked[group+"/"+v] {
				t.Errorf("%s lists %q, which was not exercised", group, v)
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// discovery fetches both well-known documents, checks they are the same
// with the caching of the contract, and decodes one.
func discovery(t *testing.T, o *oauthEnv) map[string]any {
	t.Helper()
	var bodies [][]byte
	for _, p := range []string{"/.well-known/openid-configuration",
		"/.well-known/oauth-authorization-server"} {
		resp, body := newPageBrowser(t).get(o.s.URL + p)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
			t.Fatalf("%s: %d %q", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		bodies = append(bodies, []byte(body))
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatal("the two well-known documents differ")
	}
	doc := map[string]any{}
	if err := json.Unmarshal(bodies[0], &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// walkAuthMethods authenticates at the token, revocation and
// introspection endpoints with every advertised method, and with an
// assertion of every advertised algorithm.
func walkAuthMethods(t *testing.T, o *oauthEnv, doc map[string]any, checked map[string]bool) {
	for _, alg := range strs(doc["token_endpoint_auth_signing_alg_values_supported"]) {
		k := newJWTKey(t, jose.SignatureAlgorithm(alg))
		c := o.pkjwtClient(k, nil)
		c.key = &k
		if st, tok := authPost(t, o, c, "private_key_jwt", "/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "scope": {"orders.read"}}); st == 200 &&
			tok["access_token"] != nil {
			checked["token_endpoint_auth_signing_alg_values_supported/"+alg] = true
		}
	}
	pk := newJWTKey(t, jose.ES256)
	jwtClient := o.pkjwtClient(pk, nil)
	jwtClient.key = &pk
	clients := map[string]rpClient{
		"private_key_jwt":     jwtClient,
		"client_secret_basic": o.createClient(nil),
		"client_secret_post": o.createClient(map[string]any{
			"tokenEndpointAuthMethod": "client_secret_post"}),
		"none": o.createClient(map[string]any{"clientType": "public",
			"tokenEndpointAuthMethod": "none"}),
	}
	for _, m := range strs(doc["token_endpoint_auth_methods_supported"]) {
		c, ok := clients[m]
		if !ok {
			t.Errorf("no client for advertised method %s", m)
			continue
		}
		code := codeFor(t, o, c, nil)
		st, tok := authPost(t, o, c, m, "/oauth2/token", exchangeForm(c, code))
		if st != 200 {
			t.Errorf("token with %s: %d %v", m, st, tok)
			continue
		}
		checked["token_endpoint_auth_methods_supported/"+m] = true
		if slices.Contains(strs(doc["introspection_endpoint_auth_methods_supported"]), m) {
			st, got := authPost(t, o, c, m, "/oauth2/introspect",
				url.Values{"token": {tok["access_token"].(string)}})
			if st == 200 && got["active"] == true {
				checked["introspection_endpoint_auth_methods_supported/"+m] = true
			}
		}
		if slices.Contains(strs(doc["revocation_endpoint_auth_methods_supported"]), m) {
			st, _ := authPost(t, o, c, m, "/oauth2/revoke",
				url.Values{"token": {tok["refresh_token"].(string)}})
			if st == 200 {
				checked["revocation_endpoint_auth_methods_supported/"+m] = true
			}
		}
	}
	// Public clients may not introspect.
	st, _ := authPost(t, o, clients["none"], "none", "/oauth2/introspect",
		url.Values{"token": {"x"}})
	if st != http.StatusUnauthorized {
		t.Errorf("public client at introspection: %d", st)
	}
}

// authPost posts form as c authenticated with method.
func authPost(t *testing.T, o *oauthEnv, c rpClient, method, path string,
	form url.Values) (int, map[string]any) {
	t.Helper()
	switch method {
	case "private_key_jwt":
		resp, body := assertionPost(t, o, path, c.key.sign(t,
			assertionClaims(c.ClientID, o.s.URL+path)), form)
		return resp.StatusCode, body
	case "client_secret_post":
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.Secret)
		return clientFormStatus(t, o, rpClient{}, path, form)
	case "none":
		form.Set("client_id", c.ClientID)
		return clientFormStatus(t, o, rpClient{}, path, form)
	}
	return clientFormStatus(t, o, c, path, form)
}

func walkGrants(t *testing.T, o *oauthEnv, doc map[string]any, checked map[string]bool) {
	c := o.createClient(map[string]any{"grantTypes": []string{"authorization_code",
		"refresh_token", "client_credentials"}, "scopes": []string{"openid",
		"offline_access", "orders.read"}})
	for _, g := range strs(doc["grant_types_supported"]) {
		var form url.Values
		switch g {
		case "authorization_code":
			form = exchangeForm(c, codeFor(t, o, c, nil))
		case "refresh_token":
			tok := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, codeFor(t, o, c, nil)))
			form = url.Values{"grant_type": {g}, "refresh_token": {tok["refresh_token"].(string)}}
		case "client_credentials":
			form = url.Values{"grant_type": {g}, "scope": {"orders.read"}}
		case "urn:ietf:params:oauth:grant-type:device_code":
			if walkDeviceGrant(t, o) {
				checked["grant_types_supported/"+g] = true
			}
			continue
		default:
			continue
		}
		st, body := clientFormStatus(t, o, c, "/oauth2/token", form)
		if st == 200 && body["access_token"] != nil {
			checked["grant_types_supported/"+g] = true
		} else {
			t.Errorf("grant %s: %d %v", g, st, body)
		}
	}
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)" id="formpost">`)
var hiddenField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

func walkResponseModes(t *testing.T, o *oauthEnv, doc map[string]any, checked map[string]bool) {
	c := o.createClient(nil)
	for _, m := range strs(doc["response_modes_supported"]) {
		switch m {
		case "query":
			if codeFor(t, o, c, func(v url.Values) { v.Set("response_mode", "query") }) != "" {
				checked["response_modes_supported/query"] = true
			}
		case "form_post":
			if formPostCode(t, o, c) != "" {
				checked["response_modes_supported/form_post"] = true
			}
		}
	}
}

// formPostCode runs a flow in form_post mode (the consent was given by
// earlier flows of the same user) and returns the posted code.
func formPostCode(t *testing.T, o *oauthEnv, c rpClient) string {
	t.Helper()
	b := newPageBrowser(t)
	codeFor(t, o, c, nil) // consent first, in query mode
	o.signIn(b, authURL(o, c, nil))
	resp, page := b.get(authURL(o, c, func(v url.Values) { v.Set("response_mode", "form_post") }))
	csp := resp.Header.Get("Content-Security-Policy")
	m := formAction.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || html.UnescapeString(m[1]) != c.Redirect ||
		!strings.Contains(csp, "form-action 'self' http://127.0.0.1:9") {
		t.Fatalf("form_post page: %d %q\n%s", resp.StatusCode, csp, page)
	}
	fields := map[string]string{}
	for _, f := range hiddenField.FindAllStringSubmatch(page, -1) {
		fields[f[1]] = html.UnescapeString(f[2])
	}
	if fields["iss"] != o.s.URL || fields["state"] != "s" {
		t.Fatalf("form_post fields %v", fields)
	}
	return fields["code"]
}

func walkEndpoints(t *testing.T, o *oauthEnv, doc map[string]any, checked map[string]bool) {
	c := o.createClient(nil)
	tok := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, codeFor(t, o, c, nil)))
	at := tok["access_token"].(string)
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint",
		"jwks_uri", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
		"registration_endpoint", "device_authorization_endpoint"} {
		u, _ := doc[k].(string)
		if !strings.HasPrefix(u, o.s.URL+"/oauth2/") {
			t.Errorf("%s = %q", k, u)
		}
	}
	if resp, reg := register(t, o, o.apiKey("clients:create"), map[string]any{
		"redirect_uris": []string{rpRedirect}}); resp.StatusCode != http.StatusCreated {
		t.Errorf("registration_endpoint: %d %v", resp.StatusCode, reg)
	}
	if st := bearerGet(t, o, "/oauth2/userinfo", at, nil); st != 200 {
		t.Errorf("userinfo_endpoint: %d", st)
	}
	resp, body := newPageBrowser(t).get(doc["jwks_uri"].(string))
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=300" ||
		!strings.Contains(body, `"use":"sig"`) {
		t.Errorf("jwks_uri: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	resp, _ = newPageBrowser(t).get(doc["end_session_endpoint"].(string))
	if resp.StatusCode != 200 {
		t.Errorf("end_session_endpoint without a session: %d", resp.StatusCode)
	}
	// prompt values.
	b := newPageBrowser(t)
	resp, _ = b.get(authURL(o, c, func(v url.Values) { v.Set("prompt", "none") }))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none without session: %s", loc)
	}
	o.signIn(b, authURL(o, c, nil))
	resp, _ = b.get(authURL(o, c, func(v url.Values) { v.Set("prompt", "login") }))
	if !strings.Contains(resp.Header.Get("Location"), "/auth/login") {
		t.Errorf("prompt=login with a session: %s", resp.Header.Get("Location"))
	}
	resp, _ = b.get(authURL(o, c, func(v url.Values) { v.Set("prompt", "consent") }))
	if !strings.Contains(resp.Header.Get("Location"), "/oauth2/consent") {
		t.Errorf("prompt=consent: %s", resp.Header.Get("Location"))
	}
}

// walkDeviceGrant runs the device grant once: a code, its approval on the
// page, and the tokens at the first poll.
func walkDeviceGrant(t *testing.T, o *oauthEnv) bool {
	t.Helper()
	d := startDevice(t, o, o.deviceClient().ClientID)
	if decideOnPage(t, o, newPageBrowser(t), d, "allow") != o.s.URL+"/device?result=approved" {
		return false
	}
	st, body := d.poll()
	return st == http.StatusOK && body["access_token"] != nil
}
