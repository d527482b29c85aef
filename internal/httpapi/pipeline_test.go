package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

type echo struct {
	Name string `json:"name"`
}

func newHandler(t *testing.T, logs io.Writer, limit int) http.Handler {
	t.Helper()
	lims := map[string]ratelimit.Limiter{
		// A day-long window: windows follow the clock, and a boundary
		// between requests would reset the count.
		httpapi.LimitDefault: ratelimit.NewMemory("default", 24*time.Hour, limit, time.Now),
	}
	rt := httpapi.NewRouter(lims, telemetry.NewMetrics("t", "c"))
	rt.Handle(http.MethodPost, "/v1/echo", func(w http.ResponseWriter, r *http.Request) error {
		var in echo
		if err := httpapi.DecodeJSON(r, &in); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"name": in.Name,
			"ip": httpapi.ClientIP(r.Context())})
		return nil
	})
	rt.Handle(http.MethodGet, "/v1/fail", func(http.ResponseWriter, *http.Request) error {
		return errors.New("database password=hunter2 exploded")
	})
	rt.Handle(http.MethodGet, "/v1/panic", func(http.ResponseWriter, *http.Request) error {
		panic("boom")
	})
	rt.Handle(http.MethodGet, "/oauth2/thing", func(http.ResponseWriter, *http.Request) error {
		return nil
	}, httpapi.OAuthStyle())
	logger := telemetry.NewLogger(telemetry.LogOptions{Env: "production", Level: "debug",
		Output: logs})
	return httpapi.Pipeline(rt, httpapi.PipelineOptions{Logger: logger, BodyLimit: 1024,
		TrustProxy: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		CORS:       httpapi.NewCORS([]string{"https://admin.example.com"}, false, nil)})
}

func do(h http.Handler, method, path, body string, hdr map[string]string) *http.Response {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "10.1.2.3:5555"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func problem(t *testing.T, resp *http.Response) httpapi.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	var p httpapi.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func TestPipelineAnswersProblems(t *testing.T) {
	var logs strings.Builder
	h := newHandler(t, &logs, 100)
	cases := []struct {
		method, path, body string
		status             int
		detail             string
	}{
		{"GET", "/v1/nowhere", "", 404, "Route not found"},
		{"DELETE", "/v1/echo", "", 405, "Method not allowed"},
		{"POST", "/v1/echo", `{"name":`, 400, "Malformed JSON body"},
		{"POST", "/v1/echo", `{"nme":"x"}`, 400, "Invalid input"},
		{"POST", "/v1/echo", `{"name":1}`, 400, "Invalid input"},
		{"POST", "/v1/echo", `{"name":"` + strings.Repeat("x", 2000) + `"}`, 413,
			"Request body too large"},
		{"GET", "/v1/fail", "", 500, "An unexpected error occurred"},
		{"GET", "/v1/panic", "", 500, "An unexpected error occurred"},
	}
	for _, c := range cases {
		resp := do(h, c.method, c.path, c.body, jsonCT)
		p := problem(t, resp)
		if resp.StatusCode != c.status || p.Detail != c.detail || p.Status != c.status ||
			p.Instance != c.path || p.RequestID == "" ||
			p.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s %s: %d %+v", c.method, c.path, resp.StatusCode, p)
		}
	}
	if resp := do(h, "DELETE", "/v1/echo", "", nil); resp.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Error("secret from an error reached the log")
	}
	if !strings.Contains(logs.String(), `"stack"`) {
		t.Error("panic stack not logged")
	}
}

func TestPipelineOAuthPathsAnswerOAuthErrors(t *testing.T) {
	h := newHandler(t, io.Discard, 100)
	resp := do(h, "POST", "/oauth2/thing", "", nil)
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 405 || body["error"] != "invalid_request" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestPipelineRateLimit(t *testing.T) {
	h := newHandler(t, io.Discard, 2)
	for i := range 2 {
		if resp := do(h, "POST", "/v1/echo", `{"name":"a"}`, jsonCT); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp := do(h, "POST", "/v1/echo", `{"name":"a"}`, jsonCT)
	p := problem(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" ||
		p.Detail != httpapi.RateLimitDetail {
		t.Fatalf("%d %+v", resp.StatusCode, p)
	}
}

func TestPipelineClientIPAndRequestID(t *testing.T) {
	h := newHandler(t, io.Discard, 100)
	hdr := map[string]string{"Content-Type": "application/json",
		"X-Forwarded-For": "198.51.100.7, 10.9.9.9", "X-Request-Id": "abc.DEF_1-2"}
	resp := do(h, "POST", "/v1/echo", `{"name":"a"}`, hdr)
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body["ip"] != "198.51.100.7" {
		t.Errorf("client ip %q, want the first untrusted hop", body["ip"])
	}
	if resp.Header.Get("X-Request-Id") != "abc.DEF_1-2" {
		t.Errorf("valid inbound request id not kept")
	}
	hdr["X-Request-Id"] = "bad id!"
	resp = do(h, "POST", "/v1/echo", `{"name":"a"}`, hdr)
	if id := resp.Header.Get("X-Request-Id"); id == "bad id!" || len(id) != 36 {
		t.Errorf("invalid inbound request id kept: %q", id)
	}
}

func TestPipelineSecurityHeaders(t *testing.T) {
	h := newHandler(t, io.Discard, 100)
	resp := do(h, "GET", "/v1/nowhere", "", nil)
	want := map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer", "X-XSS-Protection": "0",
		"Content-Security-Policy": httpapi.DefaultCSP, "Cache-Control": "no-store",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" {
		t.Error("server identification headers present")
	}
}

func TestPipelineCORS(t *testing.T) {
	h := newHandler(t, io.Discard, 100)
	pre := map[string]string{"Origin": "https://admin.example.com",
		"Access-Control-Request-Method": "POST"}
	resp := do(h, "OPTIONS", "/v1/echo", "", pre)
	if resp.StatusCode != 204 ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://admin.example.com" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	pre["Origin"] = "https://evil.example.com"
	resp = do(h, "OPTIONS", "/v1/echo", "", pre)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("refused origin got CORS headers")
	}
	resp = do(h, "GET", "/.well-known/openid-configuration", "",
		map[string]string{"Origin": "https://any.example"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("discovery must allow any origin")
	}
	_ = apperr.Invalid
}
