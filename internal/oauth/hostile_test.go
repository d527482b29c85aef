package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// hostileIDs are client_id values no client can have: PostgreSQL refuses
// NUL and invalid UTF-8 in a text parameter, so they must never reach a
// query.
var hostileIDs = []string{"\x00", "app\x00", "\xff", "a\xc3", "tab\tid"}

// postRaw posts form to h, with basicID as the Basic user name when it is
// not empty, and returns the protocol error code ("" on success). Any
// other error fails the test: it would be a 500.
func postRaw(t *testing.T, h func(http.ResponseWriter, *http.Request) error,
	form url.Values, basicID string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token",
		strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		r.SetBasicAuth(url.QueryEscape(basicID), "secret")
	}
	err := h(httptest.NewRecorder(), r)
	if err == nil {
		return ""
	}
	oe := AsError(err)
	if oe == nil {
		t.Fatalf("not a protocol error (a 500): %v", err)
	}
	return oe.Code
}

func TestHostileClientIDsAreUnknownClients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		k := newClientKey(t, "EdDSA")
		jc := e.jwtClient(t, k)
		for _, id := range hostileIDs {
			grant := url.Values{"grant_type": {GrantClientCredentials}}
			if got := postRaw(t, e.p.TokenEndpoint, grant, id); got != CodeInvalidClient {
				t.Errorf("Basic id %q: %q, want %s", id, got, CodeInvalidClient)
			}
			form := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {id}}
			if got := postRaw(t, e.p.TokenEndpoint, form, ""); got != CodeInvalidClient {
				t.Errorf("client_id %q: %q, want %s", id, got, CodeInvalidClient)
			}
			claims := e.claimsFor(jc, testIssuer)
			claims["iss"], claims["sub"] = id, id
			form = assertionForm(k.assertion(t, claims), credentialsGrant)
			if got := postRaw(t, e.p.TokenEndpoint, form, ""); got != CodeInvalidClient {
				t.Errorf("assertion iss %q: %q, want %s", id, got, CodeInvalidClient)
			}
			out := e.authorize(t, url.Values{"client_id": {id},
				"redirect_uri": {"https://app.example.test/cb"}}, nil)
			if out.Page == nil || out.Page.Code != CodeInvalidClient {
				t.Errorf("authorize client_id %q: %+v", id, out)
			}
			plan, err := e.p.PlanLogout(ctx, url.Values{"client_id": {id}}, nil)
			if err != nil || plan.Page == nil {
				t.Errorf("logout client_id %q: %+v %v", id, plan, err)
			}
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			r.SetBasicAuth(url.QueryEscape(id), "secret")
			if e.p.ClientAllows(r, "https://spa.example.test", false) {
				t.Errorf("CORS for Basic id %q allowed", id)
			}
		}
	})
}

func TestHostileAssertionJTIIsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k := newClientKey(t, "EdDSA")
		c := e.jwtClient(t, k)
		for _, jti := range []string{"a\x00b", "a\x01b"} {
			claims := e.claimsFor(c, testIssuer)
			claims["jti"] = jti
			form := assertionForm(k.assertion(t, claims), credentialsGrant)
			if got := postRaw(t, e.p.TokenEndpoint, form, ""); got != CodeInvalidClient {
				t.Errorf("jti %q: %q, want %s", jti, got, CodeInvalidClient)
			}
		}
	})
}

func TestHostileClientListQuery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.confidential(t, func(in *ClientCreate) { in.Name = ptr("Orders app") })
		list := func(q string) ([]*Client, error) {
			out, _, err := e.p.ListClients(ctx, e.org, ClientQuery{Q: q, Page: 1, Limit: 10})
			return out, err
		}
		for q, want := range map[string]int{"ORDERS": 1, "orders_app": 0, "%": 0, "o%s": 0} {
			if got, err := list(q); err != nil || len(got) != want {
				t.Errorf("q %q: %d clients (%v), want %d", q, len(got), err, want)
			}
		}
		for _, q := range []string{"a\x00", "\xff"} {
			if _, err := list(q); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("q %q: %v, want invalid input", q, err)
			}
		}
	})
}

func TestHostileAuthorizeText(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, _ := e.confidential(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)
		for _, tc := range []struct{ param, value, wantState string }{
			{"state", "a\x00b", ""}, {"state", "a\xffb", ""}, {"state", "a\nb", ""},
			{"nonce", "n\x00", "xyz"}, {"nonce", "n\xc3", "xyz"},
			{"login_hint", "ada\x00@acme.test", "xyz"},
		} {
			v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
				"response_type": {"code"}, "state": {"xyz"},
				"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
			v.Set(tc.param, tc.value)
			q := queryOf(t, e.authorize(t, v, s).Redirect)
			if q.Get("error") != CodeInvalidRequest || q.Get("state") != tc.wantState ||
				q.Has("state") != (tc.wantState != "") {
				t.Errorf("%s %q: answered %v, want invalid_request with state %q",
					tc.param, tc.value, q, tc.wantState)
			}
		}

		// Text outside ASCII is plain text and comes back unchanged.
		v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
			"response_type": {"code"}, "state": {"état ✓"}, "nonce": {"nonce ✓"},
			"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
		out := e.authorize(t, v, s)
		id := strings.TrimPrefix(out.Redirect, testIssuer+"/oauth2/consent?request_id=")
		if _, err := e.p.DecideConsent(context.Background(), id, s, true); err != nil {
			t.Fatal(err)
		}
		q := queryOf(t, e.authorize(t, url.Values{"request_id": {id}}, s).Redirect)
		if q.Get("code") == "" || q.Get("state") != "état ✓" {
			t.Errorf("unicode state: %v", q)
		}
	})
}

func TestHostilePreflightOrigins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.confidential(t, func(in *ClientCreate) {
			in.AllowedOrigins = ptr([]string{"https://spa.example.test",
				"https://other.example.test:8443"})
		})
		preflight := func(origin string) bool {
			r := httptest.NewRequest(http.MethodOptions, "/oauth2/token", nil)
			return e.p.ClientAllows(r, origin, true)
		}
		for _, ok := range []string{"https://spa.example.test",
			"https://other.example.test:8443"} {
			if !preflight(ok) {
				t.Errorf("preflight from %s refused", ok)
			}
		}
		for _, bad := range []string{"https://spa_example_test", "https://spa.example.tes%",
			"https://%", "%", "_", "https://spa.example.test\x00", "https://spa.example.\xff",
			"https://SPA.example.test", "https://spa.example.test/"} {
			if preflight(bad) {
				t.Errorf("preflight from %q allowed", bad)
			}
		}
	})
}
