package e2e_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// authURL builds an authorization request of c; mod edits the parameters.
func authURL(o *oauthEnv, c rpClient, mod func(url.Values)) string {
	v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.Redirect},
		"response_type": {"code"}, "scope": {"openid offline_access"}, "state": {"s"}}
	verifier := "hostile-verifier-0123456789-0123456789-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	v.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	v.Set("code_challenge_method", "S256")
	if mod != nil {
		mod(v)
	}
	return o.s.URL + "/oauth2/authorize?" + v.Encode()
}

const hostileVerifier = "hostile-verifier-0123456789-0123456789-0123456789"

// codeFor signs in through the pages and returns a code for c.
func codeFor(t *testing.T, o *oauthEnv, c rpClient, mod func(url.Values)) string {
	t.Helper()
	cb := o.signIn(newPageBrowser(t), authURL(o, c, mod))
	code := cb.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", cb)
	}
	return code
}

func exchangeForm(c rpClient, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.Redirect}, "code_verifier": {hostileVerifier}}
}

func TestOAuthHostileRequests(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	c := o.createClient(map[string]any{"redirectUris": []string{rpRedirect,
		"http://127.0.0.1:9/other", "https://app.example.test/q?a=1"}})

	t.Run("pkce", func(t *testing.T) {
		o.t = t
		b := newPageBrowser(t)
		for name, mod := range map[string]func(url.Values){
			"omitted": func(v url.Values) {
				v.Del("code_challenge")
				v.Del("code_challenge_method")
			},
			"plain":     func(v url.Values) { v.Set("code_challenge_method", "plain") },
			"no method": func(v url.Values) { v.Del("code_challenge_method") },
		} {
			resp, _ := b.get(authURL(o, c, mod))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound ||
				loc.Query().Get("error") != "invalid_request" ||
				!strings.HasPrefix(loc.String(), rpRedirect) {
				t.Errorf("PKCE %s: %d %s", name, resp.StatusCode, loc)
			}
		}
		noPKCE := o.createClient(map[string]any{"requirePkce": false})
		code := codeFor(t, o, noPKCE, func(v url.Values) {
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		})
		st, body := clientFormStatus(t, o, noPKCE, "/oauth2/token", exchangeForm(noPKCE, code))
		if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("verifier without challenge: %d %v", st, body)
		}
	})

	t.Run("code replay", func(t *testing.T) {
		o.t = t
		code := codeFor(t, o, c, nil)
		first := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, code))
		st, body := clientFormStatus(t, o, c, "/oauth2/token", exchangeForm(c, code))
		if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("second use: %d %v", st, body)
		}
		if got := introspectAs(t, o, c, first["access_token"].(string)); got["active"] != false {
			t.Errorf("access token of a replayed code still active: %v", got)
		}
		if got := introspectAs(t, o, c, first["refresh_token"].(string)); got["active"] != false {
			t.Errorf("refresh token of a replayed code still active: %v", got)
		}
	})

	t.Run("code misuse", func(t *testing.T) {
		o.t = t
		other := o.createClient(nil)
		code := codeFor(t, o, c, nil)
		st, _ := clientFormStatus(t, o, other, "/oauth2/token", exchangeForm(c, code))
		if st != 400 {
			t.Errorf("code used by another client: %d", st)
		}
		f := exchangeForm(c, code)
		f.Set("redirect_uri", "http://127.0.0.1:9/other")
		if st, _ := clientFormStatus(t, o, c, "/oauth2/token", f); st != 400 {
			t.Errorf("code with another redirect_uri: %d", st)
		}
	})

	t.Run("redirect uri bypasses", func(t *testing.T) {
		o.t = t
		b := newPageBrowser(t)
		for _, bad := range []string{"http://127.0.0.1:9/CB", "http://127.0.0.1:9/cb/",
			"http://127.0.0.1:9/x/../cb", "http://127.0.0.1:9/./cb", "http://u@127.0.0.1:9/cb",
			"http://127.0.0.1:9/cb#f", "http://127.0.0.1:9/cb?x=1",
			"https://app.example.test/q?a=1&a=1", "https://app.example.test/q?a=1&b=2",
			"https://APP.example.test/q?a=1", "http://localhost:9/cb", "http://127.0.0.2:9/cb"} {
			resp, page := b.get(authURL(o, c, func(v url.Values) { v.Set("redirect_uri", bad) }))
			if resp.StatusCode != http.StatusBadRequest ||
				!strings.Contains(page, "invalid_request") {
				t.Errorf("redirect_uri %q: %d %s", bad, resp.StatusCode,
					resp.Header.Get("Location"))
			}
		}
		resp, _ := b.get(authURL(o, c, func(v url.Values) {
			v.Set("redirect_uri", "http://127.0.0.1:4567/cb")
		}))
		if resp.StatusCode != http.StatusFound {
			t.Errorf("loopback port change refused: %d", resp.StatusCode)
		}
	})

	t.Run("refresh reuse", func(t *testing.T) {
		o.t = t
		tok := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, codeFor(t, o, c, nil)))
		old := tok["refresh_token"].(string)
		next := clientForm(t, o, c, "/oauth2/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {old}})
		time.Sleep(5500 * time.Millisecond) // past the 5 s retry allowance
		st, _ := clientFormStatus(t, o, c, "/oauth2/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {old}})
		if st != http.StatusBadRequest {
			t.Fatalf("reused refresh token: %d", st)
		}
		st, _ = clientFormStatus(t, o, c, "/oauth2/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}})
		if st != http.StatusBadRequest {
			t.Errorf("family survived reuse: %d", st)
		}
		if got := introspectAs(t, o, c, next["access_token"].(string)); got["active"] != false {
			t.Errorf("access token of a reused family still active: %v", got)
		}
	})

	t.Run("concurrent refresh", func(t *testing.T) {
		o.t = t
		tok := clientForm(t, o, c, "/oauth2/token", exchangeForm(c, codeFor(t, o, c, nil)))
		rt := tok["refresh_token"].(string)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 10 {
			wg.Go(func() {
				st, _ := clientFormStatus(t, o, c, "/oauth2/token", url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				mu.Lock()
				if st == http.StatusOK {
					wins++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d of 10 concurrent refreshes won, want 1", wins)
		}
	})

	t.Run("forged tokens and tenants", func(t *testing.T) {
		o.t = t
		forgedTokens(t, o)
	})
}

// serviceClient registers a client-credentials client holding clients:read.
func serviceClient(o *oauthEnv) rpClient {
	return o.createClient(map[string]any{"grantTypes": []string{"client_credentials"},
		"redirectUris": []string{}, "scopes": []string{"clients:read"}})
}

// serviceToken obtains an admin API token (audience ISSUER_URL) for c.
func serviceToken(t *testing.T, o *oauthEnv, c rpClient) string {
	t.Helper()
	tok := clientForm(t, o, c, "/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "resource": {o.s.URL}})
	return tok["access_token"].(string)
}

func bearerGet(t *testing.T, o *oauthEnv, path, token string, h map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, o.s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func forgedTokens(t *testing.T, o *oauthEnv) {
	svc := serviceClient(o)
	good := serviceToken(t, o, svc)
	if st := bearerGet(t, o, "/v1/admin/clients", good, nil); st != http.StatusOK {
		t.Fatalf("valid client token on the admin API: %d", st)
	}
	parts := strings.Split(good, ".")
	var header map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &header)

	forge := func(alg string, sign func(string) string) string {
		header["alg"] = alg
		h, _ := json.Marshal(header)
		input := base64.RawURLEncoding.EncodeToString(h) + "." + parts[1]
		return input + "." + sign(input)
	}
	none := forge("none", func(string) string { return "" })
	resp, err := http.Get(o.s.URL + "/oauth2/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hs256 := forge("HS256", func(in string) string {
		m := hmac.New(sha256.New, jwks)
		m.Write([]byte(in))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	})
	for name, tok := range map[string]string{"alg=none": none, "HS256": hs256} {
		if st := bearerGet(t, o, "/v1/admin/clients", tok, nil); st != http.StatusUnauthorized {
			t.Errorf("%s token on the admin API: %d", name, st)
		}
		if st := bearerGet(t, o, "/oauth2/userinfo", tok, nil); st != http.StatusUnauthorized {
			t.Errorf("%s token on userinfo: %d", name, st)
		}
	}

	// A token of organisation A on organisation B.
	b := oauthOnboard(t, o.s, "Beta "+oauthWord())
	bClient := b.createClient(nil)
	if st := bearerGet(t, o, "/v1/admin/clients", good,
		map[string]string{"X-Org-Domain": b.slug}); st != http.StatusForbidden {
		t.Errorf("A's token with B's X-Org-Domain: %d", st)
	}
	st := bearerGet(t, o, "/v1/admin/clients/"+bClient.ID, good, nil)
	if st != http.StatusNotFound {
		t.Errorf("A's token reading B's client: %d", st)
	}

	// Introspection of another client's token.
	if got := introspectAs(t, b, bClient, good); got["active"] != false {
		t.Errorf("B's client introspected A's token: %v", got)
	}
}
