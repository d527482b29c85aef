package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// UserAgent is the User-Agent of every delivery.
const UserAgent = "Cerberus-Webhooks/1.0"

// Bounds of what a delivery keeps of an answer.
const (
	maxResponseBody = 1024
	maxErrorLength  = 500
)

// target is what an attempt needs of an endpoint.
type target struct {
	url            string
	active         bool
	secret         string
	previous       *string
	previousExpiry *time.Time
}

// outcome is the result of one attempt.
type outcome struct {
	status  int
	elapsed time.Duration
	body    string
	err     error
}

func (o outcome) ok() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

// deliver makes one attempt of a claimed row and records it. It runs to
// completion even when ctx ends meanwhile, so shutdown loses no record.
func (w *Worker) deliver(ctx context.Context, r claimed) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*w.opts.Timeout)
	defer cancel()
	t, err := loadTarget(ctx, w.db, r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the endpoint was deleted with its deliveries
	}
	if err != nil {
		return err
	}
	if !t.active {
		return w.recordDropped(ctx, r)
	}
	secrets, err := w.secrets(t)
	if err != nil {
		return err
	}
	out := w.post(ctx, r, t.url, secrets)
	if out.ok() {
		return w.recordSuccess(ctx, r, out)
	}
	return w.recordFailure(ctx, r, out)
}

func loadTarget(ctx context.Context, q db.Querier, r claimed) (target, error) {
	var t target
	err := q.QueryRowContext(ctx, `SELECT url, is_active, secret, previous_secret,
		previous_secret_expires_at FROM webhook_endpoints
		WHERE id = $1 AND organisation_id = $2`, r.endpointID, r.orgID).
		Scan(&t.url, &t.active, &t.secret, &t.previous, db.NullTime(&t.previousExpiry))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("read webhook %s: %w", r.endpointID, err)
	}
	return t, err
}

// secrets opens the signing secrets of t: the current one, then the
// previous one while it is still valid.
func (w *Worker) secrets(t target) ([]string, error) {
	cur, err := w.keys.OpenString(t.secret)
	if err != nil {
		return nil, fmt.Errorf("open webhook secret: %w", err)
	}
	out := []string{cur}
	if t.previous != nil && t.previousExpiry != nil && w.now().Before(*t.previousExpiry) {
		prev, err := w.keys.OpenString(*t.previous)
		if err != nil {
			return nil, fmt.Errorf("open previous webhook secret: %w", err)
		}
		out = append(out, prev)
	}
	return out, nil
}

// post sends the stored envelope of r to u, signed with secrets.
func (w *Worker) post(ctx context.Context, r claimed, u string, secrets []string) outcome {
	body := []byte(r.payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return outcome{err: errors.New("invalid webhook URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("X-Cerberus-Event", r.eventType)
	req.Header.Set("X-Cerberus-Delivery", r.id)
	req.Header.Set("X-Cerberus-Signature", Sign(w.now(), body, secrets...))
	start := time.Now()
	resp, err := w.client.Do(req)
	elapsed := time.Since(start)
	if err != nil {
		return outcome{elapsed: elapsed, err: err}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	return outcome{status: resp.StatusCode, elapsed: time.Since(start), body: clean(head)}
}

// clean makes a response excerpt storable as text: valid UTF-8 without
// NUL characters, still within maxResponseBody bytes.
func clean(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	for len(s) > maxResponseBody {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// describe is the caller-safe error of a failed attempt: the status, or
// the cause of a transport failure without the URL (which may carry
// credentials).
func describe(o outcome) string {
	if o.err == nil {
		return "HTTP " + strconv.Itoa(o.status)
	}
	if errors.Is(o.err, ErrPrivateTarget) {
		return ErrPrivateTarget.Error()
	}
	var ue *url.Error
	if errors.As(o.err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		return truncate(ue.Err.Error())
	}
	return truncate(o.err.Error())
}

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

// recordSuccess marks r succeeded and resets its endpoint's failure count.
// Nothing is written when r's lease was lost to another worker.
func (w *Worker) recordSuccess(ctx context.Context, r claimed, o outcome) error {
	now := w.now().UTC().Truncate(time.Millisecond)
	err := w.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1,
			attempts = attempts + 1, last_attempt_at = $2, next_attempt_at = NULL,
			locked_until = NULL, response_status = $3, response_time_ms = $4,
			response_body = $5, error = NULL, completed_at = $2, updated_at = $2
			WHERE id = $6 AND status = $7 AND locked_until = $8`,
			StatusSucceeded, now, o.status, o.elapsed.Milliseconds(), o.body, r.id,
			StatusPending, r.lease)
		if err != nil || !affected(res) {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failure_count = 0,
			last_delivery_at = $1 WHERE id = $2`, now, r.endpointID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", r.id, err)
	}
	w.opts.Result(ResultSuccess)
	w.log.Debug("webhook delivered", "delivery_id", r.id, "endpoint_id", r.endpointID,
		"status", o.status)
	return nil
}

func affected(res sql.Result) bool {
	n, _ := res.RowsAffected()
	return n > 0
}

// recordFailure schedules the next attempt of r, or marks it failed after
// the last one, counting the failure on its endpoint.
func (w *Worker) recordFailure(ctx context.Context, r claimed, o outcome) error {
	now := w.now().UTC().Truncate(time.Millisecond)
	attempts := r.attempts + 1
	status, result := StatusFailed, ResultFailed
	var next, completed *time.Time
	if attempts < MaxAttempts {
		status, result = StatusPending, ResultRetry
		t := now.Add(Schedule[attempts])
		next = &t
	} else {
		completed = &now
	}
	var respStatus *int
	if o.err == nil {
		respStatus = &o.status
	}
	err := w.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1,
			attempts = $2, last_attempt_at = $3, next_attempt_at = $4, locked_until = NULL,
			response_status = $5, response_time_ms = $6, response_body = $7, error = $8,
			completed_at = $9, updated_at = $3
			WHERE id = $10 AND status = $11 AND locked_until = $12`,
			status, attempts, now, next, respStatus, o.elapsed.Milliseconds(),
			nullIfEmpty(o.body), describe(o), completed, r.id, StatusPending, r.lease)
		if err != nil || !affected(res) || status != StatusFailed {
			return err
		}
		return w.countFailure(ctx, tx, r, now)
	})
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", r.id, err)
	}
	w.opts.Result(result)
	w.log.Info("webhook attempt failed", "delivery_id", r.id, "endpoint_id", r.endpointID,
		"attempts", attempts, "result", result, "error", describe(o))
	return nil
}

// countFailure adds a failed delivery to the endpoint's count and
// disables it when the count reaches DisableAfter: its pending deliveries
// fail with "endpoint disabled" and webhook.disabled is recorded.
func (w *Worker) countFailure(ctx context.Context, tx *sql.Tx, r claimed,
	now time.Time) error {
	var count int
	var active bool
	var client *string
	err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints
		SET failure_count = failure_count + 1 WHERE id = $1
		RETURNING failure_count, is_active, client_id`, r.endpointID).
		Scan(&count, &active, &client)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil || count < DisableAfter || !active {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET is_active = FALSE,
		disabled_at = $1, updated_at = $1 WHERE id = $2`, now, r.endpointID); err != nil {
		return err
	}
	dropped, err := failPending(ctx, tx, r.endpointID, now)
	if err != nil {
		return err
	}
	w.log.Warn("webhook endpoint disabled after repeated failures",
		"endpoint_id", r.endpointID, "org_id", r.orgID, "dropped", dropped)
	ev := event.Event{Type: "webhook.disabled", OrganisationID: r.orgID,
		ResourceType: "webhook", ResourceID: r.endpointID, Metadata: map[string]any{
			"failureCount": count, "droppedDeliveries": dropped}}
	if client != nil {
		ev.ClientID = *client
	}
	return w.events.Record(event.WithActor(ctx, event.SystemActor), tx, ev)
}

// recordDropped ends a row whose endpoint is no longer active.
func (w *Worker) recordDropped(ctx context.Context, r claimed) error {
	now := w.now().UTC().Truncate(time.Millisecond)
	_, err := w.db.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1,
		error = $2, next_attempt_at = NULL, locked_until = NULL, completed_at = $3,
		updated_at = $3 WHERE id = $4 AND status = $5 AND locked_until = $6`,
		StatusFailed, ErrorEndpointDisabled, now, r.id, StatusPending, r.lease)
	if err != nil {
		return fmt.Errorf("drop delivery %s: %w", r.id, err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
