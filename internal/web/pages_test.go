package web

import (
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/oauth"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

const rigPassword = "Sup3r$ecret"

type rigClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *rigClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *rigClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pageRig serves the hosted pages over a real database, with a test clock
// and a lockout threshold of 3.
type pageRig struct {
	d     *db.DB
	clock *rigClock
	svc   *identity.Service
	srv   *httptest.Server
}

func newPageRig(t *testing.T, d *db.DB) *pageRig {
	t.Helper()
	clock := &rigClock{t: time.Now().UTC().Truncate(time.Second)}
	ctx := context.Background()
	if err := access.SyncCatalogue(ctx, d, clock.Now()); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := crypto.NewKeyRing(key)
	if err != nil {
		t.Fatal(err)
	}
	metrics := telemetry.NewMetrics("test", "test")
	events := event.NewRecorder(clock.Now)
	authz := access.NewAuthorizer(d)
	svc := identity.New(identity.Options{DB: d, Keys: keys,
		Hasher: crypto.NewPasswordHasher(crypto.HashParams{MemoryKiB: 64, Iterations: 1,
			Parallelism: 1}, 4, 5*time.Second, nil),
		Outbox: mail.NewOutbox(d, keys, clock.Now), Events: events, Authorizer: authz,
		Metrics: metrics, Now: clock.Now, OnboardAutoVerify: true, ForgotPasswordFloor: -1,
		LockoutThreshold: 3})
	provider := oauth.New(oauth.Deps{DB: d, Ring: keys, Events: events, Authorizer: authz,
		Metrics: metrics, Now: clock.Now}, oauth.Config{Issuer: "http://issuer.test"})
	rt := httpapi.NewRouter(nil, metrics)
	(&Pages{Identity: svc, OAuth: provider, Ring: keys, FormKey: crypto.RandomBytes(32),
		Issuer: "http://issuer.test", AdminOrigin: "http://admin.test",
		Now: clock.Now}).Register(rt)
	h := httpapi.Pipeline(rt, httpapi.PipelineOptions{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BodyLimit: 1 << 20})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &pageRig{d: d, clock: clock, svc: svc, srv: srv}
}

// onboard creates an organisation and its owner, who is signed in.
func (r *pageRig) onboard(t *testing.T, email string) *identity.OnboardResult {
	t.Helper()
	res, err := r.svc.Onboard(context.Background(), identity.OnboardInput{
		OrganisationName: "Org " + email, Email: email, FirstName: "Ada",
		LastName: "Lovelace", Password: rigPassword})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// enrol turns TOTP on for the onboarded user and returns the secret; the
// clock moves a step on so the next code is fresh.
func (r *pageRig) enrol(t *testing.T, on *identity.OnboardResult) string {
	t.Helper()
	ctx := context.Background()
	s := on.Session
	setup, err := r.svc.BeginTOTP(ctx, s.OrganisationID, s.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ConfirmTOTP(ctx, s.OrganisationID, s.UserID, s.ID,
		r.code(t, setup.Secret)); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(30 * time.Second)
	return setup.Secret
}

func (r *pageRig) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failures returns the user's failed-login counter and whether a lock is
// set.
func (r *pageRig) failures(t *testing.T, userID string) (int, bool) {
	t.Helper()
	var n int
	var locked sql.NullString
	if err := r.d.QueryRowContext(context.Background(), `SELECT failed_login_count,
		CAST(locked_at AS TEXT) FROM users WHERE id = $1`, userID).Scan(&n, &locked); err != nil {
		t.Fatal(err)
	}
	return n, locked.Valid
}

// browser keeps cookies and does not follow redirects.
type browser struct {
	t   *testing.T
	rig *pageRig
	c   *http.Client
}

func (r *pageRig) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, rig: r, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// setCookie stores a cookie for the server as if it had been set earlier.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.rig.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.rig.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

var (
	csrfInput   = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)
	secretCode  = regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`)
	qrImage     = regexp.MustCompile(`<img class="qr" src="([^"]*)"`)
	otpauthLink = regexp.MustCompile(`<a href="([^"]*)">Open in an authenticator app`)
)

func field(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page lacks %s:\n%s", re, page)
	}
	return m[1]
}

// passwordStep signs in with the password at the hosted login page; the
// user has MFA, so the answer is the code form.
func (b *browser) passwordStep(email string) string {
	b.t.Helper()
	_, page := b.do(http.MethodGet, "/auth/login?prompt=login", nil)
	resp, page := b.do(http.MethodPost, "/auth/login", url.Values{
		"_csrf": {field(b.t, csrfInput, page)}, "email": {email},
		"password": {rigPassword}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/auth/login/mfa"`) {
		b.t.Fatalf("password step: %d\n%s", resp.StatusCode, page)
	}
	return field(b.t, csrfInput, page)
}

// TestHostedSecondFactorEndsTheSessionSentWithIt checks that a sign-in
// finished at the code form deletes the session cookie that came with it,
// as the password-only sign-in does: a session fixed before sign-in never
// lives on next to the new one.
func TestHostedSecondFactorEndsTheSessionSentWithIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newPageRig(t, d)
		on := r.onboard(t, "ada@example.com")
		secret := r.enrol(t, on)
		b := r.browser(t)
		b.setCookie(identity.DefaultCookieName, on.SessionToken)
		csrf := b.passwordStep("ada@example.com")
		resp, page := b.do(http.MethodPost, "/auth/login/mfa", url.Values{"_csrf": {csrf},
			"code": {r.code(t, secret)}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("code step: %d\n%s", resp.StatusCode, page)
		}
		ctx := context.Background()
		if _, err := r.svc.SessionByToken(ctx, on.SessionToken); err == nil {
			t.Error("the session sent with the sign-in survived it")
		}
		var fresh string
		for _, c := range resp.Cookies() {
			if c.Name == identity.DefaultCookieName {
				fresh = c.Value
			}
		}
		if _, err := r.svc.SessionByToken(ctx, fresh); err != nil {
			t.Errorf("new session: %v", err)
		}
	})
}

// setupPage loads the MFA set-up page and returns it with its secret.
func (b *browser) setupPage() (string, string) {
	b.t.Helper()
	resp, page := b.do(http.MethodGet, "/auth/mfa/setup", nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("set-up page: %d\n%s", resp.StatusCode, page)
	}
	return page, field(b.t, secretCode, page)
}

// TestSetupPageShowsTheQRCode checks that the QR image and the otpauth
// link of the MFA set-up page survive the template's URL filter and that
// the page's CSP lets the image load.
func TestSetupPageShowsTheQRCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newPageRig(t, d)
		on := r.onboard(t, "ada@example.com")
		b := r.browser(t)
		b.setCookie(identity.DefaultCookieName, on.SessionToken)
		resp, page := b.do(http.MethodGet, "/auth/mfa/setup", nil)
		secret := field(t, secretCode, page)
		if qr := field(t, qrImage, page); !strings.HasPrefix(qr, "data:image/png;base64,") {
			t.Errorf("QR image source %.60q", qr)
		}
		link := field(t, otpauthLink, page)
		if !strings.HasPrefix(link, "otpauth://totp/Cerberus:ada@example.com?secret="+secret) {
			t.Errorf("authenticator link %q", link)
		}
		if strings.Contains(page, "ZgotmplZ") {
			t.Errorf("the template filtered a URL:\n%s", page)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp,
			"img-src 'self' https: data:") {
			t.Errorf("CSP %q blocks the QR image", csp)
		}
	})
}

// TestSetupPageKeepsTheSecret checks that the secret the user scanned
// stays the same across a reload and a mistyped code, so the right code
// from the authenticator app then turns MFA on.
func TestSetupPageKeepsTheSecret(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newPageRig(t, d)
		on := r.onboard(t, "ada@example.com")
		b := r.browser(t)
		b.setCookie(identity.DefaultCookieName, on.SessionToken)
		page, secret := b.setupPage()
		if _, again := b.setupPage(); again != secret {
			t.Errorf("reload replaced the secret %s with %s", secret, again)
		}
		csrf := field(t, csrfInput, page)
		resp, page := b.do(http.MethodPost, "/auth/mfa/setup", url.Values{"_csrf": {csrf},
			"code": {"000000"}})
		if resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(page, "Invalid verification code") {
			t.Fatalf("wrong code: %d\n%s", resp.StatusCode, page)
		}
		if again := field(t, secretCode, page); again != secret {
			t.Errorf("a wrong code replaced the secret %s with %s", secret, again)
		}
		resp, page = b.do(http.MethodPost, "/auth/mfa/setup", url.Values{"_csrf": {csrf},
			"code": {r.code(t, secret)}})
		if resp.StatusCode != http.StatusOK || strings.Count(page, "<li><code>") != 10 {
			t.Fatalf("right code for the first secret: %d\n%s", resp.StatusCode, page)
		}
	})
}

// TestCodeFormRefusesMalformedCodesWithoutCounting checks that an empty or
// malformed code at the sign-in code form is refused as invalid input, as
// the JSON login refuses a malformed mfaToken, without counting toward
// lockout; a wrong code of the right form still counts.
func TestCodeFormRefusesMalformedCodesWithoutCounting(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newPageRig(t, d)
		on := r.onboard(t, "ada@example.com")
		r.enrol(t, on)
		b := r.browser(t)
		csrf := b.passwordStep("ada@example.com")
		for _, code := range []string{"", "  ", "12345", "1234567", "abc", "ZZZZ-ZZZZ",
			"1234 5678"} {
			resp, page := b.do(http.MethodPost, "/auth/login/mfa", url.Values{
				"_csrf": {csrf}, "code": {code}})
			if resp.StatusCode != http.StatusBadRequest ||
				!strings.Contains(page, `action="/auth/login/mfa"`) ||
				!strings.Contains(page, "code") || strings.Contains(page, "Invalid MFA") {
				t.Errorf("code %q: %d\n%s", code, resp.StatusCode, page)
			}
		}
		if n, locked := r.failures(t, on.User.ID); n != 0 || locked {
			t.Fatalf("malformed codes counted: %d failures, locked %v", n, locked)
		}
		resp, page := b.do(http.MethodPost, "/auth/login/mfa", url.Values{
			"_csrf": {csrf}, "code": {"000000"}})
		if resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(page, "Invalid MFA token") {
			t.Errorf("wrong code: %d\n%s", resp.StatusCode, page)
		}
		if n, _ := r.failures(t, on.User.ID); n != 1 {
			t.Errorf("a wrong code counted %d failures", n)
		}
	})
}

// TestPasswordResetEndsPendingCodeForms checks that a password reset
// between the two steps of a hosted sign-in makes the pending code form
// (its cerb_mfa cookie) useless: whoever knew the old password must not
// finish signing in with it.
func TestPasswordResetEndsPendingCodeForms(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newPageRig(t, d)
		on := r.onboard(t, "ada@example.com")
		secret := r.enrol(t, on)
		b := r.browser(t)
		csrf := b.passwordStep("ada@example.com")

		ctx := context.Background()
		var token string
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			token, _, err = identity.IssueAccountToken(ctx, tx, on.User.ID,
				identity.PurposePasswordReset, r.clock.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.svc.ResetPassword(ctx, identity.ResetInput{Token: token,
			Password: "N3w$ecret!"}); err != nil {
			t.Fatal(err)
		}
		resp, page := b.do(http.MethodPost, "/auth/login/mfa", url.Values{"_csrf": {csrf},
			"code": {r.code(t, secret)}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("the code form of before the reset signed in: %s",
				resp.Header.Get("Location"))
		}
		for _, c := range resp.Cookies() {
			if c.Name == identity.DefaultCookieName && c.Value != "" {
				t.Fatalf("session cookie set: %d\n%s", resp.StatusCode, page)
			}
		}
	})
}
