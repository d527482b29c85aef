package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cerberus-iam/cerberus/internal/e2e"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

func postJSON(t *testing.T, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestBadJSONInputGetsProblems sends malformed, unknown-field, wrongly
// typed and oversized bodies to a JSON endpoint of the real binary.
func TestBadJSONInputGetsProblems(t *testing.T) {
	s := e2e.Start(t, e2e.Options{Env: map[string]string{"BODY_LIMIT_BYTES": "2048"}})
	cases := []struct {
		name, body string
		status     int
		detail     string
		field      string
	}{
		{"malformed", `{"email":`, 400, "Malformed JSON body", ""},
		{"trailing", `{"email":"a@b.c","password":"x"} []`, 400,
			"Malformed JSON body: unexpected data after the value", ""},
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`, 400,
			"Invalid input", "admin"},
		{"wrong type", `{"email":"a@b.c","password":12345678}`, 400, "Invalid input",
			"password"},
		{"over limit", `{"email":"` + strings.Repeat("a", 4096) + `"}`, 413,
			"Request body too large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, raw := postJSON(t, s.URL+"/v1/auth/login", c.body, nil)
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("not a problem body: %s", raw)
			}
			if resp.StatusCode != c.status || p.Detail != c.detail ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("field not named: %s", raw)
			}
		})
	}
}

// TestRateLimitSharedThroughRedis runs two servers on one Redis and
// splits requests between them: exactly the configured maximum succeeds.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	const redisURL = "redis://127.0.0.1:6379/9"
	opts, _ := redis.ParseURL(redisURL)
	rc := redis.NewClient(opts)
	defer rc.Close()
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	env := map[string]string{"REDIS_URL": redisURL, "RATE_MAX": "10",
		"RATE_WINDOW_SEC": "86400"}
	a := e2e.Start(t, e2e.Options{Env: env})
	b := e2e.Start(t, e2e.Options{Env: env})
	allowed, limited := 0, 0
	for i := range 30 {
		base := a.URL
		if i%2 == 1 {
			base = b.URL
		}
		resp, err := http.Get(base + "/v1/me/profile")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		case http.StatusUnauthorized:
			allowed++
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	}
	if allowed != 10 || limited != 20 {
		t.Fatalf("allowed %d, limited %d; want 10 and 20", allowed, limited)
	}
}

// TestSIGTERMDrainsInFlightRequest starts a request whose body arrives
// slowly, sends SIGTERM, and checks: /health turns 503, new connections are
// then refused, the slow request completes, and the process exits 0.
func TestSIGTERMDrainsInFlightRequest(t *testing.T) {
	s := e2e.Start(t, e2e.Options{Env: map[string]string{"SHUTDOWN_TIMEOUT_SEC": "10"}})
	body := `{"organisationName":"Drain Ltd","email":"drain@example.com",` +
		`"firstName":"Dee","lastName":"Rain","password":"Correct-Horse-9"}`
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/auth/onboard HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:half])

	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/health 503", func() bool {
		resp, err := http.Get(s.URL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	waitFor(t, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request cut: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request answered %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := s.Wait(ctx); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// remoteLogs collects what the server ships to LOG_REMOTE_URL.
type remoteLogs struct {
	mu   sync.Mutex
	body strings.Builder
	auth string
}

func (l *remoteLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.body.Write(b)
	l.auth = r.Header.Get("Authorization")
	l.mu.Unlock()
}

func (l *remoteLogs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.body.String()
}

// TestSecretsNeverLogged drives requests carrying every kind of secret at
// debug level with remote export on, then searches both the local log and
// what the collector received.
func TestSecretsNeverLogged(t *testing.T) {
	remote := &remoteLogs{}
	collector := httptest.NewServer(remote)
	defer collector.Close()
	smtp := mailtest.Start(t)
	s := e2e.Start(t, e2e.Options{Env: map[string]string{
		"LOG_LEVEL": "trace", "LOG_REMOTE_URL": collector.URL, "LOG_REMOTE_API_KEY": "rk-123",
		"LOG_REMOTE_FLUSH_INTERVAL_MS": "100", "SMTP_HOST": smtp.Host(),
		"SMTP_PORT": fmt.Sprint(smtp.Port()), "EMAIL_FROM": "Id <id@example.com>",
	}})
	password := "Sup3r-Secret-Passw0rd"
	b := newAccountBrowser(t, s.URL)
	res := b.call("POST", "/v1/auth/onboard", map[string]any{"organisationName": "Logs Ltd",
		"email": "logs@example.com", "firstName": "Lo", "lastName": "Gs", "password": password})
	if res.status != http.StatusCreated {
		t.Fatalf("onboard %d %s", res.status, res.raw)
	}
	cookie := ""
	for _, c := range b.hc.Jar.Cookies(mustURL(t, s.URL)) {
		cookie = c.Value
	}
	b.call("POST", "/v1/me/password", map[string]any{"currentPassword": "wrong-" + password,
		"newPassword": "An0ther-Secret-Pass"})
	b.call("POST", "/v1/auth/forgot-password", map[string]any{"email": "logs@example.com"})
	resetToken := smtp.Last(t, "logs@example.com").Token()
	b.call("POST", "/v1/auth/reset-password", map[string]any{"token": resetToken,
		"password": "Y3t-Another-Secret"})
	bearer := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	apiKey := "ck_test_abcd1234_" + strings.Repeat("k", 43)
	for _, h := range []string{"Bearer " + bearer, "Bearer " + apiKey} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/me/profile?token=qs-secret-1", nil)
		req.Header.Set("Authorization", h)
		req.Header.Set("Cookie", "cerb_sid="+cookie)
		req.Header.Set("X-CSRF-Token", "csrf-secret-2")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if code := s.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	secrets := []string{password, "wrong-" + password, "An0ther-Secret-Pass",
		"Y3t-Another-Secret", resetToken, cookie, bearer, apiKey, "qs-secret-1",
		"csrf-secret-2", s.Env["SECRET_ENCRYPTION_KEY"], "rk-123"}
	local, shipped := s.Logs(), remote.text()
	if shipped == "" || !strings.Contains(shipped, "requestId") {
		t.Fatalf("nothing shipped to the collector")
	}
	for _, secret := range secrets {
		if secret == "" {
			t.Fatal("a secret of the test is empty")
		}
		if strings.Contains(local, secret) {
			t.Errorf("secret %q in the local log", secret)
		}
		if strings.Contains(shipped, secret) {
			t.Errorf("secret %q shipped to the collector", secret)
		}
	}
	if remote.auth != "Bearer rk-123" {
		t.Errorf("collector saw Authorization %q", remote.auth)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
