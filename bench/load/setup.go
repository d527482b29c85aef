package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// permission is the one permission the client and the API key hold: the
// admin scenarios read the user list with it.
const permission = "users:read"

// Fixture is what the scenarios use: a fresh organisation, its owner and
// the owner's session, a client for the client credentials grant with an
// access token, and an API key.
type Fixture struct {
	BaseURL string
	// Issuer is the issuer of discovery, the resource an admin token is
	// issued for.
	Issuer   string
	Slug     string
	Email    string
	Password string
	// Cookie is the Cookie header carrying the owner's session.
	Cookie string
	// CSRF is the session's CSRF token, for unsafe requests.
	CSRF         string
	ClientID     string
	ClientSecret string
	// AccessToken is a client credentials token with permission in its
	// scope and the issuer in its audience.
	AccessToken string
	APIKey      string
}

// Setup prepares a Fixture on the server at base through the public API:
// discovery, onboarding (which signs the owner in), a confidential client
// created with the owner's session, an API key, and an access token.
func Setup(ctx context.Context, c *http.Client, base string) (*Fixture, error) {
	f := &Fixture{BaseURL: base}
	steps := []func(context.Context, *http.Client) error{
		f.discover, f.onboard, f.createClient, f.createKey, f.issueToken,
	}
	for _, step := range steps {
		if err := step(ctx, c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// discover reads the issuer from the OpenID Provider metadata.
func (f *Fixture) discover(ctx context.Context, c *http.Client) error {
	var out struct {
		Issuer string `json:"issuer"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		f.BaseURL+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	if _, err := call(c, req, http.StatusOK, &out); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	f.Issuer = out.Issuer
	return nil
}

// onboard creates the organisation and its owner, and keeps the owner's
// session and CSRF token.
func (f *Fixture) onboard(ctx context.Context, c *http.Client) error {
	word := randomWord()
	f.Email = "load-" + word + "@example.test"
	f.Password = "Load-" + word + "-9!"
	body := map[string]string{"organisationName": "Load test " + word,
		"email": f.Email, "firstName": "Load", "lastName": "Test", "password": f.Password}
	var out struct {
		Organisation struct {
			Slug string `json:"slug"`
		} `json:"organisation"`
	}
	resp, err := call(c, jsonRequest(ctx, f.BaseURL+"/v1/auth/onboard", body),
		http.StatusCreated, &out)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	f.Slug = out.Organisation.Slug
	f.CSRF = resp.Header.Get("X-CSRF-Token")
	f.Cookie = cookieHeader(resp.Cookies())
	return nil
}

// createClient registers a confidential client allowed the client
// credentials grant and the permission scope.
func (f *Fixture) createClient(ctx context.Context, c *http.Client) error {
	body := map[string]any{"name": "Load test", "clientType": "confidential",
		"grantTypes": []string{"client_credentials"}, "scopes": []string{permission}}
	var out struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if _, err := call(c, f.adminRequest(ctx, "/v1/admin/clients", body),
		http.StatusCreated, &out); err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	f.ClientID, f.ClientSecret = out.ClientID, out.ClientSecret
	return nil
}

// createKey creates an API key holding the permission, valid for a day.
func (f *Fixture) createKey(ctx context.Context, c *http.Client) error {
	body := map[string]any{"name": "Load test", "scopes": []string{permission},
		"expiresInDays": 1}
	var out struct {
		Key string `json:"key"`
	}
	if _, err := call(c, f.adminRequest(ctx, "/v1/admin/api-keys", body),
		http.StatusCreated, &out); err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	f.APIKey = out.Key
	return nil
}

// issueToken gets a new access token for the client, the same request the
// token scenario repeats.
func (f *Fixture) issueToken(ctx context.Context, c *http.Client) error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := call(c, tokenRequest(ctx, f), http.StatusOK, &out); err != nil {
		return fmt.Errorf("issue access token: %w", err)
	}
	f.AccessToken = out.AccessToken
	return nil
}

// adminRequest is a JSON POST to the admin API with the owner's session.
func (f *Fixture) adminRequest(ctx context.Context, path string, body any) *http.Request {
	req := jsonRequest(ctx, f.BaseURL+path, body)
	req.Header.Set("Cookie", f.Cookie)
	req.Header.Set("X-CSRF-Token", f.CSRF)
	req.Header.Set("X-Org-Domain", f.Slug)
	return req
}

// jsonRequest is a POST of body as JSON. The body always marshals and the
// URL always parses, so it cannot fail.
func jsonRequest(ctx context.Context, url string, body any) *http.Request {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// call sends req and decodes the answer into out; any status other than
// want is an error quoting the start of the body.
func call(c *http.Client, req *http.Request, want int, out any) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s answered %d: %.300s", req.Method, req.URL.Path,
			resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return resp, nil
}

// cookieHeader joins cookies into the value of a Cookie request header.
// The header is set by hand so that a Secure cookie still travels to a
// plain-http server under test.
func cookieHeader(cookies []*http.Cookie) string {
	parts := make([]string, 0, len(cookies))
	for _, ck := range cookies {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// randomWord is 8 random hex characters.
func randomWord() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newClient is an HTTP client keeping one idle connection per worker.
func newClient(workers int, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = workers
	t.MaxIdleConnsPerHost = workers
	return &http.Client{Transport: t, Timeout: timeout}
}
