package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// windowStart is a minute boundary: 2025-03-01T09:30:00Z.
var windowStart = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// checkBudget spends a budget of max at the clock's time and checks each
// decision, then the refusal that follows.
func checkBudget(t *testing.T, l Limiter, key string, max int,
	wantRetry time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= max; i++ {
		d, err := l.Allow(ctx, key)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if !d.Allowed || d.Remaining != max-i || d.RetryAfter != 0 {
			t.Fatalf("request %d: got %+v, want allowed with %d remaining",
				i, d, max-i)
		}
	}
	d, err := l.Allow(ctx, key)
	if err != nil {
		t.Fatalf("request %d: %v", max+1, err)
	}
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != wantRetry {
		t.Fatalf("request %d: got %+v, want refused, retry after %v",
			max+1, d, wantRetry)
	}
}

// spendConcurrently calls Allow n times from many goroutines and returns
// how many were admitted.
func spendConcurrently(t *testing.T, l Limiter, key string, n int) int {
	t.Helper()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	const workers = 32
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				d, err := l.Allow(context.Background(), key)
				if err != nil {
					t.Errorf("allow: %v", err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(allowed.Load())
}

func TestWindowStartIsAlignedOnUnixTime(t *testing.T) {
	cases := []struct {
		size time.Duration
		at   time.Time
		want int64
	}{
		{time.Minute, time.Unix(1_740_821_423, 5), 1_740_821_400},
		{7 * time.Second, time.Unix(1_000_003, 0), 999_999},
		{900 * time.Second, time.Unix(1_740_822_299, 0), 1_740_821_400},
		{time.Millisecond, time.Unix(42, 999_000_000), 42},
		{time.Minute, time.Unix(-1, 0), -60},
	}
	for _, c := range cases {
		if got := newWindow(c.size, 1).start(c.at); got != c.want {
			t.Errorf("start(%v, %v) = %d, want %d", c.size, c.at.Unix(), got, c.want)
		}
	}
}

func TestMemoryAdmitsMaxThenRefuses(t *testing.T) {
	c := newClock(windowStart.Add(10 * time.Second))
	l := NewMemory("default", time.Minute, 3, c.Now)
	checkBudget(t, l, "192.0.2.1", 3, 50*time.Second)
	// Another key has its own budget.
	checkBudget(t, l, "192.0.2.2", 3, 50*time.Second)
	if l.Name() != "default" {
		t.Errorf("Name() = %q, want default", l.Name())
	}
}

func TestMemoryRetryAfterIsAtLeastOneSecond(t *testing.T) {
	c := newClock(windowStart.Add(time.Minute - 100*time.Millisecond))
	l := NewMemory("auth", time.Minute, 1, c.Now)
	checkBudget(t, l, "192.0.2.1", 1, time.Second)
}

func TestMemoryNewWindowResets(t *testing.T) {
	c := newClock(windowStart.Add(59 * time.Second))
	l := NewMemory("auth", time.Minute, 2, c.Now)
	checkBudget(t, l, "192.0.2.1", 2, time.Second)
	c.Set(windowStart.Add(time.Minute))
	checkBudget(t, l, "192.0.2.1", 2, time.Minute)
}

func TestMemorySweepsOldWindows(t *testing.T) {
	c := newClock(windowStart)
	l := newMemory("default", time.Minute, 5, c.Now)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if _, err := l.Allow(ctx, "198.51.100."+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.keys(); got != 1000 {
		t.Fatalf("keys in first window = %d, want 1000", got)
	}
	c.Add(time.Minute)
	if _, err := l.Allow(ctx, "203.0.113.9"); err != nil {
		t.Fatal(err)
	}
	if got := l.keys(); got != 1 {
		t.Fatalf("keys after the window ended = %d, want 1", got)
	}
}

func TestMemoryClockSteppingBackCountsInCurrentWindow(t *testing.T) {
	c := newClock(windowStart.Add(time.Minute))
	l := NewMemory("default", time.Minute, 1, c.Now)
	if d, _ := l.Allow(context.Background(), "k"); !d.Allowed {
		t.Fatalf("first request refused: %+v", d)
	}
	c.Set(windowStart.Add(30 * time.Second))
	d, _ := l.Allow(context.Background(), "k")
	if d.Allowed || d.RetryAfter != 90*time.Second {
		t.Fatalf("after the clock stepped back: got %+v, want refused for 90s", d)
	}
}

func TestMemoryConcurrentAllowAdmitsExactlyMax(t *testing.T) {
	c := newClock(windowStart)
	l := NewMemory("default", time.Minute, 100, c.Now)
	if got := spendConcurrently(t, l, "192.0.2.7", 1000); got != 100 {
		t.Fatalf("admitted %d of 1000, want 100", got)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	l := NewMemory("default", time.Minute, 1<<30, time.Now)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
