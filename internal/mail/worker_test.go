package mail

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

// rig is an outbox, a worker and a real SMTP server around one database.
type rig struct {
	d       *db.DB
	clock   *clock
	sealer  *testSealer
	outbox  *Outbox
	smtp    *mailtest.Server
	results *results
	logs    *logBuffer
	worker  *Worker
}

func newRig(t *testing.T, d *db.DB) *rig {
	t.Helper()
	r := &rig{d: d, clock: newClock(), sealer: newTestSealer(t),
		smtp: mailtest.Start(t), results: newResults(), logs: &logBuffer{}}
	r.outbox = NewOutbox(d, r.sealer, r.clock.Now)
	r.worker = r.newWorker(t, d, WorkerOptions{Batch: 2})
	return r
}

func (r *rig) newWorker(t *testing.T, d *db.DB, o WorkerOptions) *Worker {
	t.Helper()
	sender, err := NewSMTPSender(SMTPConfig{Host: r.smtp.Host(), Port: r.smtp.Port(),
		From: "Cerberus <no-reply@example.test>"})
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	o.Result = r.results.add
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{
		Level: slog.LevelDebug}))
	return NewWorker(d, r.sealer, newTestRenderer(t), sender, r.clock.Now, logger, o)
}

// enqueueResets queues a password reset mail to user<i>@example.test for
// each i below n, with token token-<i>.
func (r *rig) enqueueResets(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		err := r.outbox.Enqueue(context.Background(), nil, Mail{
			To:       fmt.Sprintf("user%d@example.test", i),
			Template: TemplatePasswordReset,
			Data:     map[string]any{"token": fmt.Sprintf("token-%d", i)},
		})
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
}

func (r *rig) runOnce(t *testing.T, w *Worker, want int) {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if n != want {
		t.Fatalf("RunOnce made %d attempts, want %d", n, want)
	}
}

// checkDeliveredOnce checks that each of the n reset mails arrived exactly
// once, with its own link.
func (r *rig) checkDeliveredOnce(t *testing.T, n int) {
	t.Helper()
	if got := len(r.smtp.Messages()); got != n {
		t.Fatalf("server received %d messages, want %d", got, n)
	}
	for i := range n {
		to := fmt.Sprintf("user%d@example.test", i)
		msgs := r.smtp.To(to)
		if len(msgs) != 1 {
			t.Fatalf("%s received %d messages, want 1", to, len(msgs))
		}
		want := fmt.Sprintf("%s/reset-password?token=token-%d", testOrigin, i)
		if got := msgs[0].Link(testOrigin); got != want {
			t.Errorf("%s: link %q, want %q", to, got, want)
		}
		if msgs[0].Token() != fmt.Sprintf("token-%d", i) {
			t.Errorf("%s: token %q", to, msgs[0].Token())
		}
	}
}

func TestWorkerRetriesUntilTheServerRecovers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 5)

		r.smtp.Refuse(true)
		r.runOnce(t, r.worker, 5)
		r.runOnce(t, r.worker, 0) // nothing due before the first backoff
		rec := readOutbox(t, d, "user0@example.test")
		if rec.attempts != 1 || rec.status != StatusPending ||
			!rec.nextAttemptAt.Equal(r.clock.Now().Add(time.Minute)) ||
			!strings.Contains(rec.lastError.String, "451") {
			t.Fatalf("after a refusal: %+v, want a retry in 1 m with 451", rec)
		}

		r.clock.Add(time.Minute)
		r.runOnce(t, r.worker, 5)
		r.smtp.Refuse(false)
		r.clock.Add(5 * time.Minute)
		r.runOnce(t, r.worker, 5)
		r.checkDeliveredOnce(t, 5)

		rec = readOutbox(t, d, "user3@example.test")
		if rec.status != StatusSent || rec.attempts != 3 || rec.lockedUntil != nil ||
			rec.sentAt == nil || !rec.sentAt.Equal(r.clock.Now()) || rec.lastError.Valid {
			t.Errorf("sent row = %+v", rec)
		}
		if r.results.get(ResultRetry) != 10 || r.results.get(ResultSent) != 5 {
			t.Errorf("results = %v, want 10 retry and 5 sent", r.results.counts)
		}
	})
}

func TestWorkerNeverResendsASentMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 3)
		r.runOnce(t, r.worker, 3)

		// Even with its lease and schedule reset, a sent row stays sent.
		_, err := d.ExecContext(context.Background(), `UPDATE email_outbox
			SET locked_until = NULL, next_attempt_at = $1`, r.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		r.clock.Add(24 * time.Hour)
		r.runOnce(t, r.worker, 0)
		r.checkDeliveredOnce(t, 3)
	})
}

func TestWorkerMarksFailedAfterTheLastRetry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 1)
		r.smtp.Refuse(true)

		r.runOnce(t, r.worker, 1)
		for _, wait := range retrySchedule {
			r.clock.Add(wait - time.Millisecond)
			r.runOnce(t, r.worker, 0)
			r.clock.Add(time.Millisecond)
			r.runOnce(t, r.worker, 1)
		}
		rec := readOutbox(t, d, "user0@example.test")
		if rec.status != StatusFailed || rec.attempts != 6 || rec.lockedUntil != nil {
			t.Fatalf("row = %+v, want failed after 6 attempts", rec)
		}
		r.smtp.Refuse(false)
		r.clock.Add(30 * 24 * time.Hour)
		r.runOnce(t, r.worker, 0)
		if n := len(r.smtp.Messages()); n != 0 {
			t.Errorf("a failed mail was sent %d times", n)
		}
		if r.results.get(ResultRetry) != 5 || r.results.get(ResultFailed) != 1 {
			t.Errorf("results = %v, want 5 retry and 1 failed", r.results.counts)
		}
		if !strings.Contains(r.logs.String(), "giving up") {
			t.Errorf("final failure not logged:\n%s", r.logs.String())
		}
	})
}

func TestWorkerWaitsForAnotherWorkersLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 1)
		// A worker that claimed the row and died before sending it.
		lease := 10 * time.Minute
		_, err := d.ExecContext(context.Background(),
			"UPDATE email_outbox SET locked_until = $1", r.clock.Now().Add(lease))
		if err != nil {
			t.Fatal(err)
		}
		r.runOnce(t, r.worker, 0)
		r.clock.Add(lease)
		r.runOnce(t, r.worker, 1)
		r.checkDeliveredOnce(t, 1)
	})
}

func TestWorkerRecordsErrorsWithoutSecrets(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 1)
		// Sealed under another key: the payload cannot be opened.
		r.worker.sealer = newTestSealer(t)
		r.runOnce(t, r.worker, 1)
		rec := readOutbox(t, d, "user0@example.test")
		if rec.status != StatusPending || !strings.Contains(rec.lastError.String,
			"open mail data") || strings.Contains(rec.lastError.String, "token-0") {
			t.Errorf("row = %+v, want a retry naming the payload, not the token", rec)
		}
		if strings.Contains(r.logs.String(), "token-0") {
			t.Errorf("log holds the token:\n%s", r.logs.String())
		}
	})
}

func TestWorkersSharingPostgresNeverSendARowTwice(t *testing.T) {
	url := dbtest.URL(t, db.Postgres)
	open := func() *db.DB {
		d, err := db.Open(context.Background(), url, db.Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	d1, d2 := open(), open()
	r := newRig(t, d1)
	const total = 60
	r.enqueueResets(t, total)
	workers := []*Worker{
		r.newWorker(t, d1, WorkerOptions{Batch: 3}),
		r.newWorker(t, d2, WorkerOptions{Batch: 3}),
		r.newWorker(t, d2, WorkerOptions{Batch: 5}),
	}

	var wg sync.WaitGroup
	counts := make([]int, len(workers))
	for i, w := range workers {
		wg.Go(func() {
			n, err := w.RunOnce(context.Background())
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if sum := counts[0] + counts[1] + counts[2]; sum != total {
		t.Errorf("workers made %v attempts, %d in all, want %d", counts, sum, total)
	}
	r.checkDeliveredOnce(t, total)
}

func TestWorkerRunDeliversOnKickAndStops(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		w := r.newWorker(t, d, WorkerOptions{Poll: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		r.enqueueResets(t, 2)
		w.Kick()
		r.smtp.Wait(t, 2)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		r.checkDeliveredOnce(t, 2)
	})
}

func TestWorkerStopsABatchWhoseLeaseRunsOut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d)
		r.enqueueResets(t, 2)
		stepping := &steppingSender{clock: r.clock, step: 9 * time.Minute}
		w := NewWorker(d, r.sealer, newTestRenderer(t), stepping, r.clock.Now,
			discardLogger(), WorkerOptions{Batch: 2, Lease: 10 * time.Minute})
		r.runOnce(t, w, 1)
		rec := readOutbox(t, d, "user1@example.test")
		if rec.status != StatusPending || rec.lockedUntil != nil || rec.attempts != 0 {
			t.Fatalf("untried row = %+v, want pending and released", rec)
		}
		r.runOnce(t, w, 1)
		if stepping.sent != 2 {
			t.Errorf("sent %d messages, want 2", stepping.sent)
		}
	})
}

// steppingSender accepts every message and moves the clock forward, as a
// slow server would.
type steppingSender struct {
	clock *clock
	step  time.Duration
	sent  int
}

func (s *steppingSender) Send(context.Context, Message) error {
	s.clock.Add(s.step)
	s.sent++
	return nil
}

func BenchmarkWorkerDelivery(b *testing.B) {
	d := dbtest.Open(b, db.Postgres)
	sealer := newTestSealer(b)
	o := NewOutbox(d, sealer, time.Now)
	r, err := NewRenderer(testOrigin)
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorker(d, sealer, r, NewLogSender(discardLogger()), time.Now,
		discardLogger(), WorkerOptions{Batch: 50})
	ctx := context.Background()
	for b.Loop() {
		if err := o.Enqueue(ctx, nil, Mail{To: "bench@example.test",
			Template: TemplateVerifyEmail,
			Data:     map[string]any{"token": "t"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := w.RunOnce(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
