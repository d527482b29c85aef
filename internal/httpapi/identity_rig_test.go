package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// testClock is a settable clock shared by the service, the recorder and
// the outbox.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// idRig is the identity routes over a real database, with a test clock,
// cheap password hashing and no rate limits unless asked.
type idRig struct {
	t       *testing.T
	d       *db.DB
	clock   *testClock
	keys    *crypto.KeyRing
	svc     *identity.Service
	metrics *telemetry.Metrics
	handler http.Handler
}

type rigOption func(*identity.Options, map[string]ratelimit.Limiter)

func withLockout(n int) rigOption {
	return func(o *identity.Options, _ map[string]ratelimit.Limiter) { o.LockoutThreshold = n }
}

func withoutAutoVerify() rigOption {
	return func(o *identity.Options, _ map[string]ratelimit.Limiter) {
		o.OnboardAutoVerify = false
	}
}

func withLimit(class string, max int) rigOption {
	return func(_ *identity.Options, l map[string]ratelimit.Limiter) {
		// A day-long window, so that no clock-aligned boundary falls
		// inside a test.
		l[class] = ratelimit.NewMemory(class, 24*time.Hour, max, time.Now)
	}
}

func newIDRig(t *testing.T, d *db.DB, opts ...rigOption) *idRig {
	t.Helper()
	clock := &testClock{t: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)}
	if err := access.SyncCatalogue(context.Background(), d, clock.Now()); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := crypto.NewKeyRing(key)
	if err != nil {
		t.Fatal(err)
	}
	r := &idRig{t: t, d: d, clock: clock, keys: keys,
		metrics: telemetry.NewMetrics("test", "test")}
	o := identity.Options{DB: d, Keys: keys,
		Hasher: crypto.NewPasswordHasher(crypto.HashParams{MemoryKiB: 64, Iterations: 1,
			Parallelism: 1}, 4, 5*time.Second, nil),
		Outbox: mail.NewOutbox(d, keys, clock.Now), Events: event.NewRecorder(clock.Now),
		Authorizer: access.NewAuthorizer(d), Metrics: r.metrics, Now: clock.Now,
		OnboardAutoVerify: true, ForgotPasswordFloor: -1}
	limiters := map[string]ratelimit.Limiter{}
	for _, opt := range opts {
		opt(&o, limiters)
	}
	r.svc = identity.New(o)
	r.handler = r.pipeline(limiters, o.Authorizer)
	return r
}

func (r *idRig) pipeline(l map[string]ratelimit.Limiter, a *access.Authorizer) http.Handler {
	rt := httpapi.NewRouter(l, r.metrics)
	authn := &httpapi.Authenticator{Sessions: r.svc, Organisations: r.svc, Authorizer: a}
	(&httpapi.IdentityHandlers{Service: r.svc, Auth: authn}).Register(rt)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return httpapi.Pipeline(rt, httpapi.PipelineOptions{Logger: logger, BodyLimit: 1 << 20})
}

// answer is a response with its body decoded.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a *answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

func (a *answer) obj(key string) map[string]any {
	m, _ := a.body[key].(map[string]any)
	return m
}

// client is a browser: it keeps the session cookie and the CSRF token the
// server sends.
type client struct {
	rig    *idRig
	cookie string
	csrf   string
	noCSRF bool
}

func (r *idRig) client() *client { return &client{rig: r} }

// do sends a request; body is JSON-encoded unless it is a string.
func (c *client) do(method, path string, body any) *answer {
	c.rig.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.rig.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "identity-test/1.0")
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: identity.DefaultCookieName, Value: c.cookie})
	}
	if c.csrf != "" && !c.noCSRF {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	w := httptest.NewRecorder()
	c.rig.handler.ServeHTTP(w, req)
	return c.keep(w.Result())
}

func (c *client) keep(resp *http.Response) *answer {
	a := &answer{status: resp.StatusCode, header: resp.Header}
	a.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(a.raw, &a.body)
	for _, ck := range resp.Cookies() {
		if ck.Name != identity.DefaultCookieName {
			continue
		}
		c.cookie = ck.Value
		if ck.MaxAge < 0 {
			c.cookie = ""
		}
	}
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		c.csrf = tok
	}
	return a
}

// expect fails unless the answer has status and, for problems, detail.
func (a *answer) expect(t *testing.T, status int, detail string) *answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if detail != "" && a.str("detail") != detail {
		t.Fatalf("detail %q, want %q: %s", a.str("detail"), detail, a.raw)
	}
	return a
}

// fieldErrors returns field → codes of a problem.
func (a *answer) fieldErrors() map[string][]string {
	out := map[string][]string{}
	list, _ := a.body["errors"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		f := m["field"].(string)
		out[f] = append(out[f], m["code"].(string))
	}
	return out
}

// messages returns the messages of a problem's field errors.
func (a *answer) messages() []string {
	var out []string
	list, _ := a.body["errors"].([]any)
	for _, it := range list {
		out = append(out, it.(map[string]any)["message"].(string))
	}
	return out
}

const goodPassword = "Sup3r$ecret"

// account is an onboarded organisation with its signed-in owner.
type account struct {
	*client
	email, password, userID, orgID, slug string
}

// onboard creates an organisation whose owner is signed in.
func (r *idRig) onboard(org, email string) *account {
	r.t.Helper()
	c := r.client()
	a := c.do("POST", "/v1/auth/onboard", map[string]any{"organisationName": org,
		"email": email, "firstName": "Ada", "lastName": "Lovelace",
		"password": goodPassword}).expect(r.t, 201, "")
	return &account{client: c, email: identity.NormalizeEmail(email),
		password: goodPassword, userID: a.obj("user")["id"].(string),
		orgID: a.obj("organisation")["id"].(string),
		slug:  a.obj("organisation")["slug"].(string)}
}

// login signs a fresh client in.
func (r *idRig) login(email, password string, extra ...string) (*client, *answer) {
	c := r.client()
	body := map[string]any{"email": email, "password": password}
	if len(extra) > 0 {
		body["mfaToken"] = extra[0]
	}
	return c, c.do("POST", "/v1/auth/login", body)
}

// exec runs SQL on the rig's database.
func (r *idRig) exec(query string, args ...any) {
	r.t.Helper()
	if _, err := r.d.ExecContext(context.Background(), query, args...); err != nil {
		r.t.Fatalf("%s: %v", query, err)
	}
}

// count runs a COUNT query.
func (r *idRig) count(query string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.d.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// audits returns the event types of the audit rows about a user, oldest
// first.
func (r *idRig) audits(userID string) []string {
	r.t.Helper()
	rows, err := r.d.QueryContext(context.Background(), `SELECT event_type FROM audit_logs
		WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// auditMeta returns the metadata of the newest audit row of a type.
func (r *idRig) auditMeta(userID, typ string) map[string]any {
	r.t.Helper()
	var m map[string]any
	err := r.d.QueryRowContext(context.Background(), `SELECT metadata FROM audit_logs
		WHERE user_id = $1 AND event_type = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
		userID, typ).Scan(db.JSON(&m))
	if err != nil {
		r.t.Fatalf("audit %s: %v", typ, err)
	}
	return m
}

// queued is a mail of the outbox with its template data opened.
type queued struct {
	template string
	data     map[string]any
}

// mails returns the mails queued to an address, oldest first.
func (r *idRig) mails(to string) []queued {
	r.t.Helper()
	rows, err := r.d.QueryContext(context.Background(), `SELECT template, payload
		FROM email_outbox WHERE recipient = $1 ORDER BY created_at, id`, to)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		var payload string
		if err := rows.Scan(&q.template, &payload); err != nil {
			r.t.Fatal(err)
		}
		plain, err := r.keys.OpenString(payload)
		if err != nil {
			r.t.Fatal(err)
		}
		_ = json.Unmarshal([]byte(plain), &q.data)
		out = append(out, q)
	}
	return out
}

// lastToken returns the token of the newest mail of a template to an
// address.
func (r *idRig) lastToken(to, template string) string {
	r.t.Helper()
	ms := r.mails(to)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].template == template {
			return ms[i].data["token"].(string)
		}
	}
	r.t.Fatalf("no %s mail to %s", template, to)
	return ""
}

// totpCode returns the code of secret at the rig's time plus offset.
func (r *idRig) totpCode(secret string, offset time.Duration) string {
	r.t.Helper()
	code, err := totp.GenerateCode(secret, r.clock.Now().Add(offset))
	if err != nil {
		r.t.Fatal(err)
	}
	return code
}

// enableMFA enrols TOTP for a signed-in client and returns the secret and
// the backup codes. The clock moves one step on so the next code is fresh.
func (r *idRig) enableMFA(c *client) (string, []string) {
	r.t.Helper()
	a := c.do("POST", "/v1/me/mfa/enable", nil).expect(r.t, 200, "")
	secret := a.str("secret")
	v := c.do("POST", "/v1/me/mfa/verify", map[string]any{"token": r.totpCode(secret, 0)}).
		expect(r.t, 200, "")
	var codes []string
	for _, x := range v.body["backupCodes"].([]any) {
		codes = append(codes, x.(string))
	}
	r.clock.Add(30 * time.Second)
	return secret, codes
}

// nullString reads a nullable text column of the user.
func (r *idRig) userColumn(userID, column string) sql.NullString {
	r.t.Helper()
	var v sql.NullString
	err := r.d.QueryRowContext(context.Background(), "SELECT "+column+
		" FROM users WHERE id = $1", userID).Scan(&v)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
