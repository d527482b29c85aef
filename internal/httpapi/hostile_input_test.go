package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// hostileHandler serves a route with a secret path segment, a route that
// echoes the user agent as the handlers see it, and routes failing the way
// PostgreSQL fails on text it cannot store.
func hostileHandler(t *testing.T, logs *bytes.Buffer) http.Handler {
	t.Helper()
	rt := httpapi.NewRouter(map[string]ratelimit.Limiter{}, telemetry.NewMetrics("t", "c"))
	rt.Handle(http.MethodGet, "/v1/public/things/{token}",
		func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	rt.Handle(http.MethodGet, "/v1/agent", func(w http.ResponseWriter, r *http.Request) error {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"header": r.UserAgent(),
			"recorded": event.RequestFrom(r.Context()).UserAgent})
		return nil
	})
	badText := func(http.ResponseWriter, *http.Request) error {
		return &pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}
	}
	rt.Handle(http.MethodGet, "/v1/text", badText)
	rt.Handle(http.MethodGet, "/oauth2/text", badText, httpapi.OAuthStyle())
	logger := telemetry.NewLogger(telemetry.LogOptions{Env: "production", Level: "debug",
		Output: logs})
	return httpapi.Pipeline(rt, httpapi.PipelineOptions{Logger: logger, BodyLimit: 1024})
}

func TestTokenPathsAreNotLogged(t *testing.T) {
	var logs bytes.Buffer
	h := hostileHandler(t, &logs)
	const secret = "fOAqpAAGN65zyIVgmc-UYskJG2I8OMGRJmlC4As5COA"
	if resp := do(h, http.MethodGet, "/v1/public/things/"+secret, "", nil); resp.StatusCode !=
		http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the token reached the log: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "/v1/public/things/{token}") {
		t.Fatalf("the access line does not name the route: %s", logs.String())
	}
}

func TestUserAgentIsCleaned(t *testing.T) {
	var logs bytes.Buffer
	h := hostileHandler(t, &logs)
	resp := do(h, http.MethodGet, "/v1/agent", "",
		map[string]string{"User-Agent": "Mozilla\xff\xfe/5.0\x00\x1b[31m"})
	var got map[string]string
	decodeBody(t, resp, &got)
	for k, v := range got {
		if v != "Mozilla\uFFFD/5.0[31m" || !utf8.ValidString(v) {
			t.Errorf("%s user agent %q", k, v)
		}
	}
}

func TestNULInJSONIsRefused(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs, 100)
	resp := do(h, http.MethodPost, "/v1/echo", `{"name":"a\u0000b"}`, jsonCT)
	p := problem(t, resp)
	if resp.StatusCode != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "name" ||
		p.Errors[0].Code != "invalid_format" {
		t.Fatalf("NUL in a string: %d %+v", resp.StatusCode, p)
	}
}

func TestRefusedTextIsABadRequest(t *testing.T) {
	var logs bytes.Buffer
	h := hostileHandler(t, &logs)
	resp := do(h, http.MethodGet, "/v1/text", "", nil)
	if p := problem(t, resp); resp.StatusCode != 400 ||
		p.Detail != "Invalid input: text must be UTF-8 without NUL characters" {
		t.Fatalf("/v1: %d %+v", resp.StatusCode, p)
	}
	resp = do(h, http.MethodGet, "/oauth2/text", "", nil)
	var body map[string]string
	decodeBody(t, resp, &body)
	if resp.StatusCode != 400 || body["error"] != "invalid_request" {
		t.Fatalf("/oauth2: %d %v", resp.StatusCode, body)
	}
	if strings.Contains(logs.String(), "request failed") {
		t.Fatalf("refused text logged as a server failure: %s", logs.String())
	}
}

// TestHostileUserAgentAtLogin signs in with a user agent PostgreSQL could
// not store: a wrong password must count and answer like any other, and
// the right one must sign in.
func TestHostileUserAgentAtLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newIDRig(t, d)
		owner := r.onboard("Acme", "ada@example.com")
		login := func(password string) int {
			body := `{"email":"ada@example.com","password":"` + password + `"}`
			req := httptest.NewRequest(http.MethodPost, "/v1/auth/login",
				strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "Mozilla\xff\xfe\x00")
			w := httptest.NewRecorder()
			r.handler.ServeHTTP(w, req)
			return w.Code
		}
		if st := login("Wr0ng$pass"); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", st)
		}
		if n := r.count(`SELECT failed_login_count FROM users WHERE id = $1`,
			owner.userID); n != 1 {
			t.Fatalf("failed_login_count %d, want 1", n)
		}
		if st := login(goodPassword); st != http.StatusOK {
			t.Fatalf("right password: %d", st)
		}
	})
}
