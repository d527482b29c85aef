package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier"

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sessionPrincipal returns the principal of a fresh full session of user.
func (e *env) sessionPrincipal(t *testing.T, user, org string) *access.Principal {
	id := e.addSession(t, user, org, []string{"pwd"})
	return &access.Principal{Kind: access.KindSession, OrganisationID: org, UserID: user,
		SessionID: id}
}

// authorize runs the authorization endpoint and returns its outcome.
func (e *env) authorize(t *testing.T, v url.Values, s *access.Principal) *Outcome {
	t.Helper()
	out, err := e.p.Authorize(context.Background(), v, s)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return out
}

// code runs a consented authorization for c and returns the code.
func (e *env) code(t *testing.T, c *Client, s *access.Principal, scope string) string {
	t.Helper()
	v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
		"response_type": {"code"}, "scope": {scope}, "state": {"xyz"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	out := e.authorize(t, v, s)
	if strings.Contains(out.Redirect, "/oauth2/consent") {
		id := strings.TrimPrefix(out.Redirect, testIssuer+"/oauth2/consent?request_id=")
		if _, err := e.p.DecideConsent(context.Background(), id, s, true); err != nil {
			t.Fatal(err)
		}
		out = e.authorize(t, url.Values{"request_id": {id}}, s)
	}
	u, err := url.Parse(out.Redirect)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("no code in outcome %+v", out)
	}
	if u.Query().Get("iss") != testIssuer || u.Query().Get("state") != "xyz" {
		t.Fatalf("response lacks iss or state: %s", out.Redirect)
	}
	return u.Query().Get("code")
}

// token posts form to the token endpoint with Basic authentication.
func (e *env) token(t *testing.T, c *Client, secret string, form url.Values) (int,
	map[string]any) {
	t.Helper()
	return e.post(t, e.p.TokenEndpoint, c, secret, form)
}

func (e *env) post(t *testing.T, h func(http.ResponseWriter, *http.Request) error,
	c *Client, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
	} else if c != nil {
		form.Set("client_id", c.ClientID)
		r = httptest.NewRequest(http.MethodPost, "/oauth2/token",
			strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	body := map[string]any{}
	if err := h(w, r); err != nil {
		oe := AsError(err)
		if oe == nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return oe.Status, map[string]any{"error": oe.Code}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

func exchange(c *Client, code string) url.Values {
	return url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
}

func TestCodeFlowRefreshAndReuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		c, secret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		code := e.code(t, c, s, "openid profile email offline_access")

		status, body := e.token(t, c, secret, exchange(c, code))
		if status != 200 || body["id_token"] == nil || body["refresh_token"] == nil {
			t.Fatalf("code exchange: %d %v", status, body)
		}
		at := body["access_token"].(string)
		if _, _, err := e.p.verifyAccess(ctx, at); err != nil {
			t.Fatalf("issued access token does not verify: %v", err)
		}

		// A replayed code fails and kills what the first exchange issued.
		if status, body := e.token(t, c, secret, exchange(c, code)); status != 400 ||
			body["error"] != CodeInvalidGrant {
			t.Fatalf("code replay: %d %v", status, body)
		}
		e.p.states.forget(jtiOf(t, at))
		if _, _, err := e.p.verifyAccess(ctx, at); err == nil {
			t.Fatal("access token survived a code replay")
		}

		code = e.code(t, c, s, "openid offline_access")
		_, body = e.token(t, c, secret, exchange(c, code))
		rt := body["refresh_token"].(string)
		refresh := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}
		status, body = e.token(t, c, secret, refresh)
		if status != 200 || body["refresh_token"] == nil {
			t.Fatalf("refresh: %d %v", status, body)
		}
		next := body["refresh_token"].(string)

		// Within 5 s of the rotation: refused, no further effect.
		if status, _ := e.token(t, c, secret, refresh); status != 400 {
			t.Fatalf("reuse within grace: %d", status)
		}
		e.clk.advance(6e9)
		if status, _ := e.token(t, c, secret, refresh); status != 400 {
			t.Fatalf("reuse after grace: %d", status)
		}
		// The family is now revoked: the successor fails too.
		status, body = e.token(t, c, secret, url.Values{"grant_type": {GrantRefreshToken},
			"refresh_token": {next}})
		if status != 400 || body["error"] != CodeInvalidGrant {
			t.Fatalf("successor after reuse: %d %v", status, body)
		}
		var n int
		_ = d.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs
			WHERE event_type = 'oauth2.refresh_token_reuse_detected'`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d reuse audit rows, want 1", n)
		}
	})
}

func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c accessClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.JTI
}

func TestConcurrentRefreshHasOneWinner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		_, body := e.token(t, c, secret, exchange(c, e.code(t, c, s, "openid offline_access")))
		form := url.Values{"grant_type": {GrantRefreshToken},
			"refresh_token": {body["refresh_token"].(string)}}
		const n = 8
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for range n {
			wg.Go(func() {
				st, _ := e.token(t, c, secret, url.Values{"grant_type": form["grant_type"],
					"refresh_token": form["refresh_token"]})
				statuses <- st
			})
		}
		wg.Wait()
		close(statuses)
		wins := 0
		for st := range statuses {
			if st == 200 {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent refreshes succeeded, want exactly 1", wins)
		}
	})
}

func TestAuthorizeHostileRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, _ := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		base := func() url.Values {
			return url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
				"response_type": {"code"}, "code_challenge": {challenge(verifier)},
				"code_challenge_method": {"S256"}}
		}
		redirected := func(mod func(url.Values), code string) {
			t.Helper()
			v := base()
			mod(v)
			out := e.authorize(t, v, s)
			u, _ := url.Parse(out.Redirect)
			if got := u.Query().Get("error"); got != code {
				t.Errorf("%v: error %q, want %q (%+v)", v, got, code, out)
			}
		}
		redirected(func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
			CodeInvalidRequest)
		redirected(func(v url.Values) { v.Set("code_challenge_method", "plain") },
			CodeInvalidRequest)
		redirected(func(v url.Values) { v.Del("code_challenge_method") }, CodeInvalidRequest)
		redirected(func(v url.Values) { v.Set("scope", "openid admin:everything") },
			CodeInvalidScope)
		redirected(func(v url.Values) { v.Set("response_type", "token") },
			CodeUnsupportedResponseType)
		redirected(func(v url.Values) { v.Set("prompt", "none login") }, CodeInvalidRequest)
		redirected(func(v url.Values) { v.Set("resource", "https://other.test/") },
			CodeInvalidTarget)
		redirected(func(v url.Values) { v.Set("request", "x") }, CodeRequestNotSupported)
		for _, bad := range []string{"https://APP.example.test/cb", "https://app.example.test/cb/",
			"https://app.example.test/cb?x=1", "https://app.example.test/./cb",
			"https://u@app.example.test/cb", "https://app.example.test/cb#f"} {
			v := base()
			v.Set("redirect_uri", bad)
			if out := e.authorize(t, v, s); out.Page == nil {
				t.Errorf("redirect_uri %q accepted: %+v", bad, out)
			}
		}
	})
}

func TestCodeMisuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, nil)
		other, otherSecret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		code := e.code(t, c, s, "openid")
		if st, _ := e.token(t, other, otherSecret, exchange(c, code)); st != 400 {
			t.Fatalf("code of another client: %d", st)
		}
		f := exchange(c, code)
		f.Set("redirect_uri", "https://app.example.test/other")
		if st, _ := e.token(t, c, secret, f); st != 400 {
			t.Fatalf("another redirect_uri: %d", st)
		}
		f = exchange(c, code)
		f.Del("code_verifier")
		if st, b := e.token(t, c, secret, f); st != 400 || b["error"] != CodeInvalidGrant {
			t.Fatalf("missing verifier: %d %v", st, b)
		}
		if st, b := e.token(t, c, "wrong-secret", exchange(c, code)); st != 401 ||
			b["error"] != CodeInvalidClient {
			t.Fatalf("bad secret: %d %v", st, b)
		}
		if st, _ := e.token(t, c, secret, exchange(c, code)); st != 200 {
			t.Fatalf("valid exchange after failed attempts: %d", st)
		}
	})
}

// A used code presented by a client it was not issued to is refused like any
// unknown code; only the owner's replay revokes what the code issued.
func TestCodeReplayByAnotherClientRevokesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		c, secret := e.confidential(t, nil)
		other, otherSecret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		code := e.code(t, c, s, "openid")
		_, body := e.token(t, c, secret, exchange(c, code))
		at := body["access_token"].(string)

		st, b := e.token(t, other, otherSecret, exchange(c, code))
		if st != 400 || b["error"] != CodeInvalidGrant {
			t.Fatalf("used code from another client: %d %v", st, b)
		}
		e.p.states.forget(jtiOf(t, at))
		if _, _, err := e.p.verifyAccess(ctx, at); err != nil {
			t.Fatalf("another client's replay revoked the owner's token: %v", err)
		}
		if n := e.auditCount(t, "oauth2.token_revoked"); n != 0 {
			t.Fatalf("%d revocation audit rows, want 0", n)
		}
	})
}

func TestClientAllowsOrigins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, func(in *ClientCreate) {
			in.AllowedOrigins = ptr([]string{"https://spa.example.test"})
		})
		req := func(origin string, basic bool) bool {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			if basic {
				r.SetBasicAuth(c.ClientID, secret)
			}
			return e.p.ClientAllows(r, origin, !basic)
		}
		if !req("https://spa.example.test", true) || !req("https://spa.example.test", false) {
			t.Error("allowed origin refused")
		}
		if req("https://evil.example.test", true) || req("https://evil.example.test", false) {
			t.Error("unknown origin allowed")
		}
	})
}

func TestAuditTrailOfAFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		_, body := e.token(t, c, secret, exchange(c, e.code(t, c, s, "openid offline_access")))
		e.token(t, c, secret, url.Values{"grant_type": {GrantRefreshToken},
			"refresh_token": {body["refresh_token"].(string)}})
		e.post(t, e.p.RevokeEndpoint, c, secret,
			url.Values{"token": {body["access_token"].(string)}})
		for _, typ := range []string{"client.created", "oauth2.authorize",
			"oauth2.consent.granted", "oauth2.token_issued", "oauth2.token_refreshed",
			"oauth2.token_revoked"} {
			var n int
			_ = d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_logs
				WHERE event_type = $1 AND organisation_id = $2`, typ, e.org).Scan(&n)
			if n == 0 {
				t.Errorf("no %s audit row", typ)
			}
		}
	})
}

func TestPermissionScopesCannotEscalate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		staff := e.addUser(t, e.org, "staff@acme.test", "staff")
		actor := &access.Principal{Kind: access.KindSession, OrganisationID: e.org,
			UserID: staff}
		in := ClientCreate{Name: ptr("Ops"), ClientType: ptr(ClientConfidential),
			GrantTypes: ptr([]string{GrantClientCredentials})}
		in.Scopes = ptr([]string{"users:read"})
		if _, _, err := e.p.CreateClient(context.Background(), actor, in); err != nil {
			t.Fatalf("staff granting users:read, which it holds: %v", err)
		}
		in.Scopes = ptr([]string{"clients:delete"})
		_, _, err := e.p.CreateClient(context.Background(), actor, in)
		if !errors.Is(err, access.ErrCannotGrant) {
			t.Fatalf("staff granting clients:delete: %v, want %v", err, access.ErrCannotGrant)
		}
	})
}

// An actor that may update clients but lacks a client's permission scopes
// can neither take its secret nor open another way to its tokens.
func TestClientCredentialsCannotEscalate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		admin := &access.Principal{Kind: access.KindSession, OrganisationID: e.org,
			UserID: e.addUser(t, e.org, "admin@acme.test", "admin")}
		k := newClientKey(t, "EdDSA")
		keys := publicSet(t, k)
		mighty, _ := e.confidential(t, func(in *ClientCreate) {
			in.Scopes = ptr([]string{"openid", "*"})
			in.GrantTypes = ptr([]string{GrantAuthorizationCode, GrantClientCredentials})
		})
		keyed, _ := e.confidential(t, func(in *ClientCreate) {
			in.Scopes = ptr([]string{"openid", "*"})
			in.TokenEndpointAuthMethod = ptr(AuthPrivateKeyJWT)
			in.JWKS = &keys
		})
		if _, _, err := e.p.RotateSecret(ctx, admin, mighty.ID); !errors.Is(err,
			access.ErrCannotGrant) {
			t.Errorf("admin rotates the secret of a * client: %v, want %v", err,
				access.ErrCannotGrant)
		}
		other := publicSet(t, newClientKey(t, "EdDSA"))
		for name, tc := range map[string]struct {
			c  *Client
			in ClientPatch
		}{
			"add a grant": {mighty, ClientPatch{GrantTypes: patch.Of([]string{
				GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken})}},
			"add a redirect URI": {mighty, ClientPatch{RedirectURIs: patch.Of([]string{
				"https://app.example.test/cb", "https://evil.example.test/cb"})}},
			"switch the secret method": {mighty,
				ClientPatch{TokenEndpointAuthMethod: patch.Of(AuthSecretPost)}},
			"replace the keys": {keyed, ClientPatch{JWKS: patch.Of(other)}},
		} {
			_, err := e.p.UpdateClient(ctx, admin, tc.c.ID, tc.in)
			if !errors.Is(err, access.ErrCannotGrant) {
				t.Errorf("admin may %s of a * client: %v", name, err)
			}
		}

		// Changes that open nothing, or that drop the scopes the actor
		// lacks, are allowed.
		for name, in := range map[string]ClientPatch{
			"rename": {Name: patch.Of("Renamed")},
			"drop a redirect URI and *": {RedirectURIs: patch.Of([]string{}),
				GrantTypes: patch.Of([]string{GrantClientCredentials}),
				Scopes:     patch.Of([]string{"users:read"})},
		} {
			if _, err := e.p.UpdateClient(ctx, admin, mighty.ID, in); err != nil {
				t.Errorf("admin may not %s: %v", name, err)
			}
		}
		if _, _, err := e.p.RotateSecret(ctx, admin, mighty.ID); err != nil {
			t.Errorf("admin rotates the secret of a users:read client: %v", err)
		}
		if _, err := e.p.UpdateClient(ctx, e.owner, keyed.ID,
			ClientPatch{JWKS: patch.Of(other)}); err != nil {
			t.Errorf("owner replaces the keys of a * client: %v", err)
		}
	})
}

// Only an ID token names the session to end: an access token, signed by the
// same keys and carrying sid and aud too, is not an id_token_hint.
func TestRPLogoutHintMustBeAnIDToken(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		c, secret := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		_, body := e.token(t, c, secret, exchange(c, e.code(t, c, s, "openid")))
		plan, err := e.p.PlanLogout(ctx, url.Values{
			"id_token_hint": {body["id_token"].(string)}}, s)
		if err != nil || plan.Page != nil || plan.Confirm {
			t.Fatalf("ID token of the session as hint: %+v %v", plan, err)
		}
		plan, err = e.p.PlanLogout(ctx, url.Values{
			"id_token_hint": {body["access_token"].(string)}}, s)
		if err != nil || plan.Page == nil {
			t.Fatalf("access token as hint: %+v %v, want an error page", plan, err)
		}
	})
}
