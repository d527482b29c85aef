package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// retrySchedule is the wait before each retry of a failed delivery; after
// the last one the row is marked failed.
var retrySchedule = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour,
}

// maxSendTime bounds one delivery, whatever the Sender does. The SMTP
// sender gives up sooner (30 s by default).
const maxSendTime = 2 * time.Minute

// maxErrorLength bounds last_error.
const maxErrorLength = 500

// Delivery results reported to WorkerOptions.Result.
const (
	ResultSent   = "sent"
	ResultRetry  = "retry"
	ResultFailed = "failed"
)

// WorkerOptions tune a Worker. Zero values take the defaults.
type WorkerOptions struct {
	// Batch is how many rows one claim takes (default 10).
	Batch int
	// Poll is how often Run looks for due rows without a Kick (default 5 s).
	Poll time.Duration
	// Lease is how long a claim keeps other workers off the claimed rows
	// (default 10 min). It must cover a batch of deliveries; a worker stops
	// a batch whose lease could run out during the next delivery.
	Lease time.Duration
	// Result, when set, is called with ResultSent, ResultRetry or
	// ResultFailed after each delivery attempt (the emails metric).
	Result func(result string)
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Batch <= 0 {
		o.Batch = 10
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Lease <= maxSendTime {
		o.Lease = 10 * time.Minute
	}
	if o.Result == nil {
		o.Result = func(string) {}
	}
	return o
}

// Worker delivers the mails of the outbox.
type Worker struct {
	db       *db.DB
	sealer   Sealer
	renderer *Renderer
	sender   Sender
	now      func() time.Time
	log      *slog.Logger
	opts     WorkerOptions
	kick     chan struct{}
}

// NewWorker returns a worker that opens payloads with sealer, renders them
// with r and sends them with s.
func NewWorker(d *db.DB, sealer Sealer, r *Renderer, s Sender,
	now func() time.Time, l *slog.Logger, o WorkerOptions) *Worker {
	return &Worker{
		db: d, sealer: sealer, renderer: r, sender: s, now: now, log: l,
		opts: o.withDefaults(),
		kick: make(chan struct{}, 1),
	}
}

// Kick wakes Run now, typically after a transaction that enqueued a mail
// has committed. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due mails until ctx ends, waking on Kick or every Poll. A
// delivery under way when ctx ends is finished and recorded. Errors of the
// outbox (an unreachable database) are logged and retried at the next
// wake-up; Run returns nil once ctx ends.
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
			w.log.Error("mail outbox", "error", err)
		}
		t.Reset(w.opts.Poll)
	}
}

// RunOnce delivers every mail due now, batch after batch, and returns how
// many delivery attempts it made.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		rows, lease, err := w.claim(ctx)
		if err != nil || len(rows) == 0 {
			return total, err
		}
		n, complete, err := w.deliverBatch(ctx, rows, lease)
		total += n
		if err != nil || !complete {
			return total, err
		}
	}
	return total, nil
}

// outboxRow is a claimed row.
type outboxRow struct {
	id, recipient, template, payload string
	attempts                         int
}

// claim leases up to Batch due rows to this worker and returns them with
// the end of the lease.
func (w *Worker) claim(ctx context.Context) ([]outboxRow, time.Time, error) {
	now := w.now().UTC().Truncate(time.Millisecond)
	lease := now.Add(w.opts.Lease)
	var rows []outboxRow
	err := w.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		rows, err = selectDue(ctx, tx, now, w.opts.Batch, w.db.Dialect)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `UPDATE email_outbox
				SET locked_until = $1, updated_at = $2 WHERE id = $3`,
				lease, now, r.id); err != nil {
				return fmt.Errorf("lease mail %s: %w", r.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("claim mail: %w", err)
	}
	return rows, lease, nil
}

// selectDue locks the due rows no other worker holds.
func selectDue(ctx context.Context, tx *sql.Tx, now time.Time, limit int,
	d db.Dialect) ([]outboxRow, error) {
	rs, err := tx.QueryContext(ctx, `SELECT id, recipient, template, payload,
		attempts FROM email_outbox
		WHERE status = $1 AND next_attempt_at <= $2
		AND (locked_until IS NULL OR locked_until <= $2)
		ORDER BY next_attempt_at, id LIMIT $3`+d.SkipLocked(),
		StatusPending, now, limit)
	if err != nil {
		return nil, fmt.Errorf("select due mail: %w", err)
	}
	defer rs.Close()
	var rows []outboxRow
	for rs.Next() {
		var r outboxRow
		if err := rs.Scan(&r.id, &r.recipient, &r.template, &r.payload,
			&r.attempts); err != nil {
			return nil, fmt.Errorf("scan due mail: %w", err)
		}
		rows = append(rows, r)
	}
	return rows, rs.Err()
}

// deliverBatch delivers claimed rows one by one. It stops early, releasing
// the rows it did not try, when ctx ends or when the lease could run out
// during the next delivery; complete is false then.
func (w *Worker) deliverBatch(ctx context.Context, rows []outboxRow,
	lease time.Time) (n int, complete bool, err error) {
	for i, r := range rows {
		if ctx.Err() != nil || w.now().Add(maxSendTime).After(lease) {
			return n, false, w.release(rows[i:], lease)
		}
		if err := w.deliver(ctx, r); err != nil {
			return n, false, errors.Join(err, w.release(rows[i+1:], lease))
		}
		n++
	}
	return n, true, nil
}

// deliver sends one row and records the outcome. The send and the record
// run to completion even if ctx ends meanwhile.
func (w *Worker) deliver(ctx context.Context, r outboxRow) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxSendTime)
	defer cancel()
	if err := w.send(ctx, r); err != nil {
		return w.recordFailure(ctx, r, err)
	}
	return w.recordSent(ctx, r)
}

// send opens, renders and sends a row.
func (w *Worker) send(ctx context.Context, r outboxRow) error {
	data, err := openPayload(w.sealer, r.payload)
	if err != nil {
		return err
	}
	m, err := w.renderer.Render(r.template, r.recipient, data)
	if err != nil {
		return err
	}
	return w.sender.Send(ctx, m)
}

// recordSent marks a row sent. The status condition keeps a row that
// another worker recorded after a lost lease from being counted twice.
func (w *Worker) recordSent(ctx context.Context, r outboxRow) error {
	now := w.now().UTC().Truncate(time.Millisecond)
	_, err := w.db.ExecContext(ctx, `UPDATE email_outbox
		SET status = $1, sent_at = $2, attempts = attempts + 1,
		locked_until = NULL, last_error = NULL, updated_at = $2
		WHERE id = $3 AND status = $4`,
		StatusSent, now, r.id, StatusPending)
	if err != nil {
		return fmt.Errorf("record mail %s sent: %w", r.id, err)
	}
	w.opts.Result(ResultSent)
	w.log.Debug("mail sent", "mail_id", r.id, "template", r.template)
	return nil
}

// recordFailure schedules the next attempt of a row, or marks it failed
// after the last one.
func (w *Worker) recordFailure(ctx context.Context, r outboxRow, cause error) error {
	now := w.now().UTC().Truncate(time.Millisecond)
	attempts := r.attempts + 1
	status, next, result := StatusFailed, sql.NullTime{}, ResultFailed
	if attempts <= len(retrySchedule) {
		status, result = StatusPending, ResultRetry
		next = sql.NullTime{Time: now.Add(retrySchedule[attempts-1]), Valid: true}
	}
	_, err := w.db.ExecContext(ctx, `UPDATE email_outbox
		SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4,
		locked_until = NULL, updated_at = $5
		WHERE id = $6 AND status = $7`,
		status, attempts, nullTime(next), truncate(cause.Error()), now, r.id,
		StatusPending)
	if err != nil {
		return fmt.Errorf("record mail %s failure: %w", r.id, err)
	}
	w.opts.Result(result)
	w.logFailure(r, attempts, result, cause)
	return nil
}

func (w *Worker) logFailure(r outboxRow, attempts int, result string, cause error) {
	attrs := []any{"mail_id", r.id, "template", r.template,
		"attempts", attempts, "error", cause}
	if result == ResultFailed {
		w.log.Error("mail delivery failed, giving up", attrs...)
		return
	}
	w.log.Warn("mail delivery failed, will retry", attrs...)
}

// release gives claimed rows back before their lease ends.
func (w *Worker) release(rows []outboxRow, lease time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range rows {
		if _, err := w.db.ExecContext(ctx, `UPDATE email_outbox
			SET locked_until = NULL WHERE id = $1 AND locked_until = $2`,
			r.id, lease); err != nil {
			return fmt.Errorf("release mail %s: %w", r.id, err)
		}
	}
	return nil
}

// nullTime passes a nullable time so that SQLite stores it in TimeLayout.
func nullTime(t sql.NullTime) any {
	if !t.Valid {
		return nil
	}
	return t.Time
}

// truncate bounds an error message for last_error, on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxErrorLength {
		return s
	}
	s = s[:maxErrorLength]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
