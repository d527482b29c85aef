package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

var promql = parser.NewParser(parser.Options{})

// loadRules parses the alert rules with Prometheus's own rule parser,
// which also checks every expression and annotation template.
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	path := filepath.Join(repoRoot(t), "deploy", "monitoring", "alerts.yml")
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promql,
		slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("alerts.yml: %v", errs)
	}
	return groups
}

// TestAlertRulesParse checks the rules parse and cover every condition
// the operations guide asks an alert for.
func TestAlertRulesParse(t *testing.T) {
	var names []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s has a recording rule %s", g.Name, r.Record)
			}
			if r.Annotations["summary"] == "" || r.Annotations["runbook"] == "" ||
				r.Labels["severity"] == "" {
				t.Errorf("alert %s lacks summary, runbook or severity", r.Alert)
			}
			names = append(names, r.Alert)
			assertRunbookExists(t, r.Annotations["runbook"])
		}
	}
	for _, want := range []string{"CerberusInstanceDown", "CerberusHighErrorRate",
		"CerberusHighLatencyP95", "CerberusDatabasePoolExhausted",
		"CerberusMemoryNearLimit", "CerberusFailedLoginSpike",
		"CerberusTokenRevocationSpike"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

func assertRunbookExists(t *testing.T, rel string) {
	t.Helper()
	if !strings.HasPrefix(rel, "docs/runbooks/") {
		t.Errorf("runbook %q is not under docs/runbooks", rel)
		return
	}
	readRepoFile(t, rel)
}

// dashboardQueries returns every PromQL expression of the Grafana
// dashboard (panel targets and template variable queries), with Grafana's
// interval variable replaced so the expressions parse.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(readRepoFile(t, "deploy/monitoring/grafana-dashboard.json"),
		&dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, strings.ReplaceAll(tg.Expr, "$__rate_interval", "5m"))
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			inner := strings.TrimSuffix(strings.TrimPrefix(v.Definition, "label_values("),
				", instance)")
			out = append(out, inner)
		}
	}
	return out
}

// TestDashboardQueriesParse parses every dashboard expression with the
// PromQL parser.
func TestDashboardQueriesParse(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("only %d queries in the dashboard", len(queries))
	}
	for _, q := range queries {
		if _, err := promql.ParseExpr(q); err != nil {
			t.Errorf("dashboard query %q: %v", q, err)
		}
	}
}

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var names []string
	for _, ms := range parser.ExtractSelectors(e) {
		for _, m := range ms {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	return names
}

// usedMetrics collects the metric names of the rules and the dashboard,
// with histogram series mapped to their family.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			for _, n := range metricNames(t, r.Expr) {
				used[family(n)] = append(used[family(n)], "alert "+r.Alert)
			}
		}
	}
	for _, q := range dashboardQueries(t) {
		for _, n := range metricNames(t, q) {
			used[family(n)] = append(used[family(n)], "dashboard")
		}
	}
	return used
}

func family(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			return base
		}
	}
	return name
}

// TestMonitoringUsesExportedMetrics starts the real server, drives the
// traffic that creates every labelled series (requests, a queued mail, a
// client-credentials token, a rate-limited token request), scrapes
// /metrics, and checks that each metric the rules and the dashboard use is
// there. `up` is the only name allowed without it: Prometheus adds it.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	url := dbtest.URL(t, db.Postgres)
	key := e2e.NewKey()
	s := e2e.Start(t, e2e.Options{DatabaseURL: url, Env: map[string]string{
		"SECRET_ENCRYPTION_KEY": key, "TOKEN_RATE_MAX": "1",
		// A day-long window, so that no window boundary falls between
		// the allowed token request and the refused one.
		"TOKEN_RATE_WINDOW_SEC": "86400"}})
	driveTraffic(t, s, url, key)

	exported := scrapeFamilies(t, s.URL+"/metrics")
	var missing []string
	for name, where := range usedMetrics(t) {
		if name != "up" && !exported[name] {
			missing = append(missing, name+" (used by "+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("not exported by the server:\n%s", strings.Join(missing, "\n"))
	}
}

// driveTraffic makes the server create the series that appear only once
// something happens.
func driveTraffic(t *testing.T, s *e2e.Server, databaseURL, key string) {
	t.Helper()
	for _, p := range []string{"/health", "/health/ready", "/no-such-route"} {
		resp, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	queueMail(t, databaseURL, key)
	c := e2e.SeedClient(t, databaseURL)
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		if got := clientCredentials(t, s.URL, c); got != want {
			t.Fatalf("token request %d: %d, want %d", i, got, want)
		}
	}
	waitForMetric(t, s.URL+"/metrics", "cerberus_emails_total")
}

// queueMail enqueues a message as a service would; the server's mail
// worker then sends it (to its log, with no SMTP_HOST) and counts it.
func queueMail(t *testing.T, databaseURL, key string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, databaseURL, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	raw, err := crypto.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := crypto.NewKeyRing(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := mail.NewOutbox(d, ring, func() time.Time { return time.Now().UTC() })
	if err := out.Enqueue(ctx, d, mail.Mail{To: "ops@example.com",
		Template: "welcome", Data: map[string]any{"name": "Ops",
			"organisationName": "Ops"}}); err != nil {
		t.Fatalf("enqueue mail: %v", err)
	}
}

// clientCredentials asks for a token with the client-credentials grant
// and returns the status.
func clientCredentials(t *testing.T, base string, c e2e.Client) int {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token",
		strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func waitForMetric(t *testing.T, url, name string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if scrapeFamilies(t, url)[name] {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never appeared in /metrics", name)
}

// scrapeFamilies returns the metric families present in a scrape, with
// histogram and summary series mapped to their family.
func scrapeFamilies(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		out[family(name)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
