package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and fixed parameters of remote log export.
const (
	defaultBatchSize     = 50
	defaultFlushInterval = 5 * time.Second
	defaultBufferSize    = 10000
	// sendTimeout bounds one POST to the collector.
	sendTimeout = 10 * time.Second
	// warnEvery is the shortest gap between two local drop warnings.
	warnEvery = 10 * time.Second
)

// defaultRetryDelays are the waits before the second, third and fourth
// attempt to deliver a batch.
var defaultRetryDelays = []time.Duration{
	1 * time.Second, 2 * time.Second, 4 * time.Second,
}

// ShipperOptions configure a [Shipper].
type ShipperOptions struct {
	// URL receives POST requests whose body is a JSON array of records.
	URL string
	// APIKey is sent as "Authorization: Bearer <APIKey>".
	APIKey string
	// BatchSize is the number of records that triggers a POST (default 50).
	BatchSize int
	// FlushInterval is the longest a record waits for a POST (default 5 s).
	FlushInterval time.Duration
	// BufferSize is the number of records held while the collector is slow
	// or away (default 10 000); records beyond it are dropped.
	BufferSize int
	// Client sends the requests; nil means a client of its own. Each
	// request is bounded to 10 s regardless of the client.
	Client *http.Client
	// Dropped, if set, is told of every lost record: refused because the
	// buffer was full, or in a batch that failed all its attempts. It is
	// called on the logging goroutine and must neither block nor log.
	Dropped func(n int)
	// Warn, if set, receives the local warning about dropped records, at
	// most once per 10 s. When nil, [NewLogger] routes it to the local log.
	Warn func(msg string, args ...any)
}

// Shipper exports log records to a remote collector. Records are buffered
// in memory and sent in batches from a goroutine of its own; a record that
// does not fit in the buffer is dropped so that logging never waits for the
// network. Create it with [NewShipper], pass it to [NewLogger] as
// [LogOptions].Remote, call Start, and Close it at shutdown to flush.
type Shipper struct {
	opts   ShipperOptions
	retry  []time.Duration
	queue  chan []byte
	warnCh chan struct{}

	localWarn atomic.Pointer[func(string, ...any)]
	closed    atomic.Bool
	// unreported counts drops not yet mentioned in a warning.
	unreported atomic.Int64
	// lastErr is the latest delivery failure, for the next warning.
	lastErr atomic.Pointer[string]

	startOnce, stopOnce sync.Once
	stop                chan struct{}
	done, warnDone      chan struct{}
	ctx                 context.Context
	cancel              context.CancelFunc
	// flushErr is the outcome of the final flush, read after done closes.
	flushErr error
}

// NewShipper returns a shipper for o, with defaults for zero fields. It
// sends nothing until Start.
func NewShipper(o ShipperOptions) *Shipper {
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.BufferSize <= 0 {
		o.BufferSize = defaultBufferSize
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Shipper{
		opts:     o,
		retry:    defaultRetryDelays,
		queue:    make(chan []byte, o.BufferSize),
		warnCh:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		warnDone: make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Start launches the sending goroutine. Calling it again has no effect.
func (s *Shipper) Start() {
	s.startOnce.Do(func() {
		go s.run()
		go s.warnLoop()
	})
}

// Close stops accepting records and sends everything still buffered,
// waiting at most until ctx ends; records not delivered by then are
// dropped. It returns an error when ctx ended first or when the final
// batches could not be delivered. Records logged after Close are dropped.
func (s *Shipper) Close(ctx context.Context) error {
	s.Start()
	s.stopOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	var err error
	select {
	case <-s.done:
		err = s.flushErr
	case <-ctx.Done():
		s.cancel()
		<-s.done
		err = fmt.Errorf("flush remote logs: %w", ctx.Err())
	}
	<-s.warnDone
	s.cancel()
	return err
}

// writer returns the io.Writer that a JSON handler uses to hand records to
// the shipper. slog's built-in handlers write each record in one call.
func (s *Shipper) writer() io.Writer { return shipperWriter{s} }

// shipperWriter adapts a Shipper to io.Writer.
type shipperWriter struct{ s *Shipper }

// Write queues one serialized record without ever blocking.
func (w shipperWriter) Write(p []byte) (int, error) {
	w.s.enqueue(bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// enqueue buffers a copy of rec, or drops it when the buffer is full or
// the shipper is closed.
func (s *Shipper) enqueue(rec []byte) {
	if s.closed.Load() {
		s.drop(1)
		return
	}
	select {
	case s.queue <- bytes.Clone(rec):
	default:
		s.drop(1)
	}
}

// setLocalWarn installs the warning function used when Options.Warn is nil.
func (s *Shipper) setLocalWarn(f func(string, ...any)) {
	s.localWarn.Store(&f)
}

// drop accounts for n lost records and wakes the warning goroutine.
func (s *Shipper) drop(n int) {
	if s.opts.Dropped != nil {
		s.opts.Dropped(n)
	}
	s.unreported.Add(int64(n))
	select {
	case s.warnCh <- struct{}{}:
	default:
	}
}

// warnLoop turns drops into local warnings, at most one per warnEvery, and
// reports what is left when the shipper stops. It runs apart from logging
// so that a warning never re-enters the handler that is dropping.
func (s *Shipper) warnLoop() {
	defer close(s.warnDone)
	for {
		select {
		case <-s.warnCh:
		case <-s.done:
			s.reportDrops()
			return
		}
		s.reportDrops()
		t := time.NewTimer(warnEvery)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			s.reportDrops()
			return
		}
	}
}

// reportDrops emits one warning for the drops not yet reported.
func (s *Shipper) reportDrops() {
	n := s.unreported.Swap(0)
	if n == 0 {
		return
	}
	args := []any{slog.Int64("dropped", n)}
	if e := s.lastErr.Swap(nil); e != nil {
		args = append(args, slog.String("error", *e))
	}
	s.warn()("remote log export dropped records", args...)
}

// warn returns the function that writes a local warning.
func (s *Shipper) warn() func(string, ...any) {
	if s.opts.Warn != nil {
		return s.opts.Warn
	}
	if f := s.localWarn.Load(); f != nil {
		return *f
	}
	return slog.Default().Warn
}

// run collects records into batches and sends a batch when it is full or
// when the flush interval ticks, until Close.
func (s *Shipper) run() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	batch := make([][]byte, 0, s.opts.BatchSize)
	for {
		select {
		case rec := <-s.queue:
			batch = append(batch, rec)
			if len(batch) >= s.opts.BatchSize {
				s.ship(batch)
				batch = batch[:0]
			}
		case <-tick.C:
			if len(batch) > 0 {
				s.ship(batch)
				batch = batch[:0]
			}
		case <-s.stop:
			s.flushErr = s.drain(batch)
			return
		}
	}
}

// drain sends batch and everything left in the buffer, in full batches.
func (s *Shipper) drain(batch [][]byte) error {
	var errs []error
	for {
		select {
		case rec := <-s.queue:
			batch = append(batch, rec)
			if len(batch) < s.opts.BatchSize {
				continue
			}
		default:
			if len(batch) > 0 {
				errs = append(errs, s.ship(batch))
			}
			return errors.Join(errs...)
		}
		errs = append(errs, s.ship(batch))
		batch = batch[:0]
	}
}

// ship delivers one batch, retrying after each of s.retry when the
// collector fails or is unreachable. A batch that cannot be delivered is
// counted as dropped.
func (s *Shipper) ship(batch [][]byte) error {
	body := encodeBatch(batch)
	err := s.post(body)
	for i := 0; err != nil && retryable(err) && i < len(s.retry); i++ {
		if !sleep(s.ctx, s.retry[i]) {
			err = fmt.Errorf("%w (last attempt: %w)", s.ctx.Err(), err)
			break
		}
		err = s.post(body)
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	s.lastErr.Store(&msg)
	s.drop(len(batch))
	return fmt.Errorf("ship %d log records: %w", len(batch), err)
}

// encodeBatch joins serialized records into one JSON array.
func encodeBatch(batch [][]byte) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, rec := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(rec)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// statusError is a collector answer outside 2xx.
type statusError struct{ code int }

func (e *statusError) Error() string {
	return fmt.Sprintf("log collector answered %d", e.code)
}

// errBadRequest marks a request that could not even be built (a malformed
// URL); trying again cannot help.
var errBadRequest = errors.New("build log export request")

// retryable reports whether another attempt may succeed: network failures,
// timeouts, 408, 429 and 5xx answers.
func retryable(err error) bool {
	if errors.Is(err, errBadRequest) {
		return false
	}
	var se *statusError
	if !errors.As(err, &se) {
		return true
	}
	return se.code >= 500 || se.code == http.StatusTooManyRequests ||
		se.code == http.StatusRequestTimeout
}

// post makes one delivery attempt.
func (s *Shipper) post(body []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL,
		bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.opts.APIKey)

	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post log batch: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{code: resp.StatusCode}
	}
	return nil
}

// sleep waits for d, returning false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
