package e2e_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestDatabaseRestart takes the server's PostgreSQL database away under
// it, the way a restart or a failover does, without touching the
// PostgreSQL service other tests share. First every pooled connection is
// terminated while clients keep calling: the server must go on serving
// with new connections. Then the database refuses connections for a
// while: the probes and the API must say 503, never 500, and the server
// must come back by itself once the database does, with the sessions
// issued before still valid.
func TestDatabaseRestart(t *testing.T) {
	r := newRestartRig(t)

	t.Run("terminated connections", func(t *testing.T) {
		r.t = t
		r.underLoad(func() {
			if n := r.terminateBackends(); n == 0 {
				t.Fatal("the server held no connection to terminate")
			}
		})
		r.recovered()
	})

	t.Run("outage", func(t *testing.T) {
		r.t = t
		r.allowConnections(false)
		r.terminateBackends()
		r.unavailable()
		r.allowConnections(true)
		r.recovered()
	})

	logs := r.srv.Logs()
	if strings.Contains(logs, "panic") || strings.Contains(logs, "goroutine ") {
		t.Errorf("the server log shows a panic:\n%s", logs)
	}
	// A lost database is a warning, not an unexpected failure.
	if strings.Contains(logs, `msg="request failed"`) ||
		strings.Contains(logs, `msg="oauth request failed"`) ||
		!strings.Contains(logs, `msg="database unavailable"`) {
		t.Errorf("the server log does not report the lost database as a warning:\n%s", logs)
	}
	if r.srv.Exited() {
		t.Error("the server exited while the database was away")
	}
}

// restartRig is a server on its own PostgreSQL database with an owner's
// session, the owner's credentials and a client_credentials client.
type restartRig struct {
	t        *testing.T
	srv      *e2e.Server
	name     string
	admin    *sql.DB
	owner    *http.Client
	email    string
	password string
	client   e2e.Client
}

// restartDeadline bounds every wait for the server to serve again.
const restartDeadline = 30 * time.Second

func newRestartRig(t *testing.T) *restartRig {
	t.Helper()
	dbURL := dbtest.URL(t, db.Postgres)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &restartRig{t: t, name: strings.TrimPrefix(u.Path, "/")}
	r.admin, err = sql.Open("pgx", dbtest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the database itself, so this runs before the drop;
	// r.t may be a subtest that has ended by then.
	t.Cleanup(func() {
		r.t = t
		r.allowConnections(true)
		_ = r.admin.Close()
	})
	r.srv = e2e.Start(t, e2e.Options{DatabaseURL: dbURL, Env: map[string]string{
		"RATE_MAX": "100000", "AUTH_RATE_MAX": "100000", "TOKEN_RATE_MAX": "100000",
		"PASSWORD_HASH_MEMORY_KIB": "19456", "PASSWORD_HASH_ITERATIONS": "1",
		"PASSWORD_HASH_PARALLELISM": "1"}})
	r.email, r.password, _ = onboardOrganisation(t, r.srv.URL)
	r.owner = newBrowser(t)
	if status := login(t, r.owner, r.srv.URL, r.email, r.password); status != 200 {
		t.Fatalf("login: %d", status)
	}
	r.client = e2e.SeedClient(t, dbURL)
	r.expect(r.profile(), 200)
	r.expect(r.token(), 200)
	return r
}

// terminateBackends ends every connection to the server's database, as a
// database restart does, waits until their processes are gone and returns
// how many there were.
func (r *restartRig) terminateBackends() int {
	r.t.Helper()
	var n, alive int
	err := r.admin.QueryRow(`SELECT count(*),
		count(*) FILTER (WHERE NOT pg_terminate_backend(pid, 5000))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
		r.name).Scan(&n, &alive)
	if err != nil || alive > 0 {
		r.t.Fatalf("terminate backends: %d of %d left, %v", alive, n, err)
	}
	return n
}

// allowConnections opens or closes the server's database to new
// connections.
func (r *restartRig) allowConnections(allow bool) {
	setting := "false"
	if allow {
		setting = "true"
	}
	_, err := r.admin.Exec(`ALTER DATABASE "` + r.name + `" ALLOW_CONNECTIONS ` + setting)
	if err != nil {
		r.t.Errorf("allow connections %s: %v", setting, err)
	}
}

// underLoad runs act while clients keep reading with the old session and
// asking for client_credentials tokens, so connections die in use and
// just after use, and checks that no answer was a 500.
func (r *restartRig) underLoad(act func()) {
	r.t.Helper()
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		mu    sync.Mutex
		calls []reply
	)
	for i := range 6 {
		wg.Go(func() {
			for !stop.Load() {
				a := r.profile()
				if i%3 == 2 {
					a = r.token()
				}
				mu.Lock()
				calls = append(calls, a)
				mu.Unlock()
			}
		})
	}
	finish := func() {
		stop.Store(true)
		wg.Wait()
	}
	defer finish() // also when act fails the test
	time.Sleep(300 * time.Millisecond)
	act()
	time.Sleep(time.Second)
	finish()
	statuses := map[int]int{}
	for _, a := range calls {
		r.expect(a, 200, 503)
		statuses[a.status]++
	}
	r.t.Logf("answers across the restart, by status: %v", statuses)
}

// recovered waits until the server serves from the database again: ready,
// the old session valid, a new login and a client_credentials token.
func (r *restartRig) recovered() {
	r.t.Helper()
	r.eventually("readiness", func() reply { return r.get("/health/ready") })
	r.eventually("old session", r.profile)
	r.eventually("login", func() reply {
		return r.send(newBrowser(r.t), http.MethodPost, "/v1/auth/login",
			map[string]string{"email": r.email, "password": r.password})
	})
	r.eventually("client_credentials", r.token)
}

// unavailable checks the answers while the database refuses connections.
func (r *restartRig) unavailable() {
	r.t.Helper()
	ready := r.eventuallyStatus("readiness", 503, func() reply {
		return r.get("/health/ready")
	})
	var body struct {
		Status string
		Checks map[string]struct{ Status, Error string }
	}
	decode(r.t, ready, &body)
	if body.Status != "error" || body.Checks["database"].Status != "error" ||
		body.Checks["database"].Error == "" {
		r.t.Errorf("readiness during the outage: %s", ready.raw)
	}
	r.expect(r.get("/health"), 200)
	dbProbe := r.expect(r.get("/health/db"), 503)
	if !strings.Contains(string(dbProbe.raw), `"database":"disconnected"`) {
		r.t.Errorf("/health/db during the outage: %s", dbProbe.raw)
	}

	r.wantUnavailable("old session", r.profile())
	r.wantUnavailable("login", r.send(newBrowser(r.t), http.MethodPost, "/v1/auth/login",
		map[string]string{"email": r.email, "password": r.password}))
	tok := r.expect(r.token(), 503)
	if !strings.Contains(string(tok.raw), `"error":"temporarily_unavailable"`) ||
		tok.header.Get("Retry-After") == "" {
		r.t.Errorf("token during the outage: %v %s", tok.header, tok.raw)
	}
	r.noLeak(tok)
	if r.sessionCookieGone() {
		r.t.Error("the outage cleared the session cookie")
	}
}

// wantUnavailable checks a /v1 answer is the contract's 503 problem.
func (r *restartRig) wantUnavailable(what string, a reply) {
	r.t.Helper()
	r.expect(a, 503)
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	decode(r.t, a, &p)
	if p.Type != "https://api.cerberus-iam.com/errors/service-unavailable" ||
		p.Status != 503 || p.Detail != "Service temporarily unavailable" ||
		a.header.Get("Content-Type") != "application/problem+json" ||
		a.header.Get("Retry-After") == "" {
		r.t.Errorf("%s during the outage: %v %s", what, a.header, a.raw)
	}
	r.noLeak(a)
}

// noLeak fails when an answer names the database or shows a trace.
func (r *restartRig) noLeak(a reply) {
	r.t.Helper()
	body := strings.ToLower(string(a.raw))
	for _, s := range []string{r.name, "sqlstate", "pgx", "postgres", "goroutine",
		".go:", "panic", "connect"} {
		if strings.Contains(body, s) {
			r.t.Errorf("answer shows %q: %s", s, a.raw)
		}
	}
}

func (r *restartRig) sessionCookieGone() bool {
	u, _ := url.Parse(r.srv.URL)
	return len(r.owner.Jar.Cookies(u)) == 0
}

// eventually retries call while it answers 503 until it answers 200; any
// other answer, a 500 above all, fails the test at once.
func (r *restartRig) eventually(what string, call func() reply) reply {
	r.t.Helper()
	return r.eventuallyStatus(what, 200, call)
}

// eventuallyStatus retries call while it answers 503 until it answers
// want, for at most restartDeadline.
func (r *restartRig) eventuallyStatus(what string, want int, call func() reply) reply {
	r.t.Helper()
	deadline := time.Now().Add(restartDeadline)
	for {
		a := call()
		switch {
		case a.status == want:
			return a
		case a.status != http.StatusServiceUnavailable:
			r.t.Fatalf("%s: status %d, want %d or 503: %s", what, a.status, want, a.raw)
		case time.Now().After(deadline):
			r.t.Fatalf("%s: still 503 after %s: %s", what, restartDeadline, a.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expect reports an answer whose status is not one of want.
func (r *restartRig) expect(a reply, want ...int) reply {
	r.t.Helper()
	for _, w := range want {
		if a.status == w {
			return a
		}
	}
	r.t.Errorf("%s: status %d, want one of %v: %s", a.what, a.status, want, a.raw)
	return a
}

// reply is one answer of the server.
type reply struct {
	what   string
	status int
	header http.Header
	raw    []byte
}

func (r *restartRig) profile() reply {
	return r.send(r.owner, http.MethodGet, "/v1/me/profile", nil)
}

func (r *restartRig) get(path string) reply {
	return r.send(http.DefaultClient, http.MethodGet, path, nil)
}

// token asks for a client_credentials access token.
func (r *restartRig) token() reply {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/oauth2/token",
		strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(r.client.ClientID, r.client.Secret)
	return r.do(http.DefaultClient, req)
}

// send makes a JSON request; it is safe for concurrent use.
func (r *restartRig) send(c *http.Client, method, path string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return r.do(c, req)
}

func (r *restartRig) do(c *http.Client, req *http.Request) reply {
	a := reply{what: req.Method + " " + req.URL.Path}
	if c.Timeout == 0 {
		cc := *c
		cc.Timeout = restartDeadline
		c = &cc
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Errorf("%s: %v", a.what, err)
		return a
	}
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, resp.Header
	a.raw, _ = io.ReadAll(resp.Body)
	return a
}

func decode(t *testing.T, a reply, dst any) {
	t.Helper()
	if err := json.Unmarshal(a.raw, dst); err != nil {
		t.Errorf("%s: body %q: %v", a.what, a.raw, err)
	}
}
