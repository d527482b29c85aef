package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is a Limiter whose counters live in the process.
//
// All keys share the aligned window, so when a new window begins the
// counters of the previous one are dropped at once: the map never holds
// more than the keys seen in the current window.
type Memory struct {
	name string
	win  window
	now  func() time.Time

	mu     sync.Mutex
	start  int64
	counts map[string]int64
}

// NewMemory returns an in-memory limiter admitting max requests per key in
// each window. now is the clock (time.Now in production).
func NewMemory(name string, window time.Duration, max int,
	now func() time.Time) Limiter {
	return newMemory(name, window, max, now)
}

func newMemory(name string, size time.Duration, max int,
	now func() time.Time) *Memory {
	return &Memory{
		name:   name,
		win:    newWindow(size, max),
		now:    now,
		counts: map[string]int64{},
	}
}

// Name returns the limiter's name.
func (m *Memory) Name() string { return m.name }

// Allow counts one request for key. It never fails.
func (m *Memory) Allow(_ context.Context, key string) (Decision, error) {
	now := m.now()
	count, start := m.incr(key, m.win.start(now))
	return m.win.decide(count, start, now), nil
}

// incr adds one to key's counter in the window starting at start and
// returns the count and the window it was counted in. A new window drops
// the counters of the previous one; a clock that stepped back counts in the
// current window.
func (m *Memory) incr(key string, start int64) (int64, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start > m.start {
		m.start = start
		m.counts = map[string]int64{}
	}
	m.counts[key]++
	return m.counts[key], m.start
}

// keys reports how many counters are held.
func (m *Memory) keys() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts)
}
