package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// remoteLogger returns a production logger shipping to c with o's options;
// local output is discarded unless the caller reads the returned buffer.
func remoteLogger(t *testing.T, c *collector,
	o telemetry.ShipperOptions) (*slog.Logger, *telemetry.Shipper,
	*syncBuffer) {
	t.Helper()
	o.URL, o.APIKey = c.srv.URL, "remote-api-key"
	s := telemetry.NewShipper(o)
	telemetry.SetRetryDelays(s, time.Millisecond, time.Millisecond,
		time.Millisecond)
	local := &syncBuffer{}
	l := telemetry.NewLogger(telemetry.LogOptions{
		Env: "production", Level: "info", Service: "svc",
		Output: local, Remote: s,
	})
	return l, s, local
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// messages returns the msg field of each record.
func messages(recs []map[string]any) string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprint(r["msg"]))
	}
	return strings.Join(out, " ")
}

func TestShipperSendsFullBatches(t *testing.T) {
	c := newCollector(t)
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 3, FlushInterval: time.Hour,
	})
	s.Start()
	for i := range 6 {
		l.Info(fmt.Sprintf("m%d", i))
	}

	// The flush interval is an hour, so only the batch size sends these.
	first, second := <-c.got, <-c.got
	if len(first.records) != 3 || len(second.records) != 3 {
		t.Fatalf("batch sizes %d and %d, want 3 and 3",
			len(first.records), len(second.records))
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := messages(c.records()); got != "m0 m1 m2 m3 m4 m5" {
		t.Errorf("records = %q, want m0…m5 in order", got)
	}
}

func TestShipperFlushesOnInterval(t *testing.T) {
	c := newCollector(t)
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 1000, FlushInterval: 10 * time.Millisecond,
	})
	s.Start()
	defer s.Close(t.Context())
	l.Info("lonely")

	// The batch is far from full: only the interval can send it.
	b := <-c.got
	if got := messages(b.records); got != "lonely" {
		t.Errorf("records = %q, want lonely", got)
	}
}

func TestShipperRequestFormat(t *testing.T) {
	c := newCollector(t)
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{BatchSize: 2})
	s.Start()
	l.Info("one", "n", 1)
	l.Warn("two")

	b := <-c.got
	if b.auth != "Bearer remote-api-key" {
		t.Errorf("Authorization = %q, want the bearer API key", b.auth)
	}
	if b.contentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", b.contentType)
	}
	r := b.records[0]
	for k, want := range map[string]any{
		"msg": "one", "level": "INFO", "service": "svc",
		"env": "production", "n": float64(1),
	} {
		if r[k] != want {
			t.Errorf("record %s = %v, want %v", k, r[k], want)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestShipperRetriesAfterServerError(t *testing.T) {
	c := newCollector(t, http.StatusInternalServerError, http.StatusOK)
	var dropped atomic.Int64
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 2,
		Dropped:   func(n int) { dropped.Add(int64(n)) },
	})
	s.Start()
	l.Info("a")
	l.Info("b")

	failed, retried := <-c.got, <-c.got
	if !bytes.Equal(failed.body, retried.body) {
		t.Errorf("retry body differs:\n%s\n%s", failed.body, retried.body)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := len(c.received()); n != 2 {
		t.Errorf("%d requests, want 2 (one failure, one success)", n)
	}
	if n := dropped.Load(); n != 0 {
		t.Errorf("dropped %d records after a successful retry", n)
	}
}

func TestShipperGivesUpAfterThreeRetries(t *testing.T) {
	c := newCollector(t, 500, 502, 503, 504, 200)
	var dropped atomic.Int64
	var warnings atomic.Int64
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 100, FlushInterval: time.Hour,
		Dropped: func(n int) { dropped.Add(int64(n)) },
		Warn:    func(string, ...any) { warnings.Add(1) },
	})
	s.Start()
	l.Info("a")
	l.Info("b")

	err := s.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "504") {
		t.Errorf("Close = %v, want the last failure (504)", err)
	}
	if n := len(c.received()); n != 4 {
		t.Errorf("%d attempts, want 4 (first try and three retries)", n)
	}
	if n := dropped.Load(); n != 2 {
		t.Errorf("dropped = %d, want 2", n)
	}
	if warnings.Load() == 0 {
		t.Error("no local warning about the lost batch")
	}
}

func TestShipperDoesNotRetryClientErrors(t *testing.T) {
	c := newCollector(t, http.StatusUnauthorized)
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{})
	l.Info("a")
	if err := s.Close(t.Context()); err == nil {
		t.Error("Close succeeded after a 401")
	}
	if n := len(c.received()); n != 1 {
		t.Errorf("%d attempts after a 401, want 1", n)
	}
}

func TestShipperDropsWhenFullWithoutBlocking(t *testing.T) {
	c := newCollector(t)
	c.entered = make(chan struct{}, 10)
	c.gate = make(chan struct{})
	var dropped atomic.Int64
	l, s, local := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 1, BufferSize: 4, FlushInterval: time.Hour,
		Dropped: func(n int) { dropped.Add(int64(n)) },
	})
	s.Start()

	// The first record goes out and the collector holds the request.
	l.Info("first")
	<-c.entered
	// Four more fill the buffer; the next 50 must be dropped at once.
	for i := range 54 {
		l.Info("more", "i", i)
	}
	if n := dropped.Load(); n != 50 {
		t.Errorf("dropped = %d while the collector is stuck, want 50", n)
	}

	close(c.gate)
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := len(c.records()); n != 5 {
		t.Errorf("collector got %d records, want 5", n)
	}
	if !strings.Contains(local.String(),
		`"msg":"remote log export dropped records"`) {
		t.Errorf("no local drop warning in:\n%s", local.String())
	}
}

func TestShipperCloseFlushesBuffer(t *testing.T) {
	c := newCollector(t)
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 2, FlushInterval: time.Hour,
	})
	for i := range 5 {
		l.Info(fmt.Sprintf("m%d", i))
	}
	// Never started: Close alone must still deliver everything.
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := messages(c.records()); got != "m0 m1 m2 m3 m4" {
		t.Errorf("records = %q, want m0…m4", got)
	}

	l.Info("late")
	if got := len(c.records()); got != 5 {
		t.Errorf("a record logged after Close was sent (%d records)", got)
	}
}

func TestShipperCloseIsBoundedByContext(t *testing.T) {
	c := newCollector(t)
	c.entered = make(chan struct{}, 10)
	c.gate = make(chan struct{})
	defer close(c.gate)
	var dropped atomic.Int64
	l, s, _ := remoteLogger(t, c, telemetry.ShipperOptions{
		BatchSize: 1, FlushInterval: time.Hour,
		Dropped: func(n int) { dropped.Add(int64(n)) },
	})
	s.Start()
	l.Info("stuck")
	<-c.entered

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}
	if n := dropped.Load(); n != 1 {
		t.Errorf("dropped = %d, want the 1 undelivered record", n)
	}
}
