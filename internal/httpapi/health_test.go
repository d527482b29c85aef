package httpapi_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// TestReadinessWithoutDatabase restarts the database under the probe:
// right after its sessions were ended readiness answers 200 from new
// connections; while it refuses connections readiness answers 503 at once
// with the database and migrations checks failed; once it is back, 200.
func TestReadinessWithoutDatabase(t *testing.T) {
	u := dbtest.URL(t, db.Postgres)
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(parsed.Path, "/")
	admin, err := sql.Open("pgx", dbtest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	allow := func(on bool) {
		q := fmt.Sprintf(`ALTER DATABASE "%s" ALLOW_CONNECTIONS %t`, name, on)
		if _, err := admin.Exec(q); err != nil {
			t.Errorf("allow connections %t: %v", on, err)
		}
	}
	t.Cleanup(func() { allow(true); _ = admin.Close() })
	d, err := db.Open(t.Context(), u, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	rt := httpapi.NewRouter(nil, telemetry.NewMetrics("t", "c"))
	(&httpapi.Health{DB: d, Now: time.Now}).Register(rt)
	ready := func() (int, map[string]any) {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		return w.Code, body
	}
	// terminate ends the sessions and waits until their processes are gone.
	terminate := func() {
		var alive int
		err := admin.QueryRow(`SELECT count(*) FILTER (WHERE NOT pg_terminate_backend(pid, 5000))
			FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
			name).Scan(&alive)
		if err != nil || alive > 0 {
			t.Fatalf("terminate: %d sessions left, %v", alive, err)
		}
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("before the outage: %d %v", code, body)
	}

	// A restart that is over: the pooled connections, all used in the
	// last second, are dead, but the database answers.
	useConnections(t, d, 3)
	terminate()
	if code, body := ready(); code != 200 {
		t.Errorf("after a restart: %d %v", code, body)
	}

	allow(false)
	terminate()
	start := time.Now()
	code, body := ready()
	// The probe's time is 2 s; failing to connect takes milliseconds.
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("readiness took %s during the outage", took)
	}
	checks, _ := body["checks"].(map[string]any)
	if code != 503 || body["status"] != "error" ||
		!failed(checks["database"], "database unreachable") ||
		!failed(checks["migrations"], "schema version unreadable") {
		t.Errorf("during the outage: %d %v", code, body)
	}

	allow(true)
	if code, body := ready(); code != 200 {
		t.Errorf("after the outage: %d %v", code, body)
	}
}

// useConnections opens n pooled connections and uses each twice, so the
// driver does not check them again before their next use for a second.
func useConnections(t *testing.T, d *db.DB, n int) {
	t.Helper()
	for range 2 {
		var conns []*sql.Conn
		for range n {
			c, err := d.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if _, err := c.ExecContext(t.Context(), "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}
	}
}

func failed(check any, reason string) bool {
	c, _ := check.(map[string]any)
	return c["status"] == "error" && c["error"] == reason
}
