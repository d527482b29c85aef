package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options shape a run of one scenario.
type Options struct {
	// Workers is how many requests are in flight at once.
	Workers int
	// Duration is how long workers start new requests; requests in flight
	// at the end still finish and count.
	Duration time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
}

// Run repeats the scenario's request from o.Workers workers for
// o.Duration and reports the outcome. Every run starts by obtaining a new
// access token, so that long runs never use an expired one. It returns
// early, with the requests finished so far, when ctx ends; it fails only
// when the new token cannot be had.
func Run(ctx context.Context, c *http.Client, f *Fixture, s scenario, o Options) (*Report,
	error) {
	if err := f.issueToken(ctx, c); err != nil {
		return nil, err
	}
	tallies := make([]*tally, o.Workers)
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	for i := range tallies {
		t := &tally{statuses: map[string]int{}}
		tallies[i] = t
		wg.Go(func() { work(ctx, c, f, s, deadline, t) })
	}
	wg.Wait()
	return merge(s.name, o.Workers, time.Since(start), tallies), nil
}

// work sends requests one after the other until the deadline.
func work(ctx context.Context, c *http.Client, f *Fixture, s scenario, deadline time.Time,
	t *tally) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		begin := time.Now()
		status, err := send(c, s.request(ctx, f), s.check)
		if ctx.Err() != nil {
			return // interrupted, not an outcome of the server
		}
		t.add(status, err, time.Since(begin))
	}
}

// send does one request and reads the whole answer, so that the
// connection is reused and the latency includes the body. The label is
// the status code, "transport" for a request that got no answer, or
// "<status> refused body" when the scenario's check refused a 2xx body.
func send(c *http.Client, req *http.Request, check func([]byte) bool) (string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return labelTransport, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return labelTransport, err
	}
	label := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode/100 == 2 && check != nil && !check(body) {
		label += labelRefused
	}
	return label, nil
}

// Labels of outcomes that are not a bare status code.
const (
	labelTransport = "transport"
	labelRefused   = " refused body"
)

// tally is what one worker saw; workers never share one.
type tally struct {
	statuses  map[string]int
	latencies []time.Duration // of successful requests
	firstErr  string
}

func (t *tally) add(label string, err error, d time.Duration) {
	t.statuses[label]++
	if classify(label) == classOK {
		t.latencies = append(t.latencies, d)
	}
	if err != nil && t.firstErr == "" {
		t.firstErr = err.Error()
	}
}
