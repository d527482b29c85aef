package httpapi_test

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// failingHandler serves /v1/fail and /oauth2/fail, both failing with the
// error of the current test.
func failingHandler(t *testing.T, logs io.Writer, err *error) http.Handler {
	t.Helper()
	lims := map[string]ratelimit.Limiter{httpapi.LimitDefault: ratelimit.NewMemory("default",
		time.Minute, 1000, time.Now)}
	rt := httpapi.NewRouter(lims, telemetry.NewMetrics("t", "c"))
	fail := func(http.ResponseWriter, *http.Request) error { return *err }
	rt.Handle(http.MethodGet, "/v1/fail", fail)
	rt.Handle(http.MethodPost, "/oauth2/fail", fail, httpapi.OAuthStyle())
	logger := telemetry.NewLogger(telemetry.LogOptions{Env: "production", Level: "debug",
		Output: logs})
	return httpapi.Pipeline(rt, httpapi.PipelineOptions{Logger: logger})
}

// lostDatabase lists the ways a database that restarted or went away
// shows up in a request.
var lostDatabase = map[string]error{
	"terminated": fmt.Errorf("read session: %w", &pgconn.PgError{Severity: "FATAL",
		Code: "57P01", Message: "terminating connection due to administrator command"}),
	"starting up": &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
	"bad conn":    fmt.Errorf("read user: %w", driver.ErrBadConn),
	"closed":      fmt.Errorf("insert token: %w", pgconn.ErrConnClosed),
}

func TestLostDatabaseIsUnavailable(t *testing.T) {
	var logs bytes.Buffer
	var cause error
	h := failingHandler(t, &logs, &cause)
	for name, err := range lostDatabase {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			cause = err
			resp := do(h, http.MethodGet, "/v1/fail", "", nil)
			var p httpapi.Problem
			raw := decodeBody(t, resp, &p)
			if resp.StatusCode != 503 || p.Status != 503 ||
				p.Type != httpapi.ProblemTypeBase+"service-unavailable" ||
				p.Detail != "Service temporarily unavailable" ||
				resp.Header.Get("Retry-After") != "1" ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("answer %d %v %s", resp.StatusCode, resp.Header, raw)
			}
			checkOneWarning(t, &logs, raw)
		})
	}
}

func TestLostDatabaseIsTemporarilyUnavailableOnOAuth(t *testing.T) {
	var logs bytes.Buffer
	var cause error
	h := failingHandler(t, &logs, &cause)
	for name, err := range lostDatabase {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			cause = err
			resp := do(h, http.MethodPost, "/oauth2/fail", "", nil)
			var body map[string]string
			raw := decodeBody(t, resp, &body)
			if resp.StatusCode != 503 || body["error"] != "temporarily_unavailable" ||
				resp.Header.Get("Retry-After") != "1" {
				t.Errorf("answer %d %v %s", resp.StatusCode, resp.Header, raw)
			}
			checkOneWarning(t, &logs, raw)
		})
	}
}

// TestPoolTimeoutIsUnavailableEverywhere covers a pool that stayed full:
// 503 on both error styles.
func TestPoolTimeoutIsUnavailableEverywhere(t *testing.T) {
	var logs bytes.Buffer
	cause := fmt.Errorf("read client: %w", db.ErrPoolTimeout)
	h := failingHandler(t, &logs, &cause)
	for _, path := range []string{"/v1/fail", "/oauth2/fail"} {
		method := http.MethodGet
		if strings.HasPrefix(path, "/oauth2") {
			method = http.MethodPost
		}
		resp := do(h, method, path, "", nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
}

// TestOtherErrorsStayUnexpected checks that the database classification
// turns nothing else into a 503.
func TestOtherErrorsStayUnexpected(t *testing.T) {
	var logs bytes.Buffer
	cause := fmt.Errorf("insert user: %w", &pgconn.PgError{Code: "42P01",
		Message: `relation "users" does not exist`})
	h := failingHandler(t, &logs, &cause)
	if resp := do(h, http.MethodGet, "/v1/fail", "", nil); resp.StatusCode != 500 {
		t.Errorf("/v1: %d", resp.StatusCode)
	}
	if resp := do(h, http.MethodPost, "/oauth2/fail", "", nil); resp.StatusCode != 500 {
		t.Errorf("/oauth2: %d", resp.StatusCode)
	}
}

func decodeBody(t *testing.T, resp *http.Response, dst any) string {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	return string(raw)
}

// checkOneWarning checks that the cause went to the log once, as a
// warning, and not to the client.
func checkOneWarning(t *testing.T, logs *bytes.Buffer, answer string) {
	t.Helper()
	var warnings, errorLines int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch {
		case rec["msg"] == "database unavailable" && rec["level"] == "WARN":
			warnings++
		case rec["level"] == "ERROR":
			errorLines++
		}
	}
	if warnings != 1 || errorLines != 0 {
		t.Errorf("%d warnings and %d errors in the log, want 1 and 0:\n%s", warnings,
			errorLines, logs.String())
	}
	for _, leak := range []string{"57P0", "administrator", "bad connection", "conn closed",
		"read ", "insert "} {
		if strings.Contains(answer, leak) {
			t.Errorf("the answer shows %q: %s", leak, answer)
		}
	}
}
