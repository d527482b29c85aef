package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Schedule is the wait before each attempt of a delivery, counted from
// the failure of the previous one: the first attempt is immediate, the
// seventh comes 24 h after the sixth failed. After the last attempt fails
// the delivery is marked failed.
var Schedule = []time.Duration{0, time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour}

// MaxAttempts is the number of attempts of a delivery.
var MaxAttempts = len(Schedule)

// Results of delivery attempts, the labels of
// cerberus_webhook_deliveries_total.
const (
	ResultSuccess = "success"
	ResultRetry   = "retry"
	ResultFailed  = "failed"
)

// WorkerOptions tune a Worker; zero values take the defaults.
type WorkerOptions struct {
	// Concurrency is how many deliveries run at once (default 8); one
	// claim takes that many rows.
	Concurrency int
	// Poll is how often Run looks for due rows without a Kick (default 1 s).
	Poll time.Duration
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Lease is how long a claim keeps other workers off its rows (default
	// 1 min); it must exceed Timeout. A row whose worker died is retried
	// once its lease has run out.
	Lease time.Duration
	// Result, when set, is called with ResultSuccess, ResultRetry or
	// ResultFailed after each attempt.
	Result func(result string)
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Lease <= o.Timeout {
		o.Lease = max(time.Minute, 2*o.Timeout)
	}
	if o.Result == nil {
		o.Result = func(string) {}
	}
	return o
}

// Worker delivers the webhook outbox.
type Worker struct {
	db     *db.DB
	keys   *crypto.KeyRing
	events *event.Recorder
	now    func() time.Time
	log    *slog.Logger
	opts   WorkerOptions
	client *http.Client
	kick   chan struct{}
}

// NewWorker returns a worker that connects through guard, opens endpoint
// secrets with keys and records webhook.disabled with events.
func NewWorker(d *db.DB, keys *crypto.KeyRing, events *event.Recorder, guard *Guard,
	now func() time.Time, l *slog.Logger, o WorkerOptions) *Worker {
	o = o.withDefaults()
	return &Worker{db: d, keys: keys, events: events, now: now, log: l, opts: o,
		client: newClient(guard, o.Timeout), kick: make(chan struct{}, 1)}
}

// newClient is the HTTP client of deliveries: every connection through the
// guard, no proxy, no redirects followed, one timeout per attempt.
func newClient(guard *Guard, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           guard.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
}

// Kick wakes Run now, typically after queuing a delivery. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due rows until ctx ends, waking on Kick or every Poll.
// Attempts under way when ctx ends are finished and recorded. Errors (an
// unreachable database) are logged and retried at the next wake-up; Run
// returns nil once ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-t.C:
		}
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("webhook outbox", "error", err.Error())
		}
		t.Reset(w.opts.Poll)
	}
}

// RunOnce makes every attempt due now, claim after claim, and returns how
// many it made.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		rows, err := w.claim(ctx)
		if err != nil || len(rows) == 0 {
			return total, err
		}
		var wg sync.WaitGroup
		errs := make([]error, len(rows))
		for i, r := range rows {
			wg.Go(func() { errs[i] = w.deliver(ctx, r) })
		}
		wg.Wait()
		total += len(rows)
		for _, err := range errs {
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// claimed is a delivery leased to this worker until lease.
type claimed struct {
	id, endpointID, orgID, eventType, payload string
	attempts                                  int
	lease                                     time.Time
}

// claim leases up to Concurrency due rows to this worker. On PostgreSQL
// rows locked by a concurrent claim are skipped; SQLite serialises
// writers.
func (w *Worker) claim(ctx context.Context) ([]claimed, error) {
	now := w.now().UTC().Truncate(time.Millisecond)
	lease := now.Add(w.opts.Lease)
	var rows []claimed
	err := w.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		rows, err = selectDue(ctx, tx, now, w.opts.Concurrency, w.db.Dialect)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].lease = lease
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries
				SET locked_until = $1, updated_at = $2 WHERE id = $3`,
				lease, now, rows[i].id); err != nil {
				return fmt.Errorf("lease delivery %s: %w", rows[i].id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return rows, nil
}

// selectDue locks the due rows that no live lease holds.
func selectDue(ctx context.Context, tx *sql.Tx, now time.Time, limit int,
	d db.Dialect) ([]claimed, error) {
	rs, err := tx.QueryContext(ctx, `SELECT id, endpoint_id, organisation_id,
		event_type, payload, attempts FROM webhook_deliveries
		WHERE status = $1 AND next_attempt_at <= $2
		AND (locked_until IS NULL OR locked_until <= $2)
		ORDER BY next_attempt_at, id LIMIT $3`+d.SkipLocked(),
		StatusPending, now, limit)
	if err != nil {
		return nil, fmt.Errorf("select due deliveries: %w", err)
	}
	defer rs.Close()
	var rows []claimed
	for rs.Next() {
		var r claimed
		var payload []byte
		if err := rs.Scan(&r.id, &r.endpointID, &r.orgID, &r.eventType, &payload,
			&r.attempts); err != nil {
			return nil, fmt.Errorf("scan due delivery: %w", err)
		}
		r.payload = string(payload)
		rows = append(rows, r)
	}
	return rows, rs.Err()
}
