package telemetry_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// batch is one POST received by a test collector.
type batch struct {
	auth, contentType string
	body              []byte
	records           []map[string]any
}

// collector is an httptest log receiver that records every batch and
// answers with the statuses of respond in turn (200 once they run out).
type collector struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	batches []batch
	respond []int
	// got receives each batch as it arrives.
	got chan batch
	// gate, when set, is waited on before answering.
	gate chan struct{}
	// entered, when set, receives a value as each request arrives.
	entered chan struct{}
}

// newCollector starts a receiver closed at the end of the test.
func newCollector(t *testing.T, respond ...int) *collector {
	t.Helper()
	c := &collector{t: t, respond: respond, got: make(chan batch, 100)}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.t.Errorf("read batch: %v", err)
	}
	if c.entered != nil {
		c.entered <- struct{}{}
	}
	if c.gate != nil {
		<-c.gate
	}
	b := batch{
		auth:        r.Header.Get("Authorization"),
		contentType: r.Header.Get("Content-Type"),
		body:        body,
	}
	if err := json.Unmarshal(body, &b.records); err != nil {
		c.t.Errorf("batch is not a JSON array of objects: %v\n%s", err, body)
	}

	c.mu.Lock()
	status := http.StatusOK
	if len(c.respond) > 0 {
		status, c.respond = c.respond[0], c.respond[1:]
	}
	c.batches = append(c.batches, b)
	c.mu.Unlock()

	w.WriteHeader(status)
	c.got <- b
}

// received returns a copy of every batch so far.
func (c *collector) received() []batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]batch(nil), c.batches...)
}

// records returns every record of every batch, in arrival order.
func (c *collector) records() []map[string]any {
	var out []map[string]any
	for _, b := range c.received() {
		out = append(out, b.records...)
	}
	return out
}
