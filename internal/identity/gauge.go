package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// GaugeInterval is how often the active-sessions gauge is refreshed.
const GaugeInterval = 60 * time.Second

// SessionGauge keeps cerberus_active_sessions up to date: the number of
// sessions before their absolute expiry and within their idle limit.
type SessionGauge struct {
	db       *db.DB
	metrics  *telemetry.Metrics
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration
}

// NewSessionGauge returns a gauge worker refreshing every GaugeInterval.
func NewSessionGauge(d *db.DB, m *telemetry.Metrics, now func() time.Time,
	l *slog.Logger) *SessionGauge {
	return &SessionGauge{db: d, metrics: m, now: now, log: l, interval: GaugeInterval}
}

// Run refreshes the gauge at once and then every interval until ctx ends.
// A failed count is logged and retried at the next tick.
func (g *SessionGauge) Run(ctx context.Context) error {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		if n, err := g.Count(ctx); err == nil {
			g.metrics.ActiveSessions.Set(float64(n))
		} else if ctx.Err() == nil {
			g.log.Warn("count active sessions", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Count returns the number of active sessions now. Idle limits differ per
// session, so rows before their absolute expiry are read and the idle
// check is made here.
func (g *SessionGauge) Count(ctx context.Context) (int, error) {
	now := g.now().UTC()
	rows, err := g.db.QueryContext(ctx, `SELECT last_activity_at, idle_timeout
		FROM sessions WHERE expires_at > $1`, now)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var last time.Time
		var idle int
		if err := rows.Scan(db.Time(&last), &idle); err != nil {
			return 0, fmt.Errorf("count sessions: %w", err)
		}
		if now.Sub(last) <= time.Duration(idle)*time.Second {
			n++
		}
	}
	return n, rows.Err()
}
