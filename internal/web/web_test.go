package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

func testPages(t *testing.T) *Pages {
	t.Helper()
	ring, err := crypto.NewKeyRing(crypto.RandomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pages{Ring: ring, FormKey: crypto.RandomBytes(32),
		Now: func() time.Time { return time.Now().UTC() }}
	p.parse()
	return p
}

func TestErrorPageHeadersAndEscaping(t *testing.T) {
	p := testPages(t)
	w := httptest.NewRecorder()
	w.Header().Set("X-Request-Id", "req-1")
	p.errorPage(w, httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil),
		http.StatusBadRequest, "invalid_client", "<script>alert(1)</script>")
	body := w.Body.String()
	if w.Code != 400 || w.Header().Get("Content-Security-Policy") != pageCSP ||
		w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("error page: %d %v", w.Code, w.Header())
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, "req-1") ||
		!strings.Contains(body, "invalid_client") {
		t.Fatalf("error page body:\n%s", body)
	}
}

func TestFormPostPageAllowsOnlyTheRedirectOrigin(t *testing.T) {
	p := testPages(t)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
	p.outcome(w, r, &oauth.Outcome{FormPost: &oauth.FormPost{
		Action: "https://app.example.test/cb", Fields: url.Values{"code": {"c1"},
			"state": {`"><x`}}}}, http.StatusFound)
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "form-action 'self' https://app.example.test") {
		t.Fatalf("form_post CSP %q", csp)
	}
	body := w.Body.String()
	if !strings.Contains(body, `action="https://app.example.test/cb"`) ||
		!strings.Contains(body, `src="/auth/assets/formpost.js"`) ||
		strings.Contains(body, `"><x`) || strings.Contains(body, "<script>") {
		t.Fatalf("form_post body:\n%s", body)
	}
}

func TestFormTokenNeedsItsCookie(t *testing.T) {
	p := testPages(t)
	w := httptest.NewRecorder()
	token := p.formToken(w, httptest.NewRequest(http.MethodGet, "/auth/login", nil))
	cookie := w.Result().Cookies()[0]
	if cookie.Name != formCookie || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("form cookie %+v", cookie)
	}
	post := func(withCookie bool, tok string) error {
		r := httptest.NewRequest(http.MethodPost, "/auth/login",
			strings.NewReader(url.Values{"_csrf": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withCookie {
			r.AddCookie(cookie)
		}
		_ = r.ParseForm()
		return p.checkFormToken(r)
	}
	if err := post(true, token); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	if post(false, token) == nil || post(true, "forged") == nil {
		t.Fatal("token accepted without its cookie or forged")
	}
}

func TestMFACookieIsSealedAndExpires(t *testing.T) {
	p := testPages(t)
	w := httptest.NewRecorder()
	st := mfaState{UserID: "user-0123456789", Target: "https://x"}
	if err := p.setMFAState(w, st); err != nil {
		t.Fatal(err)
	}
	c := w.Result().Cookies()[0]
	if strings.Contains(c.Value, "user-0123456789") {
		t.Fatal("cerb_mfa is not sealed")
	}
	r := httptest.NewRequest(http.MethodPost, "/auth/login/mfa", nil)
	r.AddCookie(c)
	if st, ok := p.mfaStateOf(r); !ok || st.UserID != "user-0123456789" {
		t.Fatalf("state %+v %v", st, ok)
	}
	p.Now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	if _, ok := p.mfaStateOf(r); ok {
		t.Fatal("expired cerb_mfa accepted")
	}
}

func TestBrandCSSAcceptsOnlyAColour(t *testing.T) {
	p := testPages(t)
	for in, want := range map[string]string{"#AA00ff": "#AA00ff", "red;}body{": "#3b4cca"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/auth/assets/brand.css?"+
			url.Values{"c": {in}}.Encode(), nil)
		if err := p.brandCSS(w, r); err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); !strings.Contains(got, want) {
			t.Errorf("brand.css for %q: %s", in, got)
		}
	}
}

func TestUntrustedAuthorizeErrorIsJSONForNonBrowsers(t *testing.T) {
	p := testPages(t)
	out := &oauth.Outcome{Page: &oauth.Error{Code: "invalid_client",
		Description: "Unknown or inactive client", Status: http.StatusBadRequest}}
	for accept, wantJSON := range map[string]bool{"application/json": true,
		"text/html,application/xhtml+xml": false, "": false} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		p.outcome(w, r, out, http.StatusFound)
		isJSON := strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")
		if w.Code != 400 || isJSON != wantJSON {
			t.Errorf("Accept %q: %d %s", accept, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

func TestDevicePageModes(t *testing.T) {
	p := testPages(t)
	cases := []struct {
		name string
		v    view
		want []string
	}{
		{"entry", view{Title: "Connect a device", CSRF: "tok", UserCode: "bcdf",
			Error: "Invalid or expired code"},
			[]string{`name="_csrf" value="tok"`, `id="user_code"`, `value="bcdf"`,
				"Invalid or expired code"}},
		{"confirm", view{Title: "Connect a device", CSRF: "tok",
			Device: &oauth.DeviceView{UserCode: "BCDF-GHJK", ClientName: "<TV>",
				Scopes: []oauth.ScopeDescription{{Name: "openid",
					Description: "Sign you in"}}}},
			[]string{`value="BCDF-GHJK"`, "&lt;TV&gt;", "Sign you in",
				`name="decision" value="allow"`, `name="decision" value="deny"`}},
		{"approved", view{Title: "Connect a device", Result: "approved"},
			[]string{`id="device-done"`, "Your device is connected"}},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		p.render(w, httptest.NewRequest(http.MethodGet, "/device", nil), 200, "device", tc.v)
		body := w.Body.String()
		if w.Header().Get("Content-Security-Policy") != pageCSP {
			t.Errorf("%s: CSP %q", tc.name, w.Header().Get("Content-Security-Policy"))
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q:\n%s", tc.name, s, body)
			}
		}
	}
}

// TestLostDatabaseIsAnUnavailablePage checks that a page whose database
// went away (a restart, an outage) is a 503 with Retry-After, not a 500,
// and shows nothing of the cause.
func TestLostDatabaseIsAnUnavailablePage(t *testing.T) {
	p := testPages(t)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
	p.unexpected(w, r, fmt.Errorf("read client: %w", &pgconn.PgError{Code: "57P01",
		Message: "terminating connection due to administrator command"}))
	body := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(body, "Service temporarily unavailable") ||
		strings.Contains(body, "administrator") || strings.Contains(body, "57P01") {
		t.Fatalf("page: %d %v\n%s", w.Code, w.Header(), body)
	}
}
