package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// apiKey creates an API key of the owner with scopes and returns it.
func (o *oauthEnv) apiKey(scopes ...string) string {
	o.t.Helper()
	resp, body := o.call(http.MethodPost, "/v1/admin/api-keys",
		map[string]any{"name": "Registrar " + oauthWord(), "scopes": scopes})
	if resp.StatusCode != http.StatusCreated {
		o.t.Fatalf("create api key: %d %v", resp.StatusCode, body)
	}
	return body["key"].(string)
}

// register posts metadata to /oauth2/register with the bearer credential
// (none when empty).
func register(t *testing.T, o *oauthEnv, bearer string, metadata map[string]any) (
	*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(metadata)
	req, _ := http.NewRequest(http.MethodPost, o.s.URL+"/oauth2/register", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// TestDynamicRegistration registers a client with an API key and with an
// access token holding clients:create, runs an authorization code flow
// with PKCE as the registered client through golang.org/x/oauth2, and
// checks the refusals of the contract.
func TestDynamicRegistration(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	key := o.apiKey("clients:create")
	resp, reg := register(t, o, key, map[string]any{"client_name": "Registered app",
		"redirect_uris": []string{rpRedirect}, "scope": "openid profile email",
		"logo_uri": "https://app.example.test/logo.png", "software_version": "1.0"})
	if resp.StatusCode != http.StatusCreated || reg["client_secret"] == nil ||
		reg["client_secret_expires_at"] != 0.0 || reg["client_id_issued_at"] == nil ||
		reg["token_endpoint_auth_method"] != "client_secret_basic" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("registration: %d %v", resp.StatusCode, reg)
	}
	runRegisteredClient(t, o, reg)
	admin := adminView(t, o, reg["client_id"].(string))
	if admin["isFirstParty"] != false || admin["requirePkce"] != true {
		t.Fatalf("registered client as the admin API shows it: %v", admin)
	}

	// An access token of the client credentials grant with clients:create.
	svc := o.createClient(map[string]any{"grantTypes": []string{"client_credentials"},
		"scopes": []string{"clients:create"}, "redirectUris": []string{}})
	tok := clientForm(t, o, svc, "/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "resource": {o.s.URL}})
	resp, reg = register(t, o, tok["access_token"].(string), map[string]any{
		"redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none"})
	if resp.StatusCode != http.StatusCreated || reg["client_secret"] != nil {
		t.Fatalf("registration with an access token: %d %v", resp.StatusCode, reg)
	}

	registrationRefusals(t, o, key)
}

// runRegisteredClient completes a code flow with PKCE as the client.
func runRegisteredClient(t *testing.T, o *oauthEnv, reg map[string]any) {
	t.Helper()
	conf := oauth2.Config{ClientID: reg["client_id"].(string),
		ClientSecret: reg["client_secret"].(string), RedirectURL: rpRedirect,
		Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: o.s.URL + "/oauth2/authorize",
			TokenURL: o.s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	cb := o.signIn(newPageBrowser(t), conf.AuthCodeURL("reg-state",
		oauth2.S256ChallengeOption(verifier)))
	if cb.Query().Get("state") != "reg-state" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"),
		oauth2.VerifierOption(verifier))
	if err != nil || tok.AccessToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("exchange as the registered client: %v", err)
	}
}

// adminView reads a client of the organisation by client_id.
func adminView(t *testing.T, o *oauthEnv, clientID string) map[string]any {
	t.Helper()
	resp, list := o.call(http.MethodGet, "/v1/admin/clients?limit=100", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list clients: %d", resp.StatusCode)
	}
	for _, c := range list["data"].([]any) {
		if m := c.(map[string]any); m["clientId"] == clientID {
			return m
		}
	}
	t.Fatalf("client %s not listed", clientID)
	return nil
}

func registrationRefusals(t *testing.T, o *oauthEnv, key string) {
	good := map[string]any{"redirect_uris": []string{rpRedirect}}
	cases := []struct {
		name, bearer string
		metadata     map[string]any
		status       int
		code         string
	}{
		{"no credentials", "", good, 401, "invalid_token"},
		{"bad credentials", "not-a-token", good, 401, "invalid_token"},
		{"without clients:create", o.apiKey("users:read"), good, 403, "insufficient_scope"},
		{"javascript redirect", key, map[string]any{
			"redirect_uris": []string{"javascript:alert(1)"}}, 400, "invalid_redirect_uri"},
		{"fragment", key, map[string]any{
			"redirect_uris": []string{rpRedirect + "#frag"}}, 400, "invalid_redirect_uri"},
		{"permission scope the caller lacks", key, map[string]any{
			"redirect_uris": []string{rpRedirect}, "scope": "openid users:read"}, 403,
			"insufficient_scope"},
		{"unknown grant", key, map[string]any{"redirect_uris": []string{rpRedirect},
			"grant_types": []string{"password"}}, 400, "invalid_client_metadata"},
	}
	for _, tc := range cases {
		resp, body := register(t, o, tc.bearer, tc.metadata)
		if resp.StatusCode != tc.status || body["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, resp.StatusCode, body, tc.status,
				tc.code)
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		if tc.status != 400 && !strings.HasPrefix(challenge, "Bearer ") {
			t.Errorf("%s: challenge %q", tc.name, challenge)
		}
	}
	_, body := register(t, o, key, map[string]any{"redirect_uris": []string{rpRedirect},
		"scope": "users:read"})
	if body["error_description"] != "Cannot grant permissions you do not hold" {
		t.Errorf("escalation description %v", body)
	}
}
