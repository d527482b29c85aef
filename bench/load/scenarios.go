package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// scenario is one kind of request the workers repeat.
type scenario struct {
	name  string
	about string
	// request builds one request from the fixture.
	request func(context.Context, *Fixture) *http.Request
	// check, when set, vets the body of a 2xx answer; a body it refuses
	// counts as an unexpected error.
	check func(body []byte) bool
}

// scenarios lists every scenario in the default order.
var scenarios = []scenario{
	{name: "health", about: "GET /health: routing and middleware, no database",
		request: healthRequest},
	{name: "token", about: "POST /oauth2/token, client_credentials: secret, signing, rows",
		request: tokenRequest},
	{name: "introspect", about: "POST /oauth2/introspect of an access token (must be active)",
		request: introspectRequest, check: activeToken},
	{name: "admin-token", about: "GET /v1/admin/users with a bearer access token",
		request: adminTokenRequest},
	{name: "admin-key", about: "GET /v1/admin/users with an API key (ck_...)",
		request: adminKeyRequest},
	{name: "session", about: "GET /v1/me/profile with the session cookie",
		request: sessionRequest},
	{name: "login", about: "POST /v1/auth/login: Argon2id; 429 and 503 count as throttled",
		request: loginRequest},
}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// pickScenarios returns the scenarios of a comma-separated list of names.
func pickScenarios(list string) ([]scenario, error) {
	var out []scenario
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", name,
				strings.Join(scenarioNames(), ", "))
		}
		out = append(out, scenarios[i])
	}
	return out, nil
}

// get is a GET of a path of the server. The URL is the validated base plus
// a constant path, so building the request cannot fail.
func get(ctx context.Context, f *Fixture, path string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.BaseURL+path, nil)
	return req
}

// form is a POST of an urlencoded form authenticated as the client with
// client_secret_basic.
func form(ctx context.Context, f *Fixture, path string, v url.Values) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.BaseURL+path,
		strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.ClientID), url.QueryEscape(f.ClientSecret))
	return req
}

func healthRequest(ctx context.Context, f *Fixture) *http.Request {
	return get(ctx, f, "/health")
}

// tokenRequest asks for a token usable on the admin API: the permission
// scope, with the issuer as resource so that it is in the audience.
func tokenRequest(ctx context.Context, f *Fixture) *http.Request {
	return form(ctx, f, "/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"scope": {permission}, "resource": {f.Issuer}})
}

func introspectRequest(ctx context.Context, f *Fixture) *http.Request {
	return form(ctx, f, "/oauth2/introspect", url.Values{"token": {f.AccessToken},
		"token_type_hint": {"access_token"}})
}

// activeToken accepts an introspection answer only when the token is
// active: an inactive one is a 200 too, but a failure of the scenario.
func activeToken(body []byte) bool {
	var out struct {
		Active bool `json:"active"`
	}
	return json.Unmarshal(body, &out) == nil && out.Active
}

func adminTokenRequest(ctx context.Context, f *Fixture) *http.Request {
	req := get(ctx, f, "/v1/admin/users")
	req.Header.Set("Authorization", "Bearer "+f.AccessToken)
	return req
}

func adminKeyRequest(ctx context.Context, f *Fixture) *http.Request {
	req := get(ctx, f, "/v1/admin/users")
	req.Header.Set("Authorization", "Bearer "+f.APIKey)
	return req
}

func sessionRequest(ctx context.Context, f *Fixture) *http.Request {
	req := get(ctx, f, "/v1/me/profile")
	req.Header.Set("Cookie", f.Cookie)
	return req
}

// loginRequest signs the owner in. Each success creates a session, which
// the tool leaves to expire.
func loginRequest(ctx context.Context, f *Fixture) *http.Request {
	return jsonRequest(ctx, f.BaseURL+"/v1/auth/login",
		map[string]string{"email": f.Email, "password": f.Password})
}
