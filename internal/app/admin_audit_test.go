package app

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminAuditLogs(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o, other := r.onboard("Audited"), r.onboard("Elsewhere")
		c := o.owner
		for _, slug := range []string{"a", "b", "c"} {
			c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": slug,
				"slug": slug}).want(t, 201, "")
		}
		rep := c.call(http.MethodGet, query("/v1/admin/audit-logs", "limit", "2",
			"eventType", "team.created"), nil).want(t, 200, "")
		if len(rep.list()) != 2 || rep.body["limit"] != 2.0 || rep.str("nextCursor") == "" {
			t.Fatalf("first page: %s", rep.raw)
		}
		rec := rep.list()[0]
		if rec["eventCategory"] != "team" || rec["action"] != "create" ||
			rec["organisationId"] != o.id || rec["success"] != true ||
			rec["actor"].(map[string]any)["type"] != "user" ||
			rec["actor"].(map[string]any)["id"] != c.id || rec["requestId"] == nil {
			t.Fatalf("record: %v", rec)
		}
		next := c.call(http.MethodGet, query("/v1/admin/audit-logs", "limit", "2",
			"eventType", "team.created", "cursor", rep.str("nextCursor")), nil).
			want(t, 200, "")
		if len(next.list()) != 1 || next.body["nextCursor"] != nil {
			t.Fatalf("last page: %s", next.raw)
		}
		got := c.call(http.MethodGet, "/v1/admin/audit-logs/"+rec["id"].(string), nil).
			want(t, 200, "")
		if got.str("eventType") != "team.created" {
			t.Fatalf("get: %s", got.raw)
		}
		c.call(http.MethodGet, "/v1/admin/audit-logs/"+db.NewID(), nil).
			want(t, 404, "Audit log not found")
		for _, id := range c.call(http.MethodGet, query("/v1/admin/audit-logs", "limit",
			"100"), nil).ids() {
			if other.owner.call(http.MethodGet, "/v1/admin/audit-logs/"+id, nil).status != 404 {
				t.Fatalf("record %s visible to another organisation", id)
			}
		}
		c.call(http.MethodGet, query("/v1/admin/audit-logs", "limit", "101"), nil).
			wantField(t, "limit", "too_large")
		c.call(http.MethodGet, query("/v1/admin/audit-logs", "cursor", "garbage"), nil).
			wantField(t, "cursor", "invalid_format")
		c.call(http.MethodGet, query("/v1/admin/audit-logs", "page", "2"), nil).
			wantField(t, "page", "unknown_field")
		c.call(http.MethodGet, query("/v1/admin/audit-logs", "startDate", "monday"), nil).
			wantField(t, "startDate", "invalid_format")
		c.call(http.MethodGet, query("/v1/admin/audit-logs/export", "format", "xml"), nil).
			wantField(t, "format", "invalid_value")
		c.call(http.MethodGet, "/v1/admin/audit-logs/export", nil).
			wantField(t, "format", "required")
		checkExport(t, r, c)
	})
}

// checkExport downloads both formats and checks their headers and bodies.
func checkExport(t *testing.T, r *admRig, c *admClient) {
	t.Helper()
	resp := download(t, c, r.url, "csv", "eventType", "team.created")
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") !=
			`attachment; filename="audit-logs.csv"` {
		t.Fatalf("csv headers: %v", resp.Header)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[1][2] != "team.created" {
		t.Fatalf("csv body: %v %v", rows, err)
	}
	resp = download(t, c, r.url, "ndjson")
	if resp.Header.Get("Content-Type") != "application/x-ndjson" ||
		resp.Header.Get("Content-Disposition") !=
			`attachment; filename="audit-logs.ndjson"` {
		t.Fatalf("ndjson headers: %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec["id"] == nil {
			t.Fatalf("ndjson line %q: %v", sc.Text(), err)
		}
		n++
	}
	resp.Body.Close()
	if n < 4 {
		t.Fatalf("%d ndjson lines", n)
	}
}

func download(t *testing.T, c *admClient, base, format string, kv ...string) *http.Response {
	t.Helper()
	path := query("/v1/admin/audit-logs/export", append([]string{"format", format}, kv...)...)
	req := c.request(http.MethodGet, path, nil)
	u := *req.URL
	req.URL, _ = u.Parse(base + path)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	return resp
}

// TestAuditExportOutlivesWriteTimeout serves the application with a write
// timeout that has always passed by the time the handler writes: a plain
// answer is cut, while the export, which moves the write deadline before
// each batch, arrives whole.
func TestAuditExportOutlivesWriteTimeout(t *testing.T) {
	r := newAdmRig(t, db.SQLite)
	o := r.onboard("Slow reader")
	for i := range 3 {
		o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
			"name": "t", "slug": "t" + string(rune('a'+i))}).want(t, 201, "")
	}
	ts := httptest.NewUnstartedServer(r.handler)
	ts.Config.WriteTimeout = time.Nanosecond
	ts.Start()
	defer ts.Close()
	req := o.owner.request(http.MethodGet, "/v1/admin/users", nil)
	req.URL.Host = strings.TrimPrefix(ts.URL, "http://")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a plain answer survived the write timeout: %d", resp.StatusCode)
	}
	resp := download(t, o.owner, ts.URL, "ndjson", "eventType", "team.created")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || strings.Count(string(body), "\n") != 3 {
		t.Fatalf("export through the write timeout: %v %q", err, body)
	}
}
