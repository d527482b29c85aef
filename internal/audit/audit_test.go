package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/audit"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// base is the time of the first seeded record.
var base = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// seedOrg creates an organisation and returns its id.
func seedOrg(t testing.TB, d *db.DB) string {
	t.Helper()
	id := db.NewID()
	_, err := d.ExecContext(context.Background(), `INSERT INTO organisations (id, slug,
		name, created_at, updated_at) VALUES ($1, $2, 'Org', $3, $3)`, id,
		"org-"+id[24:], base)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// record writes one audit row through the event recorder at the given
// time, as a change would.
func record(t *testing.T, d *db.DB, at time.Time, e event.Event) {
	t.Helper()
	rec := event.NewRecorder(func() time.Time { return at })
	ctx := event.WithRequest(context.Background(), event.RequestInfo{IP: "203.0.113.7",
		UserAgent: "test", RequestID: "req-" + e.Type})
	ctx = event.WithActor(ctx, event.Actor{Type: event.ActorUser, ID: e.UserID})
	if err := rec.Record(ctx, d, e); err != nil {
		t.Fatal(err)
	}
}

func mustQuery(t *testing.T, kv ...string) audit.Query {
	t.Helper()
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	q, err := audit.ParseQuery(v)
	if err != nil {
		t.Fatalf("parse %v: %v", kv, err)
	}
	return q
}

func types(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.EventType
	}
	return out
}

func TestListFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		org, other := seedOrg(t, d), seedOrg(t, d)
		alice, client := db.NewID(), db.NewID()
		record(t, d, base, event.Event{Type: "user.created", OrganisationID: org,
			UserID: alice, ResourceType: "user", ResourceID: alice})
		record(t, d, base.Add(time.Minute), event.Event{Type: "user.login.failed",
			OrganisationID: org, UserID: alice, Failed: true, ErrorMessage: "bad"})
		record(t, d, base.Add(2*time.Minute), event.Event{Type: "client.created",
			OrganisationID: org, ClientID: client, ResourceType: "client",
			ResourceID: client, Metadata: map[string]any{"name": "c"}})
		record(t, d, base.Add(3*time.Minute), event.Event{Type: "role.created",
			OrganisationID: org})
		record(t, d, base, event.Event{Type: "user.created", OrganisationID: other})
		record(t, d, base, event.Event{Type: "system.keys_rotated"})
		s := audit.New(d)
		ctx := context.Background()
		cases := []struct {
			kv   []string
			want []string
		}{
			{nil, []string{"role.created", "client.created", "user.login.failed",
				"user.created"}},
			{[]string{"userId", alice}, []string{"user.login.failed", "user.created"}},
			{[]string{"clientId", client}, []string{"client.created"}},
			{[]string{"eventType", "user.created,role.created"}, []string{"role.created",
				"user.created"}},
			{[]string{"eventCategory", "auth"}, []string{"user.login.failed"}},
			{[]string{"eventCategory", "permission"}, []string{"role.created"}},
			{[]string{"action", "create"}, []string{"role.created", "client.created",
				"user.created"}},
			{[]string{"resourceType", "client"}, []string{"client.created"}},
			{[]string{"resourceId", alice}, []string{"user.created"}},
			{[]string{"success", "false"}, []string{"user.login.failed"}},
			{[]string{"startDate", "2025-03-01T09:01:00Z", "endDate",
				"2025-03-01T09:03:00Z"}, []string{"client.created", "user.login.failed"}},
		}
		for _, c := range cases {
			p, err := s.List(ctx, org, mustQuery(t, c.kv...))
			if err != nil {
				t.Fatal(err)
			}
			if got := types(p.Records); !slices.Equal(got, c.want) {
				t.Errorf("%v: %v, want %v", c.kv, got, c.want)
			}
		}
		p, _ := s.List(ctx, org, mustQuery(t, "clientId", client))
		r := p.Records[0]
		if r.OrganisationID == nil || *r.OrganisationID != org || r.Actor.Type != "user" ||
			*r.IPAddress != "203.0.113.7" || *r.RequestID != "req-client.created" ||
			string(r.Metadata) == "null" || !r.Success {
			t.Fatalf("record %+v", r)
		}
		got, err := s.Get(ctx, org, r.ID)
		if err != nil || got.ID != r.ID {
			t.Fatalf("get: %v %v", got, err)
		}
		if _, err := s.Get(ctx, other, r.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("record of another organisation: %v", err)
		}
		if _, err := s.Get(ctx, org, "nope"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bad id: %v", err)
		}
	})
}

func TestParseQueryRefusesBadInput(t *testing.T) {
	for _, c := range []struct{ kv, field string }{
		{"limit=101", "limit"}, {"limit=0", "limit"}, {"limit=x", "limit"},
		{"cursor=!!", "cursor"}, {"cursor=" + "bm90LWEtY3Vyc29y", "cursor"},
		{"userId=42", "userId"}, {"clientId=x", "clientId"},
		{"eventType=user.exploded", "eventType"}, {"success=yes", "success"},
		{"startDate=yesterday", "startDate"}, {"endDate=2025-13-01", "endDate"},
		{"page=2", "page"}, {"limit=1&limit=2", "limit"},
	} {
		v, _ := url.ParseQuery(c.kv)
		_, err := audit.ParseQuery(v)
		ae := apperr.As(err)
		if ae == nil || ae.Kind != apperr.Invalid || len(ae.Fields) == 0 ||
			ae.Fields[0].Field != c.field {
			t.Errorf("%s: %v", c.kv, err)
		}
	}
	v, _ := url.ParseQuery("format=xml")
	if _, _, err := audit.ParseExport(v); err == nil {
		t.Error("format xml accepted")
	}
	if _, _, err := audit.ParseExport(url.Values{}); err == nil {
		t.Error("missing format accepted")
	}
	v, _ = url.ParseQuery("format=csv&limit=5")
	if _, _, err := audit.ParseExport(v); err == nil {
		t.Error("export accepted paging")
	}
}

// TestCursorPagesWalkEveryRecordOnce pages through records sharing
// timestamps in small pages: every record comes once, newest first, then
// by id, and the last page has no cursor.
func TestCursorPagesWalkEveryRecordOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		org := seedOrg(t, d)
		for i := range 23 {
			record(t, d, base.Add(time.Duration(i/4)*time.Second), event.Event{
				Type: "team.created", OrganisationID: org, ResourceID: fmt.Sprint(i)})
		}
		s := audit.New(d)
		var seen []audit.Record
		q := mustQuery(t, "limit", "5")
		for pages := 0; ; pages++ {
			p, err := s.List(context.Background(), org, q)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, p.Records...)
			if p.NextCursor == "" {
				if pages != 4 {
					t.Fatalf("%d pages, want 5", pages+1)
				}
				break
			}
			q = mustQuery(t, "limit", "5", "cursor", p.NextCursor)
		}
		if len(seen) != 23 {
			t.Fatalf("%d records, want 23", len(seen))
		}
		sorted := slices.IsSortedFunc(seen, func(a, b audit.Record) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		ids := map[string]bool{}
		for _, r := range seen {
			ids[r.ID] = true
		}
		if !sorted || len(ids) != 23 {
			t.Fatalf("order or duplicates: sorted %v, distinct %d", sorted, len(ids))
		}
	})
}

func TestExportFormats(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		org := seedOrg(t, d)
		record(t, d, base, event.Event{Type: "user.created", OrganisationID: org,
			UserID: db.NewID(), Metadata: map[string]any{"note": "=cmd()"}})
		record(t, d, base.Add(time.Second), event.Event{Type: "user.login.failed",
			OrganisationID: org, Failed: true, ErrorMessage: "-1+1",
			ResourceType: "@sum", ResourceID: "+x"})
		s := audit.New(d)
		var out bytes.Buffer
		export(t, s, org, audit.CSV, &out)
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := "id,createdAt,eventType,eventCategory,action,success,actorType,actorId," +
			"userId,clientId,resourceType,resourceId,ipAddress,userAgent,requestId," +
			"errorMessage,metadata"
		if strings.Join(rows[0], ",") != header || len(rows) != 3 {
			t.Fatalf("csv: %v", rows)
		}
		failed := rows[1]
		if failed[2] != "user.login.failed" || failed[5] != "false" ||
			failed[10] != "'@sum" || failed[11] != "'+x" || failed[15] != "'-1+1" ||
			failed[1] != "2025-03-01T09:00:01.000Z" {
			t.Fatalf("failed login row: %v", failed)
		}
		if meta := rows[2][16]; meta != `{"note":"=cmd()"}` {
			t.Fatalf("metadata cell %q", meta)
		}
		out.Reset()
		export(t, s, org, audit.NDJSON, &out)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var first map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || len(lines) != 2 {
			t.Fatalf("ndjson: %q %v", out.String(), err)
		}
		if first["eventType"] != "user.login.failed" || first["errorMessage"] != "-1+1" ||
			first["createdAt"] != "2025-03-01T09:00:01.000Z" {
			t.Fatalf("ndjson record: %v", first)
		}
	})
}

func export(t testing.TB, s *audit.Service, org string, f audit.Format,
	w *bytes.Buffer) {
	t.Helper()
	enc, err := audit.NewEncoder(f, w)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Export(context.Background(), org, audit.Filter{}, func(b []audit.Record) error {
		for i := range b {
			if err := enc.Write(&b[i]); err != nil {
				return err
			}
		}
		return enc.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDefuse(t *testing.T) {
	for in, want := range map[string]string{"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1",
		"@a": "'@a", "a=b": "a=b", "": "", "'x": "'x"} {
		if got := audit.Defuse(in); got != want {
			t.Errorf("Defuse(%q) = %q, want %q", in, got, want)
		}
	}
}

// bulkInsert writes n audit rows of one event type quickly: multi-row
// inserts on PostgreSQL, one generating statement on SQLite (whose driver
// binds many parameters slowly).
func bulkInsert(t testing.TB, d *db.DB, org, eventType string, n int) {
	t.Helper()
	var err error
	if d.Dialect.Engine() == db.SQLite {
		err = generateRows(d, org, eventType, n)
	} else {
		err = insertRows(d, org, eventType, n)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Fresh statistics, as autovacuum would gather them on a live server.
	if d.Dialect.Engine() == db.Postgres {
		if _, err := d.ExecContext(context.Background(), "ANALYZE audit_logs"); err != nil {
			t.Fatal(err)
		}
	}
}

// generateRows has SQLite make n rows, a millisecond apart from base, with
// ids unique to this call.
func generateRows(d *db.DB, org, eventType string, n int) error {
	_, err := d.ExecContext(context.Background(), `WITH RECURSIVE seq(i) AS (
		SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1)
		INSERT INTO audit_logs (id, organisation_id, actor_type, event_type,
		event_category, action, success, metadata, created_at)
		SELECT printf('%08x-0000-7000-8000-%012x', $2, i), $3, 'system', $4, $5, $6, 1,
		'{"generated":true}', strftime('%Y-%m-%dT%H:%M:%fZ', $7 + i / 1000.0, 'unixepoch')
		FROM seq`, n, time.Now().UnixNano()&0x7fffffff, org, eventType,
		event.Category(eventType), event.Action(eventType), base.Unix())
	return err
}

// insertRows writes n rows in multi-row statements of one transaction.
func insertRows(d *db.DB, org, eventType string, n int) error {
	const per = 500
	return d.Tx(context.Background(), func(tx *sql.Tx) error {
		for done := 0; done < n; done += per {
			var sb strings.Builder
			var args []any
			sb.WriteString(`INSERT INTO audit_logs (id, organisation_id, actor_type,
				event_type, event_category, action, success, metadata, created_at) VALUES `)
			for i := 0; i < per && done+i < n; i++ {
				if i > 0 {
					sb.WriteString(", ")
				}
				k := len(args)
				fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
					k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9)
				args = append(args, db.NewID(), org, "system", eventType,
					event.Category(eventType), event.Action(eventType), true,
					`{"generated":true}`, base.Add(time.Duration(done+i)*time.Millisecond))
			}
			if _, err := tx.ExecContext(context.Background(), sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}
