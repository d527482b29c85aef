package webhook

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

var secretFormat = regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`)

func TestCreateShowsTheSecretOnceAndSealsIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		client := e.addClient(t, e.org)
		url := "https://hooks.example.test/in"
		events := []string{"user.created", "client.updated"}
		ep, secret, err := e.svc.Create(context.Background(), e.org,
			EndpointCreate{URL: &url, Events: &events, ClientID: &client})
		if err != nil {
			t.Fatal(err)
		}
		if !secretFormat.MatchString(secret) {
			t.Errorf("secret %q has the wrong format", secret)
		}
		if ep.URL != url || !ep.IsActive || ep.FailureCount != 0 ||
			ep.ClientID == nil || *ep.ClientID != client {
			t.Errorf("endpoint %+v", ep)
		}
		var stored string
		err = d.QueryRowContext(context.Background(),
			`SELECT secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&stored)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, secret[6:]) || !e.keys.IsCurrent(stored) {
			t.Errorf("secret stored as %q, want it sealed", stored)
		}
		if opened, _ := e.keys.OpenString(stored); opened != secret {
			t.Errorf("sealed secret opens to something else")
		}
		got, err := e.svc.Get(context.Background(), e.org, ep.ID)
		if err != nil || got.URL != url || len(got.Events) != 2 {
			t.Fatalf("get: %+v %v", got, err)
		}
		e.wantAudit(t, ep.ID, "webhook.created")
	})
}

func (e *env) wantAudit(t *testing.T, resourceID string, types ...string) {
	t.Helper()
	rows, err := e.d.QueryContext(context.Background(), `SELECT event_type FROM audit_logs
		WHERE resource_id = $1 ORDER BY created_at, id`, resourceID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, " ") != strings.Join(types, " ") {
		t.Errorf("audit of %s = %v, want %v", resourceID, got, types)
	}
}

func TestCreateValidation(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite), nil)
	e.svc.production = true
	long := "https://example.test/" + strings.Repeat("a", MaxURLLength)
	many := make([]string, 26)
	for i := range many {
		many[i] = "user.created"
	}
	cases := []struct {
		name   string
		url    *string
		events *[]string
		client *string
		fields string
	}{
		{"nothing", nil, nil, nil, "url:required events:required"},
		{"relative", ptr("/hooks"), ptr([]string{"user.created"}), nil, "url:invalid_format"},
		{"ftp", ptr("ftp://x.test/"), ptr([]string{"user.created"}), nil, "url:invalid_format"},
		{"http in production", ptr("http://x.test/"), ptr([]string{"user.created"}), nil,
			"url:invalid_value"},
		{"too long", &long, ptr([]string{"user.created"}), nil, "url:too_long"},
		{"no events", ptr("https://x.test/"), ptr([]string{}), nil, "events:too_short"},
		{"too many", ptr("https://x.test/"), &many, nil, "events:too_long"},
		{"unknown and duplicate", ptr("https://x.test/"),
			ptr([]string{"user.created", "webhook.test", "user.created"}), nil,
			"events.1:invalid_value events.2:invalid_value"},
		{"unknown client", ptr("https://x.test/"), ptr([]string{"user.created"}),
			ptr(db.NewID()), "clientId:invalid_value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := e.svc.Create(context.Background(), e.org,
				EndpointCreate{URL: c.url, Events: c.events, ClientID: c.client})
			if got := fieldCodes(err); got != c.fields {
				t.Errorf("fields = %q, want %q (%v)", got, c.fields, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func fieldCodes(err error) string {
	ae := apperr.As(err)
	if ae == nil || ae.Kind != apperr.Invalid {
		return "not invalid input"
	}
	var out []string
	for _, f := range ae.Fields {
		out = append(out, f.Field+":"+f.Code)
	}
	return strings.Join(out, " ")
}

func TestCreateAndUpdateRefusePrivateTargets(t *testing.T) {
	r := newResolver("internal.test", "10.0.0.1", "public.test", "203.0.113.10")
	e := newEnv(t, dbtest.Open(t, db.SQLite), NewGuard(r, false))
	events := []string{"user.created"}
	for _, u := range []string{"http://127.0.0.1/", "http://[::1]:8080/x",
		"http://169.254.169.254/latest/meta-data", "https://internal.test/hook",
		"http://localhost.:80@10.1.1.1/"} {
		_, _, err := e.svc.Create(context.Background(), e.org,
			EndpointCreate{URL: &u, Events: &events})
		ae := apperr.As(err)
		if ae == nil || ae.Detail != "Webhook URL targets a private address" {
			t.Errorf("create %s: %v", u, err)
		}
	}
	ep, _ := e.create(t, "https://public.test/hook")
	_, err := e.svc.Update(context.Background(), e.org, ep.ID,
		EndpointPatch{URL: patch.Of("https://internal.test/hook")})
	if ae := apperr.As(err); ae == nil || ae.Detail != "Webhook URL targets a private address" {
		t.Errorf("update to a private target: %v", err)
	}
}

func TestUpdateRotateDeleteAndTest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, nil)
		ep, first := e.create(t, "https://hooks.example.test/a")
		e.clk.advance(time.Second)

		up, err := e.svc.Update(ctx, e.org, ep.ID, EndpointPatch{
			Events: patch.Of([]string{"role.created"}), IsActive: patch.Of(false)})
		if err != nil || up.IsActive || up.Events[0] != "role.created" ||
			!up.UpdatedAt.After(ep.UpdatedAt) {
			t.Fatalf("update: %+v %v", up, err)
		}
		_, err = e.svc.Test(ctx, e.org, ep.ID)
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Unprocessable ||
			ae.Detail != "Webhook is inactive" {
			t.Errorf("test of an inactive webhook: %v", err)
		}
		e.exec(t, `UPDATE webhook_endpoints SET failure_count = 4 WHERE id = $1`, ep.ID)
		up, err = e.svc.Update(ctx, e.org, ep.ID, EndpointPatch{IsActive: patch.Of(true)})
		if err != nil || !up.IsActive || up.FailureCount != 0 || up.DisabledAt != nil {
			t.Fatalf("reactivate: %+v %v", up, err)
		}

		_, second, err := e.svc.RotateSecret(ctx, e.org, ep.ID)
		if err != nil || second == first || !secretFormat.MatchString(second) {
			t.Fatalf("rotate: %q %v", second, err)
		}
		id, err := e.svc.Test(ctx, e.org, ep.ID)
		if err != nil || !db.ValidID(id) {
			t.Fatalf("test: %q %v", id, err)
		}
		ds := e.deliveries(t, ep.ID)
		if len(ds) != 1 || ds[0].ID != id || ds[0].EventType != "webhook.test" ||
			ds[0].Status != StatusPending {
			t.Errorf("deliveries after test: %+v", ds)
		}

		if err := e.svc.Delete(ctx, e.org, ep.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Get(ctx, e.org, ep.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("get after delete: %v", err)
		}
		var left int
		_ = d.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries`).Scan(&left)
		if left != 0 {
			t.Errorf("%d deliveries left after delete", left)
		}
		e.wantAudit(t, ep.ID, "webhook.created", "webhook.updated", "webhook.updated",
			"webhook.secret_rotated", "webhook.deleted")
	})
}

func TestOtherTenantsAndBadIDsAreNotFound(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite), nil)
	ctx := context.Background()
	ep, _ := e.create(t, "https://hooks.example.test/a")
	other := e.addOrg(t, "other")
	for _, c := range []struct{ org, id string }{{other, ep.ID}, {e.org, "not-a-uuid"},
		{e.org, db.NewID()}} {
		if _, err := e.svc.Get(ctx, c.org, c.id); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("get %s in %s: %v", c.id, c.org, err)
		}
		if err := e.svc.Delete(ctx, c.org, c.id); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("delete %s in %s: %v", c.id, c.org, err)
		}
		if _, err := e.svc.Test(ctx, c.org, c.id); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("test %s in %s: %v", c.id, c.org, err)
		}
	}
}

func TestListPagesFiltersAndSorts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		ctx := context.Background()
		for _, u := range []string{"https://c.test/", "https://a.test/", "https://b.test/"} {
			e.create(t, u)
			e.clk.advance(time.Second)
		}
		items, _, _ := e.svc.List(ctx, e.org, EndpointQuery{
			Paging: Paging{Page: 1, Limit: 10, Sort: "url"}})
		if len(items) != 3 || items[0].URL != "https://a.test/" {
			t.Errorf("by url: %v", urls(items))
		}
		_, _ = e.svc.Update(ctx, e.org, items[0].ID, EndpointPatch{IsActive: patch.Of(false)})
		items, total, err := e.svc.List(ctx, e.org, EndpointQuery{
			Paging: Paging{Page: 2, Limit: 1, Sort: DefaultSort}, IsActive: ptr(true)})
		if err != nil || total != 2 || len(items) != 1 || items[0].URL != "https://c.test/" {
			t.Errorf("active page 2: %v total %d %v", urls(items), total, err)
		}
		items, _, _ = e.svc.List(ctx, e.org, EndpointQuery{
			Paging: Paging{Page: 9, Limit: 10, Sort: DefaultSort}})
		if items == nil || len(items) != 0 {
			t.Errorf("past the end: %v", items)
		}
	})
}

func urls(items []Endpoint) []string {
	var out []string
	for _, i := range items {
		out = append(out, i.URL)
	}
	return out
}

// An update that has to wait for the delivery worker's transaction writes
// back what that transaction committed, not what was there before it: a
// PATCH of the events must not re-enable an endpoint the worker disabled.
func TestUpdateKeepsAConcurrentDisable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if d.Dialect.Engine() != db.Postgres {
			t.Skip("SQLite transactions exclude each other")
		}
		ctx := context.Background()
		e := newEnv(t, d, nil)
		ep, _ := e.create(t, "https://hooks.example.test/a")
		worker, err := d.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = worker.Rollback() }()
		_, err = worker.ExecContext(ctx, `UPDATE webhook_endpoints SET failure_count = 10,
			is_active = FALSE, disabled_at = $1 WHERE id = $2`, e.clk.now(), ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.svc.Update(ctx, e.org, ep.ID,
				EndpointPatch{Events: patch.Of([]string{"role.created"})})
			done <- err
		}()
		waitForLockWaiter(t, d)
		if err := worker.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("update: %v", err)
		}
		got, err := e.svc.Get(ctx, e.org, ep.ID)
		if err != nil || got.IsActive || got.DisabledAt == nil || got.FailureCount != 10 ||
			got.Events[0] != "role.created" {
			t.Fatalf("after update: %+v %v", got, err)
		}
	})
}

// waitForLockWaiter returns once a session of the test database waits for
// a lock.
func waitForLockWaiter(t *testing.T, d *db.DB) {
	t.Helper()
	for range 500 {
		var n int
		err := d.QueryRowContext(context.Background(), `SELECT COUNT(*)
			FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no session ever waited for a lock")
}
