package webhook

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

func TestDeliverySignedWithTheEnvelope(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, secret := e.create(t, rcv.URL+"/hook")
		rcv.setSecrets(secret)
		rcv.answer(http.StatusOK)
		users := e.emit(t, 1)
		if n := e.runOnce(t); n != 1 {
			t.Fatalf("attempts = %d, want 1", n)
		}
		hits := rcv.got()
		if len(hits) != 1 || hits[0].event != "user.created" || hits[0].signatures != 1 {
			t.Fatalf("hits %+v", hits)
		}
		var env struct {
			ID, Type, CreatedAt, OrganisationID string
			Data                                struct{ User struct{ ID string } }
			Actor                               struct{ Type string }
		}
		if err := json.Unmarshal(hits[0].body, &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != "user.created" || env.OrganisationID != e.org ||
			env.Data.User.ID != users[0] || env.Actor.Type != "system" || !db.ValidID(env.ID) {
			t.Errorf("envelope %s", hits[0].body)
		}
		ds := e.deliveries(t, ep.ID)
		if len(ds) != 1 || ds[0].ID != hits[0].delivery || ds[0].EventID != env.ID ||
			ds[0].Status != StatusSucceeded || ds[0].Attempts != 1 ||
			*ds[0].ResponseStatus != 200 || ds[0].CompletedAt == nil {
			t.Errorf("delivery %+v", ds)
		}
		if e.runOnce(t) != 0 {
			t.Errorf("a succeeded delivery was attempted again")
		}
	})
}

// TestRetryScheduleThenFailure steps an injected clock through the
// schedule: each attempt happens exactly when due and not a millisecond
// before, and the seventh failure ends the delivery.
func TestRetryScheduleThenFailure(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, secret := e.create(t, rcv.URL)
		rcv.setSecrets(secret)
		rcv.answer(http.StatusServiceUnavailable)
		e.emit(t, 1)
		for attempt := 1; attempt <= MaxAttempts; attempt++ {
			if attempt > 1 {
				e.clk.advance(Schedule[attempt-1] - time.Millisecond)
				if n := e.runOnce(t); n != 0 {
					t.Fatalf("attempt %d ran early", attempt)
				}
				e.clk.advance(time.Millisecond)
			}
			if n := e.runOnce(t); n != 1 {
				t.Fatalf("attempt %d: %d attempts made", attempt, n)
			}
		}
		ds := e.deliveries(t, ep.ID)
		if ds[0].Status != StatusFailed || ds[0].Attempts != 7 || *ds[0].Error != "HTTP 503" ||
			ds[0].NextAttemptAt != nil || ds[0].CompletedAt == nil {
			t.Errorf("delivery after the last attempt: %+v", ds[0])
		}
		e.clk.advance(48 * time.Hour)
		if e.runOnce(t) != 0 || len(rcv.got()) != 7 {
			t.Errorf("a failed delivery was attempted again")
		}
		got, _ := e.svc.Get(context.Background(), e.org, ep.ID)
		if got.FailureCount != 1 || !got.IsActive {
			t.Errorf("endpoint after one failed delivery: %+v", got)
		}
	})
}

// TestDisabledAfterTenFailedDeliveries checks the consecutive count: a
// success resets it; the tenth failed delivery disables the endpoint and
// fails its other pending deliveries.
func TestDisabledAfterTenFailedDeliveries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, secret := e.create(t, rcv.URL)
		rcv.setSecrets(secret)
		e.exec(t, `UPDATE webhook_endpoints SET failure_count = 5 WHERE id = $1`, ep.ID)
		e.emit(t, 1)
		e.runOnce(t)
		if got, _ := e.svc.Get(ctx, e.org, ep.ID); got.FailureCount != 0 ||
			got.LastDeliveryAt == nil {
			t.Fatalf("a success must reset the count: %+v", got)
		}

		e.exec(t, `UPDATE webhook_endpoints SET failure_count = 9 WHERE id = $1`, ep.ID)
		rcv.answer(http.StatusInternalServerError)
		e.emit(t, 1)
		e.exec(t, `UPDATE webhook_deliveries SET attempts = $1 WHERE status = 'pending'`,
			MaxAttempts-1)
		e.emit(t, 2) // pending behind the doomed one, not yet due
		e.exec(t, `UPDATE webhook_deliveries SET next_attempt_at = $1
			WHERE attempts = 0`, e.clk.now().Add(time.Hour))
		e.runOnce(t)

		got, _ := e.svc.Get(ctx, e.org, ep.ID)
		if got.IsActive || got.DisabledAt == nil || got.FailureCount != 10 {
			t.Fatalf("endpoint not disabled: %+v", got)
		}
		failed := 0
		for _, dl := range e.deliveries(t, ep.ID) {
			if dl.Status == StatusFailed && dl.Error != nil &&
				*dl.Error == ErrorEndpointDisabled {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d deliveries failed with %q, want 2", failed, ErrorEndpointDisabled)
		}
		e.wantAudit(t, ep.ID, "webhook.created", "webhook.disabled")
		e.emit(t, 1)
		if n := len(e.deliveries(t, ep.ID)); n != 4 {
			t.Errorf("events reached a disabled endpoint: %d deliveries", n)
		}
	})
}

// TestRotationSignsWithBothSecretsFor24Hours verifies the two v1 values
// with the receiver's own HMAC check.
func TestRotationSignsWithBothSecretsFor24Hours(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, old := e.create(t, rcv.URL)
		_, current, err := e.svc.RotateSecret(context.Background(), e.org, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		rcv.setSecrets(current, old)
		e.emit(t, 1)
		e.runOnce(t)
		e.clk.advance(PreviousSecretLifetime)
		rcv.setSecrets(current)
		e.emit(t, 1)
		e.runOnce(t)
		hits := rcv.got()
		if len(hits) != 2 || hits[0].signatures != 2 || hits[1].signatures != 1 {
			t.Errorf("signature counts: %+v", hits)
		}
	})
}

// TestSecondRotationKeepsOnlyTheSecretBeforeIt pins down what
// docs/webhooks.md promises: one old secret signs, the one current before
// the latest rotation, for 24 hours from that rotation.
func TestSecondRotationKeepsOnlyTheSecretBeforeIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, _ := e.create(t, rcv.URL)
		_, second, err := e.svc.RotateSecret(ctx, e.org, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.advance(time.Hour)
		_, third, err := e.svc.RotateSecret(ctx, e.org, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		rcv.setSecrets(third, second)
		e.emit(t, 1)
		e.runOnce(t)
		e.clk.advance(PreviousSecretLifetime - time.Minute)
		e.emit(t, 1)
		e.runOnce(t)
		e.clk.advance(time.Minute)
		rcv.setSecrets(third)
		e.emit(t, 1)
		e.runOnce(t)
		hits := rcv.got()
		if len(hits) != 3 || hits[0].signatures != 2 || hits[1].signatures != 2 ||
			hits[2].signatures != 1 {
			t.Errorf("signature counts: %+v", hits)
		}
	})
}

// TestCrashBetweenSendAndRecordRepeatsTheSameDelivery claims rows as a
// worker would and then abandons them, as a crashed process does: no
// other worker takes them while the lease lasts, and after it they are
// delivered with their original delivery ids.
func TestCrashBetweenSendAndRecordRepeatsTheSameDelivery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, nil)
		rcv := newReceiver(t)
		ep, secret := e.create(t, rcv.URL)
		rcv.setSecrets(secret)
		e.emit(t, 3)
		crashed, err := e.worker.claim(ctx)
		if err != nil || len(crashed) != 3 {
			t.Fatalf("claim: %d %v", len(crashed), err)
		}
		if e.runOnce(t) != 0 {
			t.Fatalf("leased rows were taken by another worker")
		}
		e.clk.advance(e.worker.opts.Lease)
		if n := e.runOnce(t); n != 3 {
			t.Fatalf("after the lease: %d attempts", n)
		}
		ids := map[string]bool{}
		for _, c := range crashed {
			ids[c.id] = true
		}
		for _, h := range rcv.got() {
			if !ids[h.delivery] {
				t.Errorf("delivery id %s was not the claimed one", h.delivery)
			}
		}
		// A late record by the crashed worker changes nothing.
		if err := e.worker.recordFailure(ctx, crashed[0], outcome{status: 500}); err != nil {
			t.Fatal(err)
		}
		for _, dl := range e.deliveries(t, ep.ID) {
			if dl.Status != StatusSucceeded || dl.Attempts != 1 {
				t.Errorf("delivery %+v", dl)
			}
		}
	})
}

// TestDeliveryTimeGuard creates an endpoint while its name resolves to a
// public address, then points the name at a private one: the attempt is
// refused without a connection. A public receiver that redirects to a
// private address is not followed.
func TestDeliveryTimeGuard(t *testing.T) {
	var private atomic.Int32
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter,
		*http.Request) {
		private.Add(1)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	internal.Listener = ln
	internal.Start()
	defer internal.Close()
	res := newResolver("flip.test", "127.0.0.1")
	// 127.0.0.1 plays a public address; everything else private stays private.
	e := newEnv(t, dbtest.Open(t, db.SQLite), guardTreating(res, "127.0.0.1"))
	rcv := newReceiver(t)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":"):]
	ep, secret := e.create(t, "http://flip.test"+port+"/hook")
	rcv.setSecrets(secret)

	res.set("flip.test", "10.0.0.1")
	e.emit(t, 1)
	e.runOnce(t)
	ds := e.deliveries(t, ep.ID)
	if len(rcv.got()) != 0 || *ds[0].Error != ErrPrivateTarget.Error() {
		t.Fatalf("rebound name reached: %+v", ds[0])
	}

	res.set("flip.test", "127.0.0.1")
	rcv.answer(http.StatusFound, "Location", internal.URL+"/latest/meta-data")
	e.clk.advance(time.Minute)
	e.runOnce(t)
	ds = e.deliveries(t, ep.ID)
	if ds[0].Attempts != 2 || *ds[0].ResponseStatus != http.StatusFound || private.Load() != 0 {
		t.Errorf("redirect: %+v", ds[0])
	}
	_, err = e.svc.Update(context.Background(), e.org, ep.ID,
		EndpointPatch{URL: patch.Of(internal.URL)})
	if err == nil {
		t.Errorf("an update to a private URL was accepted")
	}
}

func TestResponseExcerptIsBounded(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.Postgres), nil)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("\x00" + strings.Repeat("é", 2000)))
	}))
	defer rcv.Close()
	ep, _ := e.create(t, rcv.URL)
	e.emit(t, 1)
	e.runOnce(t)
	var body string
	err := e.d.QueryRowContext(context.Background(), `SELECT response_body
		FROM webhook_deliveries WHERE endpoint_id = $1`, ep.ID).Scan(&body)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > maxResponseBody || !strings.HasPrefix(body, "éé") {
		t.Errorf("kept %d bytes: %.20q", len(body), body)
	}
}

// TestRunFinishesTheAttemptInHandAtShutdown stops the worker while the
// receiver is still answering: Run waits for the answer, records it and
// returns without starting another attempt.
func TestRunFinishesTheAttemptInHandAtShutdown(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite), nil)
	arrived, answer := make(chan struct{}), make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-answer
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	ep, _ := e.create(t, rcv.URL)
	e.emit(t, 2)
	e.worker.opts.Concurrency = 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.worker.Run(ctx) }()
	<-arrived
	cancel()
	close(answer)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	statuses := map[string]int{}
	for _, dl := range e.deliveries(t, ep.ID) {
		statuses[dl.Status]++
	}
	if statuses[StatusSucceeded] != 1 || statuses[StatusPending] != 1 {
		t.Errorf("after shutdown: %v, want the attempt in hand recorded and the other "+
			"left pending", statuses)
	}
}

// TestWorkersShareTheOutbox runs two workers, each with its own database
// pool as two instances would have, over 1 000 deliveries: every delivery
// arrives exactly once.
func TestWorkersShareTheOutbox(t *testing.T) {
	url := dbtest.URL(t, db.Postgres)
	open := func() *db.DB {
		d, err := db.Open(context.Background(), url, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	e := newEnv(t, open(), nil)
	rcv := newReceiver(t)
	_, secret := e.create(t, rcv.URL)
	rcv.setSecrets(secret)
	const events = 1000
	e.exec(t, `INSERT INTO webhook_deliveries (id, endpoint_id, organisation_id, event_id,
		event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
		SELECT gen_random_uuid(), id, organisation_id, gen_random_uuid(), 'user.created',
		'{"type":"user.created"}', 'pending', 0, $1, $1, $1
		FROM webhook_endpoints, generate_series(1, $2)`, e.clk.now(), events)
	other := NewWorker(open(), e.keys, e.rec, NewGuard(nil, true), e.clk.now,
		discardLog(), WorkerOptions{})
	counts := make(chan int, 2)
	for _, w := range []*Worker{e.worker, other} {
		go func() {
			n, err := w.RunOnce(context.Background())
			if err != nil {
				t.Error(err)
			}
			counts <- n
		}()
	}
	a, b := <-counts, <-counts
	seen := map[string]int{}
	for _, h := range rcv.got() {
		seen[h.delivery]++
	}
	if len(seen) != events || a+b != events {
		t.Fatalf("%d distinct deliveries, %d + %d attempts, want %d", len(seen), a, b, events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s arrived %d times", id, n)
		}
	}
	t.Logf("worker attempts: %d and %d", a, b)
}
