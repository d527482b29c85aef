package telemetry_test

import (
	"database/sql"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// contractMetrics are the metric names operations.md §6 promises.
var contractMetrics = []string{
	"http_requests_total",
	"http_request_duration_seconds",
	"cerberus_db_pool_open_connections",
	"cerberus_db_pool_in_use",
	"cerberus_db_pool_idle",
	"cerberus_db_pool_max",
	"cerberus_db_pool_wait_total",
	"cerberus_db_pool_wait_seconds_total",
	"cerberus_active_sessions",
	"cerberus_sessions_created_total",
	"cerberus_sessions_ended_total",
	"cerberus_logins_total",
	"cerberus_mfa_verifications_total",
	"cerberus_tokens_issued_total",
	"cerberus_tokens_refreshed_total",
	"cerberus_tokens_revoked_total",
	"cerberus_refresh_token_reuse_total",
	"cerberus_rate_limited_total",
	"cerberus_password_hash_wait_seconds",
	"cerberus_webhook_deliveries_total",
	"cerberus_emails_total",
	"cerberus_log_export_dropped_total",
	"cerberus_build_info",
}

// scrape returns the text exposition served by m.Handler.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape status %d", rec.Code)
	}
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatalf("read scrape: %v", err)
	}
	return string(body)
}

// fakePool returns fixed pool statistics.
func fakePool() sql.DBStats {
	return sql.DBStats{
		MaxOpenConnections: 9, OpenConnections: 5, InUse: 3, Idle: 2,
		WaitCount: 7, WaitDuration: 1500 * time.Millisecond,
	}
}

// observeEach touches every metric once, with representative labels.
func observeEach(m *telemetry.Metrics) {
	m.HTTPRequests.WithLabelValues("GET", "/v1/me", "2xx").Inc()
	m.HTTPDuration.WithLabelValues("GET", "/v1/me", "2xx").Observe(0.02)
	m.ActiveSessions.Set(4)
	m.SessionsCreated.Inc()
	m.SessionsEnded.WithLabelValues(telemetry.SessionEndLogout).Inc()
	m.Logins.WithLabelValues(telemetry.LoginSuccess).Inc()
	m.MFAVerifications.WithLabelValues("totp", "success").Inc()
	m.TokensIssued.WithLabelValues("client_credentials", "access_token").Inc()
	m.TokensRefreshed.Inc()
	m.TokensRevoked.Inc()
	m.RefreshTokenReuse.Inc()
	m.RateLimited.WithLabelValues("auth").Inc()
	m.PasswordHashWait.Observe(0.003)
	m.WebhookDeliveries.WithLabelValues("success").Inc()
	m.Emails.WithLabelValues("sent").Inc()
	m.LogExportDropped.Add(2)
}

func TestMetricsExposeEveryContractName(t *testing.T) {
	m := telemetry.NewMetrics("1.2.3", "abc1234")
	m.RegisterDBPool(fakePool)
	observeEach(m)
	text := scrape(t, m)

	for _, name := range contractMetrics {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("metric %s missing from the scrape", name)
		}
		if !strings.Contains(text, "# HELP "+name+" ") {
			t.Errorf("metric %s has no help text", name)
		}
	}
	for _, series := range []string{
		`cerberus_build_info{commit="abc1234",version="1.2.3"} 1`,
		`http_requests_total{method="GET",route="/v1/me",status_class="2xx"} 1`,
		`cerberus_mfa_verifications_total{method="totp",result="success"} 1`,
		`cerberus_tokens_issued_total{grant_type="client_credentials",` +
			`token_type="access_token"} 1`,
		`cerberus_rate_limited_total{limiter="auth"} 1`,
		`cerberus_log_export_dropped_total 2`,
		`cerberus_active_sessions 4`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, series) {
			t.Errorf("series %s missing from the scrape", series)
		}
	}
}

func TestMetricsBuckets(t *testing.T) {
	m := telemetry.NewMetrics("v", "c")
	observeEach(m)
	text := scrape(t, m)
	for _, le := range []string{"0.005", "0.01", "0.1", "1", "2.5", "10"} {
		want := `http_request_duration_seconds_bucket{method="GET",` +
			`route="/v1/me",status_class="2xx",le="` + le + `"}`
		if !strings.Contains(text, want) {
			t.Errorf("bucket le=%s missing", le)
		}
	}
	if !strings.Contains(text, `cerberus_password_hash_wait_seconds_bucket{le="5"}`) {
		t.Error("password hash wait has no 5 s bucket")
	}
}

func TestContractLabelValuesStartAtZero(t *testing.T) {
	text := scrape(t, telemetry.NewMetrics("v", "c"))
	for _, series := range []string{
		`cerberus_sessions_ended_total{reason="expired"} 0`,
		`cerberus_sessions_ended_total{reason="revoked"} 0`,
		`cerberus_logins_total{result="enrollment_required"} 0`,
		`cerberus_logins_total{result="invalid_credentials"} 0`,
	} {
		if !strings.Contains(text, series) {
			t.Errorf("series %s missing before any observation", series)
		}
	}
}

func TestDBPoolCollectorReadsStatsAtScrape(t *testing.T) {
	m := telemetry.NewMetrics("v", "c")
	calls := 0
	m.RegisterDBPool(func() sql.DBStats {
		calls++
		return fakePool()
	})
	text := scrape(t, m)

	for _, series := range []string{
		"cerberus_db_pool_open_connections 5",
		"cerberus_db_pool_in_use 3",
		"cerberus_db_pool_idle 2",
		"cerberus_db_pool_max 9",
		"cerberus_db_pool_wait_total 7",
		"cerberus_db_pool_wait_seconds_total 1.5",
		"# TYPE cerberus_db_pool_in_use gauge",
		"# TYPE cerberus_db_pool_wait_total counter",
		"# TYPE cerberus_db_pool_wait_seconds_total counter",
	} {
		if !strings.Contains(text, series+"\n") {
			t.Errorf("%q missing from the scrape", series)
		}
	}
	if calls != 1 {
		t.Errorf("stats read %d times in one scrape, want 1", calls)
	}

	// Registering a new pool replaces the old one instead of panicking.
	m.RegisterDBPool(func() sql.DBStats { return sql.DBStats{InUse: 8} })
	if text := scrape(t, m); !strings.Contains(text,
		"cerberus_db_pool_in_use 8\n") {
		t.Error("second RegisterDBPool did not replace the first")
	}
}

func TestMetricsInstancesAreIndependent(t *testing.T) {
	a, b := telemetry.NewMetrics("v", "c"), telemetry.NewMetrics("v", "c")
	a.TokensRevoked.Inc()
	if strings.Contains(scrape(t, b), "cerberus_tokens_revoked_total 1") {
		t.Error("an observation on one Metrics shows in another")
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{
		101: "1xx", 200: "2xx", 204: "2xx", 302: "3xx", 404: "4xx",
		429: "4xx", 500: "5xx", 503: "5xx", 0: "unknown", 600: "unknown",
	} {
		if got := telemetry.StatusClass(code); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
