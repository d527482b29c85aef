// Package ratelimit counts requests per client in fixed windows.
//
// A limiter has a name (default, auth, token, invite-get), a window and a
// budget. Windows are aligned on Unix time: the window of an instant starts
// at that instant's Unix time truncated to a multiple of the window length,
// so every instance of the server agrees on where a window begins and ends.
// Windows are counted in whole seconds; a shorter window is treated as one
// second.
//
// NewMemory keeps the counters in the process. NewRedis keeps them in Redis
// so that every instance sharing the Redis server shares the budget; when
// Redis fails it counts in memory until Redis answers again, and logs both
// transitions once.
package ratelimit

import (
	"context"
	"time"
)

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the request fits in the budget.
	Allowed bool
	// Remaining is what is left of the budget in the current window.
	Remaining int
	// RetryAfter is the time until the current window ends: zero when the
	// request is allowed, at least one second when it is refused.
	RetryAfter time.Duration
}

// Limiter admits at most a fixed number of requests per key and window.
type Limiter interface {
	// Allow counts one request for key and tells whether it is admitted.
	// It fails only when ctx ends; a broken backing store is not the
	// caller's problem.
	Allow(ctx context.Context, key string) (Decision, error)
	// Name is the limiter's name, used in metrics and logs.
	Name() string
}

// window is the fixed-window arithmetic shared by both limiters.
type window struct {
	size time.Duration
	max  int
}

func newWindow(size time.Duration, max int) window {
	size = size.Truncate(time.Second)
	if size < time.Second {
		size = time.Second
	}
	return window{size: size, max: max}
}

// start returns the Unix second at which the window holding t begins.
func (w window) start(t time.Time) int64 {
	secs := int64(w.size / time.Second)
	u := t.Unix()
	return u - mod(u, secs)
}

// mod is the non-negative remainder, so instants before 1970 align too.
func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// end returns when the window starting at start ends.
func (w window) end(start int64) time.Time {
	return time.Unix(start, 0).Add(w.size)
}

// decide turns the count of requests seen so far in the window (this one
// included) into a Decision.
func (w window) decide(count int64, start int64, now time.Time) Decision {
	if count <= int64(w.max) {
		return Decision{Allowed: true, Remaining: w.max - int(count)}
	}
	wait := w.end(start).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return Decision{RetryAfter: wait}
}
