package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts every Redis key of a limiter:
// cerberus:rl:<name>:<window start, Unix seconds>:<key>.
const KeyPrefix = "cerberus:rl:"

// retryRedis is how long a limiter that lost Redis counts in memory before
// it tries Redis again.
const retryRedis = 5 * time.Second

// incrScript counts one request and makes the counter expire with its
// window, atomically, so a counter never outlives its window for want of an
// expiry set by a client that died between two commands.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Redis is a Limiter whose counters live in Redis, shared by every instance
// pointed at the same server. When Redis fails it falls back to an
// in-memory limiter of the same budget for a few seconds at a time.
type Redis struct {
	client redis.UniversalClient
	name   string
	win    window
	now    func() time.Time
	log    *slog.Logger
	memory *Memory

	mu        sync.Mutex
	failing   bool
	nextProbe time.Time
}

// NewRedis returns a limiter admitting max requests per key in each window,
// counted in Redis through client. now is the clock; logger receives the
// fallback and recovery messages.
func NewRedis(client redis.UniversalClient, name string, window time.Duration,
	max int, now func() time.Time, logger *slog.Logger) Limiter {
	return &Redis{
		client: client,
		name:   name,
		win:    newWindow(window, max),
		now:    now,
		log:    logger,
		memory: newMemory(name, window, max, now),
	}
}

// Name returns the limiter's name.
func (r *Redis) Name() string { return r.name }

// Allow counts one request for key in Redis, or in memory while Redis is
// failing. It fails only when ctx ends.
func (r *Redis) Allow(ctx context.Context, key string) (Decision, error) {
	now := r.now()
	if !r.shouldTryRedis(now) {
		return r.memory.Allow(ctx, key)
	}
	start := r.win.start(now)
	count, err := r.incr(ctx, key, start, now)
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("rate limit %s: %w", r.name, ctx.Err())
		}
		r.markFailing(now, err)
		return r.memory.Allow(ctx, key)
	}
	r.markHealthy()
	return r.win.decide(count, start, now), nil
}

// incr runs the counting script on the window's key.
func (r *Redis) incr(ctx context.Context, key string, start int64,
	now time.Time) (int64, error) {
	k := KeyPrefix + r.name + ":" + strconv.FormatInt(start, 10) + ":" + key
	// Keep the counter a little past the window so instances whose clocks
	// differ slightly still find it.
	ttl := r.win.end(start).Sub(now) + time.Second
	n, err := incrScript.Run(ctx, r.client, []string{k}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis incr: %w", err)
	}
	return n, nil
}

// shouldTryRedis reports whether Redis is healthy or due for another try.
func (r *Redis) shouldTryRedis(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.failing || !now.Before(r.nextProbe)
}

// markFailing starts or extends a failure episode, logging its start once.
func (r *Redis) markFailing(now time.Time, err error) {
	r.mu.Lock()
	first := !r.failing
	r.failing = true
	r.nextProbe = now.Add(retryRedis)
	r.mu.Unlock()
	if first {
		r.log.Warn("rate limiter lost Redis, counting in memory",
			"limiter", r.name, "error", err)
	}
}

// markHealthy ends a failure episode, logging the recovery once.
func (r *Redis) markHealthy() {
	r.mu.Lock()
	recovered := r.failing
	r.failing = false
	r.mu.Unlock()
	if recovered {
		r.log.Info("rate limiter reached Redis again, counting in Redis",
			"limiter", r.name)
	}
}

// OpenRedis connects to the Redis server of a redis:// or rediss:// URL and
// checks that it answers. Errors never repeat the URL, which may hold a
// password.
func OpenRedis(ctx context.Context, rawURL string) (*redis.Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: malformed URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, errors.New("parse REDIS_URL: scheme must be redis or rediss")
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: invalid host, database or option")
	}
	client := redis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", opts.Addr, err)
	}
	return client, nil
}
