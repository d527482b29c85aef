package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

// admRig is the whole application, wired as serve wires it, behind an
// httptest server, over a fresh database of one engine. Workers are not
// started: mail stays in the outbox for the tests to read.
type admRig struct {
	t   *testing.T
	db  *db.DB
	url string
	rt  *httpapi.Router
	svc *services
	// issuer is ISSUER_URL, the audience tokens for the admin API carry.
	issuer string
	// handler is the whole HTTP pipeline.
	handler http.Handler
}

// admPassword is the password of every account the tests create.
const admPassword = "Adm1n-Pass!word"

// eachEngine runs fn on a fresh application per engine.
func eachEngine(t *testing.T, fn func(t *testing.T, r *admRig), env ...string) {
	t.Helper()
	for _, e := range dbtest.Engines {
		t.Run(string(e), func(t *testing.T) { fn(t, newAdmRig(t, e, env...)) })
	}
}

func newAdmRig(t *testing.T, e db.Engine, extra ...string) *admRig {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	environ := append([]string{"NODE_ENV=test", "DATABASE_URL=" + dbtest.URL(t, e),
		"SECRET_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key),
		"PASSWORD_HASH_MEMORY_KIB=19456", "PASSWORD_HASH_ITERATIONS=1",
		"PASSWORD_HASH_PARALLELISM=1", "RATE_MAX=1000000", "AUTH_RATE_MAX=1000000",
		"TOKEN_RATE_MAX=1000000", "LOG_LEVEL=error", "METRICS_ENABLED=false",
		"WEBHOOK_ALLOW_PRIVATE_TARGETS=true"}, extra...)
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Environ: environ, Dir: t.TempDir()}
	cfg, _ := loadConfig(env)
	if cfg == nil {
		t.Fatal("test configuration refused")
	}
	s := &server{cfg: cfg, env: env}
	s.setupTelemetry()
	ctx := context.Background()
	if err := s.setupDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	svc, err := s.buildServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt := httpapi.NewRouter(svc.limiters, s.metrics)
	s.registerRoutes(rt, svc)
	h := httpapi.Pipeline(rt, httpapi.PipelineOptions{Logger: s.log,
		BodyLimit: cfg.BodyLimitBytes})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &admRig{t: t, db: s.db, url: ts.URL, rt: rt, svc: svc, issuer: cfg.IssuerURL,
		handler: h}
}

// admClient is a caller: a browser with its session cookie and CSRF
// token, or a bearer credential, with an optional X-Org-Domain.
type admClient struct {
	r      *admRig
	cookie string
	csrf   string
	org    string
	bearer string
	// id is the user behind the client, when there is one.
	id string
}

// reply is an answer with its JSON body decoded.
type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (c *admClient) call(method, path string, body any) *reply {
	c.r.t.Helper()
	req := c.request(method, path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	rep := &reply{status: resp.StatusCode, header: resp.Header}
	rep.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(rep.raw, &rep.body)
	for _, ck := range resp.Cookies() {
		if ck.Name == identity.DefaultCookieName {
			c.cookie = ck.Value
		}
	}
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		c.csrf = tok
	}
	return rep
}

func (c *admClient) request(method, path string, body any) *http.Request {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.r.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.r.url+path, rd)
	if err != nil {
		c.r.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: identity.DefaultCookieName, Value: c.cookie})
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.org != "" {
		req.Header.Set("X-Org-Domain", c.org)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	return req
}

// want fails unless the answer has status and, when detail is not empty,
// that problem detail.
func (rep *reply) want(t *testing.T, status int, detail string) *reply {
	t.Helper()
	if rep.status != status {
		t.Fatalf("status %d, want %d: %s", rep.status, status, rep.raw)
	}
	if detail != "" && rep.str("detail") != detail {
		t.Fatalf("detail %q, want %q: %s", rep.str("detail"), detail, rep.raw)
	}
	return rep
}

// wantField fails unless the answer is a 400 with a field error on field.
func (rep *reply) wantField(t *testing.T, field, code string) *reply {
	t.Helper()
	rep.want(t, http.StatusBadRequest, "")
	errs, _ := rep.body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		if m["field"] == field && (code == "" || m["code"] == code) {
			return rep
		}
	}
	t.Fatalf("no %s error on %s: %s", code, field, rep.raw)
	return rep
}

func (rep *reply) str(key string) string {
	s, _ := rep.body[key].(string)
	return s
}

func (rep *reply) obj(key string) map[string]any {
	m, _ := rep.body[key].(map[string]any)
	return m
}

// list returns the data array of a list answer.
func (rep *reply) list() []map[string]any {
	raw, _ := rep.body["data"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// ids returns the ids of a list answer.
func (rep *reply) ids() []string {
	var out []string
	for _, m := range rep.list() {
		id, _ := m["id"].(string)
		out = append(out, id)
	}
	return out
}

// admOrg is an onboarded organisation with its owner signed in.
type admOrg struct {
	id, slug string
	owner    *admClient
	roles    map[string]string // role ids by slug
}

// onboard creates an organisation named name whose owner is signed in.
func (r *admRig) onboard(name string) *admOrg {
	r.t.Helper()
	c := &admClient{r: r}
	email := strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "-" +
		db.NewID()[24:] + "@example.com"
	rep := c.call(http.MethodPost, "/v1/auth/onboard", map[string]any{
		"organisationName": name, "email": email, "firstName": "Owner",
		"lastName": name, "password": admPassword})
	rep.want(r.t, http.StatusCreated, "")
	o := &admOrg{id: rep.obj("organisation")["id"].(string),
		slug: rep.obj("organisation")["slug"].(string), roles: map[string]string{}}
	c.org, c.id = o.slug, rep.obj("user")["id"].(string)
	o.owner = c
	for _, role := range rep.body["roles"].([]any) {
		m := role.(map[string]any)
		o.roles[m["slug"].(string)] = m["id"].(string)
	}
	return o
}

// member creates a user of o holding roleIDs (none: no role at all, by
// removing the default one) and signs them in.
func (o *admOrg) member(first string, roleIDs ...string) *admClient {
	t := o.owner.r.t
	t.Helper()
	email := strings.ToLower(first) + "-" + db.NewID()[24:] + "@example.com"
	body := map[string]any{"email": email, "firstName": first, "lastName": "Member",
		"password": admPassword}
	if len(roleIDs) > 0 {
		body["roleIds"] = roleIDs
	}
	rep := o.owner.call(http.MethodPost, "/v1/admin/users", body).want(t, 201, "")
	id := rep.str("id")
	if len(roleIDs) == 0 {
		o.owner.call(http.MethodDelete, "/v1/admin/users/"+id+"/roles",
			map[string]any{"roleId": o.roles["staff"]}).want(t, 200, "")
	}
	c := o.owner.r.login(email)
	c.org, c.id = o.slug, id
	return c
}

// login signs a user in and returns the browser.
func (r *admRig) login(email string) *admClient {
	r.t.Helper()
	c := &admClient{r: r}
	c.call(http.MethodPost, "/v1/auth/login", map[string]any{"email": email,
		"password": admPassword}).want(r.t, http.StatusOK, "")
	return c
}

// apiKey creates a key for the caller with scopes and returns a client
// using it.
func (c *admClient) apiKey(scopes ...string) *admClient {
	t := c.r.t
	t.Helper()
	rep := c.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{
		"name": "test key", "scopes": scopes}).want(t, http.StatusCreated, "")
	return &admClient{r: c.r, bearer: rep.str("key"), id: c.id}
}

// query builds a path with a query string.
func query(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

// count runs a COUNT query on the application's database.
func (r *admRig) count(q string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		r.t.Fatalf("count: %v", err)
	}
	return n
}

// audits counts the audit rows of an organisation with an event type.
func (r *admRig) audits(orgID, eventType string) int {
	return r.count(`SELECT COUNT(*) FROM audit_logs WHERE organisation_id = $1
		AND event_type = $2`, orgID, eventType)
}

// mails lists the templates queued for a recipient, oldest first.
func (r *admRig) mails(to string) []string {
	r.t.Helper()
	rows, err := r.db.QueryContext(context.Background(), `SELECT template FROM email_outbox
		WHERE recipient = $1 ORDER BY created_at, id`, to)
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

// exec runs a statement on the application's database.
func (r *admRig) exec(q string, args ...any) {
	r.t.Helper()
	if _, err := r.db.ExecContext(context.Background(), q, args...); err != nil {
		r.t.Fatalf("exec: %v", err)
	}
}

// mailData opens the data of the newest mail of a template queued for a
// recipient.
func (r *admRig) mailData(to, template string) map[string]any {
	r.t.Helper()
	var payload string
	err := r.db.QueryRowContext(context.Background(), `SELECT payload FROM email_outbox
		WHERE recipient = $1 AND template = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
		to, template).Scan(&payload)
	if err != nil {
		r.t.Fatalf("no %s mail to %s: %v", template, to, err)
	}
	raw, err := r.svc.keys.OpenString(payload)
	if err != nil {
		r.t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		r.t.Fatal(err)
	}
	return data
}

// clientToken creates a client-credentials client with scopes and returns
// a caller holding one of its access tokens for the admin API.
func (o *admOrg) clientToken(scopes ...string) *admClient {
	r := o.owner.r
	r.t.Helper()
	c := o.owner.call(http.MethodPost, "/v1/admin/clients", map[string]any{
		"name": "Machine", "clientType": "confidential",
		"grantTypes": []string{"client_credentials"}, "scopes": scopes}).
		want(r.t, http.StatusCreated, "")
	form := url.Values{"grant_type": {"client_credentials"},
		"scope": {strings.Join(scopes, " ")}, "resource": {r.issuer}}
	tok := r.tokenRequest(c.str("clientId"), c.str("clientSecret"), form)
	if tok.status != http.StatusOK {
		r.t.Fatalf("client credentials: %d %s", tok.status, tok.raw)
	}
	return &admClient{r: r, bearer: tok.str("access_token")}
}

// tokenRequest posts a form to /oauth2/token with client_secret_basic.
func (r *admRig) tokenRequest(clientID, secret string, form url.Values) *reply {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+"/oauth2/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	rep := &reply{status: resp.StatusCode, header: resp.Header}
	rep.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(rep.raw, &rep.body)
	return rep
}
