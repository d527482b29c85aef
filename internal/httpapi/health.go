package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Health serves the probes: /health (liveness), /health/ready (database,
// migrations, signing keys) and /health/db.
type Health struct {
	DB *db.DB
	// Draining turns every probe to 503 "shutting_down".
	Draining *atomic.Bool
	// SigningKeys checks that signing keys are usable; nil leaves the check
	// out of the readiness answer.
	SigningKeys func(ctx context.Context) error
	Now         func() time.Time
}

// probeTimeout bounds each database check of a probe.
const probeTimeout = 2 * time.Second

// schemaUnreadable is the error of the migrations check when the schema
// version cannot be read.
const schemaUnreadable = "schema version unreadable"

// Register adds the probe routes to rt. They are not rate limited.
func (h *Health) Register(rt *Router) {
	opts := []Option{Limit(LimitNone)}
	rt.Handle(http.MethodGet, "/health", h.live, opts...)
	rt.Handle(http.MethodGet, "/health/ready", h.ready, opts...)
	rt.Handle(http.MethodGet, "/health/db", h.database, opts...)
}

func (h *Health) stamp() string { return db.FormatTime(h.Now()) }

func (h *Health) draining(w http.ResponseWriter) bool {
	if h.Draining == nil || !h.Draining.Load() {
		return false
	}
	WriteJSON(w, http.StatusServiceUnavailable,
		map[string]string{"status": "shutting_down", "timestamp": h.stamp()})
	return true
}

func (h *Health) live(w http.ResponseWriter, _ *http.Request) error {
	if h.draining(w) {
		return nil
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "timestamp": h.stamp()})
	return nil
}

type check struct {
	Status     string `json:"status"`
	DurationMs *int64 `json:"durationMs,omitempty"`
	Version    *int64 `json:"version,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) error {
	if h.draining(w) {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	checks := map[string]check{"database": h.checkDatabase(ctx)}
	// Without the database the schema version cannot be read either.
	checks["migrations"] = check{Status: "error", Error: schemaUnreadable}
	if checks["database"].Status == "ok" {
		checks["migrations"] = h.checkMigrations(ctx)
	}
	if h.SigningKeys != nil {
		c := check{Status: "ok"}
		if err := h.SigningKeys(ctx); err != nil {
			c = check{Status: "error", Error: "no usable signing key"}
		}
		checks["signingKeys"] = c
	}
	status, code := "ok", http.StatusOK
	for _, c := range checks {
		if c.Status != "ok" {
			status, code = "error", http.StatusServiceUnavailable
		}
	}
	WriteJSON(w, code, map[string]any{"status": status, "checks": checks,
		"timestamp": h.stamp()})
	return nil
}

func (h *Health) checkDatabase(ctx context.Context) check {
	start := time.Now()
	err := h.DB.Ping(ctx)
	ms := time.Since(start).Milliseconds()
	if err != nil {
		return check{Status: "error", DurationMs: &ms, Error: "database unreachable"}
	}
	return check{Status: "ok", DurationMs: &ms}
}

func (h *Health) checkMigrations(ctx context.Context) check {
	st, err := h.DB.Schema(ctx)
	if err != nil {
		return check{Status: "error", Error: schemaUnreadable}
	}
	v := st.Current
	if st.Behind() {
		return check{Status: "error", Version: &v, Error: "schema behind the binary"}
	}
	return check{Status: "ok", Version: &v}
}

func (h *Health) database(w http.ResponseWriter, r *http.Request) error {
	if h.draining(w) {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	start := time.Now()
	var one int
	err := h.DB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	if err != nil {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error",
			"database": "disconnected", "error": "database unreachable",
			"timestamp": h.stamp()})
		return nil
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "database": "connected",
		"queryDurationMs": time.Since(start).Milliseconds(), "timestamp": h.stamp()})
	return nil
}
