package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// oauthEnv is a running server with an onboarded organisation whose owner
// administers clients through the admin API with a session.
type oauthEnv struct {
	t        *testing.T
	s        *e2e.Server
	admin    *http.Client
	csrf     string
	slug     string
	email    string
	password string
}

const ownerPassword = "Correct-Horse-42!"

func newOAuthEnv(t *testing.T, engine db.Engine, env map[string]string) *oauthEnv {
	t.Helper()
	s := e2e.Start(t, e2e.Options{Engine: engine, Env: env})
	return oauthOnboard(t, s, "Acme "+oauthWord())
}

func oauthWord() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// onboard creates an organisation and its owner on s and keeps the
// owner's session for the admin API.
func oauthOnboard(t *testing.T, s *e2e.Server, org string) *oauthEnv {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	o := &oauthEnv{t: t, s: s, admin: &http.Client{Jar: jar},
		email: strings.ToLower(oauthWord()) + "@owner.test", password: ownerPassword}
	o.email = strings.ReplaceAll(strings.ReplaceAll(o.email, "-", "x"), "_", "y")
	resp, body := o.call(http.MethodPost, "/v1/auth/onboard", map[string]any{
		"organisationName": org, "email": o.email, "firstName": "Ada",
		"lastName": "Lovelace", "password": o.password})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("onboard: %d %v", resp.StatusCode, body)
	}
	o.csrf = resp.Header.Get("X-CSRF-Token")
	o.slug = body["organisation"].(map[string]any)["slug"].(string)
	return o
}

// call sends a JSON request with the admin session and returns the
// answer and its decoded body.
func (o *oauthEnv) call(method, path string, body any) (*http.Response, map[string]any) {
	o.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, o.s.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if o.csrf != "" {
		req.Header.Set("X-CSRF-Token", o.csrf)
	}
	if o.slug != "" {
		req.Header.Set("X-Org-Domain", o.slug)
	}
	resp, err := o.admin.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// client is a registered OAuth client.
type rpClient struct {
	ID, ClientID, Secret, Redirect string
	// key signs the assertions of a private_key_jwt client.
	key *jwtKey
}

const rpRedirect = "http://127.0.0.1:9/cb"

// createClient registers a client through the admin API; extra overrides
// the defaults of a confidential code+refresh client.
func (o *oauthEnv) createClient(extra map[string]any) rpClient {
	o.t.Helper()
	body := map[string]any{"name": "Relying party", "clientType": "confidential",
		"redirectUris":           []string{rpRedirect},
		"postLogoutRedirectUris": []string{"http://127.0.0.1:9/bye"},
		"scopes":                 []string{"openid", "profile", "email", "offline_access"},
		"grantTypes":             []string{"authorization_code", "refresh_token"}}
	for k, v := range extra {
		body[k] = v
	}
	resp, out := o.call(http.MethodPost, "/v1/admin/clients", body)
	if resp.StatusCode != http.StatusCreated {
		o.t.Fatalf("create client: %d %v", resp.StatusCode, out)
	}
	c := rpClient{ID: out["id"].(string), ClientID: out["clientId"].(string), Redirect: rpRedirect}
	c.Secret, _ = out["clientSecret"].(string)
	return c
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type pageBrowser struct {
	t *testing.T
	c *http.Client
}

func newPageBrowser(t *testing.T) *pageBrowser {
	jar, _ := cookiejar.New(nil)
	return &pageBrowser{t: t, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

func (b *pageBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *pageBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *pageBrowser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfField      = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	requestIDField = regexp.MustCompile(`name="request_id" value="([^"]+)"`)
)

func formField(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in page:\n%s", re, page)
	}
	return m[1]
}

// location resolves the Location of a redirect against the server.
func redirectOf(t *testing.T, s *e2e.Server, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("status %d without Location", resp.StatusCode)
	}
	if strings.HasPrefix(loc, "/") {
		return s.URL + loc
	}
	return loc
}

// signIn drives a browser from an authorization URL through the hosted
// login and consent pages to the client's redirect URI and returns it.
func (o *oauthEnv) signIn(b *pageBrowser, authURL string) *url.URL {
	o.t.Helper()
	next := authURL
	for range 10 {
		if strings.HasPrefix(next, rpRedirect) || strings.HasPrefix(next, "http://127.0.0.1:9/") {
			u, _ := url.Parse(next)
			return u
		}
		resp, page := b.get(next)
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			next = redirectOf(o.t, o.s, resp)
		case strings.Contains(next, "/auth/login"):
			resp, _ = b.post(o.s.URL+"/auth/login", url.Values{
				"_csrf": {formField(o.t, csrfField, page)}, "email": {o.email},
				"password":     {o.password},
				"redirect_uri": {queryOf(next).Get("redirect_uri")}})
			next = redirectOf(o.t, o.s, resp)
		case strings.Contains(next, "/oauth2/consent"):
			resp, _ = b.post(o.s.URL+"/oauth2/consent", url.Values{
				"_csrf":      {formField(o.t, csrfField, page)},
				"request_id": {formField(o.t, requestIDField, page)}, "decision": {"allow"}})
			next = redirectOf(o.t, o.s, resp)
		default:
			o.t.Fatalf("unexpected page %s (%d):\n%s", next, resp.StatusCode, page)
		}
	}
	o.t.Fatal("sign-in did not reach the redirect URI")
	return nil
}

func queryOf(u string) url.Values {
	p, _ := url.Parse(u)
	return p.Query()
}

// relyingParty is a client configured with golang.org/x/oauth2 and
// github.com/coreos/go-oidc from the server's discovery document.
type relyingParty struct {
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRelyingParty(t *testing.T, s *e2e.Server, c rpClient, alg string) *relyingParty {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &relyingParty{provider: p,
		config: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.Secret,
			Endpoint: p.Endpoint(), RedirectURL: c.Redirect,
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ClientID,
			SupportedSigningAlgs: []string{alg}})}
}
