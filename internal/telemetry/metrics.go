package telemetry

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values fixed by the operations contract. Series for these values
// exist from the start (at zero), so rates work before the first event.
const (
	// Reasons of cerberus_sessions_ended_total.
	SessionEndLogout  = "logout"
	SessionEndExpired = "expired"
	SessionEndRevoked = "revoked"

	// Results of cerberus_logins_total.
	LoginSuccess            = "success"
	LoginInvalidCredentials = "invalid_credentials"
	LoginLocked             = "locked"
	LoginBlocked            = "blocked"
	LoginMFARequired        = "mfa_required"
	LoginMFAFailed          = "mfa_failed"
	LoginEnrollmentRequired = "enrollment_required"
)

// httpBuckets spans fast cached answers (5 ms) to the slowest requests we
// let run (10 s), in seconds.
var httpBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// hashWaitBuckets covers the wait for a password-hashing slot, from none to
// the 5 s after which the request gives up, in seconds.
var hashWaitBuckets = []float64{
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// Metrics holds every Prometheus metric of Cerberus IAM in one registry of
// its own. Services keep a *Metrics and update its fields; nothing is
// registered globally, so several instances can live in one process (tests).
type Metrics struct {
	// Registry holds all metrics below plus the Go and process collectors.
	Registry *prometheus.Registry

	// HTTPRequests counts requests by method, route, status_class.
	HTTPRequests *prometheus.CounterVec
	// HTTPDuration observes request latency by method, route,
	// status_class.
	HTTPDuration *prometheus.HistogramVec

	// ActiveSessions is the number of live sessions, refreshed by a worker.
	ActiveSessions prometheus.Gauge
	// SessionsCreated counts new sessions.
	SessionsCreated prometheus.Counter
	// SessionsEnded counts ended sessions by reason (logout, expired,
	// revoked).
	SessionsEnded *prometheus.CounterVec

	// Logins counts login attempts by result.
	Logins *prometheus.CounterVec
	// MFAVerifications counts second-factor checks by method and result.
	MFAVerifications *prometheus.CounterVec

	// TokensIssued counts issued tokens by grant_type and token_type.
	TokensIssued *prometheus.CounterVec
	// TokensRefreshed counts successful refresh-token rotations.
	TokensRefreshed prometheus.Counter
	// TokensRevoked counts revoked tokens.
	TokensRevoked prometheus.Counter
	// RefreshTokenReuse counts replays of already rotated refresh tokens.
	RefreshTokenReuse prometheus.Counter

	// RateLimited counts refused requests by limiter.
	RateLimited *prometheus.CounterVec
	// PasswordHashWait observes the wait for a password-hashing slot.
	PasswordHashWait prometheus.Histogram
	// WebhookDeliveries counts webhook delivery attempts by result.
	WebhookDeliveries *prometheus.CounterVec
	// Emails counts outgoing mail by result.
	Emails *prometheus.CounterVec
	// LogExportDropped counts log records lost by remote export.
	LogExportDropped prometheus.Counter

	mu     sync.Mutex
	dbPool prometheus.Collector
}

// NewMetrics creates the registry and every metric, and sets
// cerberus_build_info{version,commit} to 1.
func NewMetrics(version, commit string) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.initHTTP()
	m.initSessions()
	m.initTokens()
	m.initOther()

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cerberus_build_info",
		Help: "Always 1; labels carry the running version and commit.",
	}, []string{"version", "commit"})
	build.WithLabelValues(version, commit).Set(1)

	m.Registry.MustRegister(
		build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// counterVec creates and registers a counter family.
func (m *Metrics) counterVec(name, help string,
	labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(
		prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(c)
	return c
}

// counter creates and registers a counter without labels.
func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.Registry.MustRegister(c)
	return c
}

// initHTTP creates the request metrics.
func (m *Metrics) initHTTP() {
	labels := []string{"method", "route", "status_class"}
	m.HTTPRequests = m.counterVec("http_requests_total",
		"HTTP requests served, by method, route pattern and status class.",
		labels...)
	m.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds",
		Help: "Time from request arrival to the end of the response, " +
			"by method, route pattern and status class.",
		Buckets: httpBuckets,
	}, labels)
	m.Registry.MustRegister(m.HTTPDuration)
}

// initSessions creates the session and login metrics.
func (m *Metrics) initSessions() {
	m.ActiveSessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cerberus_active_sessions",
		Help: "Sessions not yet expired or ended, counted every 60 s.",
	})
	m.Registry.MustRegister(m.ActiveSessions)
	m.SessionsCreated = m.counter("cerberus_sessions_created_total",
		"Sessions created by a successful sign-in.")
	m.SessionsEnded = m.counterVec("cerberus_sessions_ended_total",
		"Sessions ended, by reason: logout, expired or revoked.", "reason")
	for _, r := range []string{
		SessionEndLogout, SessionEndExpired, SessionEndRevoked,
	} {
		m.SessionsEnded.WithLabelValues(r)
	}

	m.Logins = m.counterVec("cerberus_logins_total",
		"Password sign-in attempts, by result.", "result")
	for _, r := range []string{
		LoginSuccess, LoginInvalidCredentials, LoginLocked, LoginBlocked,
		LoginMFARequired, LoginMFAFailed, LoginEnrollmentRequired,
	} {
		m.Logins.WithLabelValues(r)
	}
	m.MFAVerifications = m.counterVec("cerberus_mfa_verifications_total",
		"Second-factor verifications, by method (totp, backup_code) "+
			"and result.", "method", "result")
}

// initTokens creates the OAuth token metrics.
func (m *Metrics) initTokens() {
	m.TokensIssued = m.counterVec("cerberus_tokens_issued_total",
		"Tokens issued by the token endpoint, by grant type and token type.",
		"grant_type", "token_type")
	m.TokensRefreshed = m.counter("cerberus_tokens_refreshed_total",
		"Refresh tokens successfully exchanged for new tokens.")
	m.TokensRevoked = m.counter("cerberus_tokens_revoked_total",
		"Access and refresh tokens revoked.")
	m.RefreshTokenReuse = m.counter("cerberus_refresh_token_reuse_total",
		"Presentations of an already rotated refresh token; each one "+
			"revokes its token family.")
}

// initOther creates the rate-limit, hashing, delivery and export metrics.
func (m *Metrics) initOther() {
	m.RateLimited = m.counterVec("cerberus_rate_limited_total",
		"Requests refused with 429, by limiter.", "limiter")
	m.PasswordHashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cerberus_password_hash_wait_seconds",
		Help: "Time spent waiting for a password-hashing slot " +
			"before hashing or verifying.",
		Buckets: hashWaitBuckets,
	})
	m.Registry.MustRegister(m.PasswordHashWait)
	m.WebhookDeliveries = m.counterVec("cerberus_webhook_deliveries_total",
		"Webhook delivery attempts, by result.", "result")
	m.Emails = m.counterVec("cerberus_emails_total",
		"Outgoing mail processed by the outbox worker, by result.", "result")
	m.LogExportDropped = m.counter("cerberus_log_export_dropped_total",
		"Log records not delivered to the remote collector: buffer full "+
			"or delivery failed after retries.")
}

// Handler serves the registry in the Prometheus text format. A metric that
// fails to collect is left out rather than failing the whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// StatusClass returns the status class label of an HTTP status code:
// "1xx" to "5xx", or "unknown" outside 100–599.
func StatusClass(code int) string {
	if code < 100 || code > 599 {
		return "unknown"
	}
	return strconv.Itoa(code/100) + "xx"
}
