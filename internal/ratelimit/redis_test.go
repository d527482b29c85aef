package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisURL is the Redis server the tests use.
func redisURL() string {
	if v := os.Getenv("CERBERUS_TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// openTestRedis connects to the test Redis server.
func openTestRedis(t testing.TB) *redis.Client {
	t.Helper()
	c, err := OpenRedis(context.Background(), redisURL())
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// uniqueName returns a limiter name no other test or run uses, so tests
// sharing the Redis server never share counters.
func uniqueName(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test-" + hex.EncodeToString(b)
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestRedisAdmitsMaxThenRefuses(t *testing.T) {
	client := openTestRedis(t)
	c := newClock(windowStart.Add(15 * time.Second))
	name := uniqueName(t)
	l := NewRedis(client, name, time.Minute, 4, c.Now, discardLogger())
	checkBudget(t, l, "192.0.2.1", 4, 45*time.Second)
	if l.Name() != name {
		t.Errorf("Name() = %q, want %q", l.Name(), name)
	}

	key := KeyPrefix + name + ":" + "1740821400" + ":192.0.2.1"
	n, err := client.Get(context.Background(), key).Int()
	if err != nil || n != 5 {
		t.Fatalf("counter %s = %d, %v; want 5", key, n, err)
	}
	ttl, err := client.PTTL(context.Background(), key).Result()
	if err != nil || ttl <= 0 || ttl > 46*time.Second {
		t.Fatalf("counter ttl = %v, %v; want (0, 46s]", ttl, err)
	}
}

func TestRedisNewWindowResets(t *testing.T) {
	client := openTestRedis(t)
	c := newClock(windowStart.Add(59 * time.Second))
	l := NewRedis(client, uniqueName(t), time.Minute, 2, c.Now, discardLogger())
	checkBudget(t, l, "192.0.2.1", 2, time.Second)
	c.Set(windowStart.Add(time.Minute))
	checkBudget(t, l, "192.0.2.1", 2, time.Minute)
}

func TestRedisInstancesShareTheBudget(t *testing.T) {
	name := uniqueName(t)
	c := newClock(windowStart.Add(20 * time.Second))
	a := NewRedis(openTestRedis(t), name, time.Minute, 50, c.Now, discardLogger())
	b := NewRedis(openTestRedis(t), name, time.Minute, 50, c.Now, discardLogger())

	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, l := range []Limiter{a, b} {
		wg.Go(func() { counts[i] = spendConcurrently(t, l, "192.0.2.9", 100) })
	}
	wg.Wait()
	if got := counts[0] + counts[1]; got != 50 {
		t.Fatalf("admitted %d + %d = %d of 200, want 50", counts[0], counts[1], got)
	}
}

func TestRedisConcurrentAllowAdmitsExactlyMax(t *testing.T) {
	c := newClock(windowStart)
	l := NewRedis(openTestRedis(t), uniqueName(t), time.Minute, 100, c.Now,
		discardLogger())
	if got := spendConcurrently(t, l, "192.0.2.7", 1000); got != 100 {
		t.Fatalf("admitted %d of 1000, want 100", got)
	}
}

func TestRedisUnreachableFallsBackToMemory(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1,
		DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	logs := &logBuffer{}
	c := newClock(windowStart.Add(30 * time.Second))
	l := NewRedis(client, uniqueName(t), time.Minute, 3, c.Now,
		slog.New(slog.NewTextHandler(logs, nil)))

	checkBudget(t, l, "192.0.2.1", 3, 30*time.Second)
	// Past the probe delay Redis is tried again and fails again.
	c.Add(retryRedis)
	checkBudget(t, l, "192.0.2.2", 3, 25*time.Second)
	if n := logs.count("counting in memory"); n != 1 {
		t.Fatalf("fallback logged %d times, want once per episode:\n%s",
			n, logs.buf.String())
	}
}

func TestRedisRecoveryIsLogged(t *testing.T) {
	p := startProxy(t, "127.0.0.1:6379")
	client := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1,
		DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	logs := &logBuffer{}
	c := newClock(windowStart)
	l := NewRedis(client, uniqueName(t), time.Minute, 10, c.Now,
		slog.New(slog.NewTextHandler(logs, nil)))

	allow(t, l, "k", 9)
	p.stop()
	allow(t, l, "k", 9) // the memory counter starts afresh
	p.start(t)
	allow(t, l, "k", 8) // still in memory until the probe delay passes
	c.Add(retryRedis)
	allow(t, l, "k", 8) // back in Redis, whose counter was at 1

	if n := logs.count("counting in memory"); n != 1 {
		t.Errorf("fallback logged %d times, want 1", n)
	}
	if n := logs.count("counting in Redis"); n != 1 {
		t.Errorf("recovery logged %d times, want 1", n)
	}
}

func TestRedisAllowFailsWhenContextEnds(t *testing.T) {
	l := NewRedis(openTestRedis(t), uniqueName(t), time.Minute, 3, time.Now,
		discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Allow(ctx, "k"); err == nil {
		t.Fatal("Allow with an ended context succeeded")
	}
}

func TestOpenRedis(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenRedis(ctx, "http://127.0.0.1:6379"); err == nil {
		t.Error("http URL accepted")
	}
	_, err := OpenRedis(ctx, "redis://user:s3cret-pass@"+closedAddr(t)+"/0")
	if err == nil {
		t.Fatal("unreachable server accepted")
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("error repeats the password: %v", err)
	}
	_, err = OpenRedis(ctx, "redis://user:s3cret-pass@host:port:x/0")
	if err == nil || strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("malformed URL: got %v, want an error without the password", err)
	}
}

// allow makes one request that must be admitted with remaining left.
func allow(t *testing.T, l Limiter, key string, remaining int) {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Remaining != remaining {
		t.Fatalf("got %+v, want allowed with %d remaining", d, remaining)
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// proxy forwards TCP connections to a target and can be stopped and
// started again on the same address, to make a Redis server disappear.
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target, addr: "127.0.0.1:0"}
	p.start(t)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *proxy) accept(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// stop closes the listener and every forwarded connection.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func BenchmarkRedisAllow(b *testing.B) {
	l := NewRedis(openTestRedis(b), uniqueName(b), time.Minute, 1<<30, time.Now,
		discardLogger())
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
