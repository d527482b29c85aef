package deploy_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// proxiedCluster is two Cerberus instances on one PostgreSQL database and
// one Redis, behind nginx running the sample configuration.
type proxiedCluster struct {
	site      *proxySite
	instances []*e2e.Server
	base      string
}

// startProxiedCluster starts the cluster; extra adds server variables.
func startProxiedCluster(t *testing.T, extra map[string]string) *proxiedCluster {
	t.Helper()
	nginxBinary(t)
	url := dbtest.URL(t, db.Postgres)
	key := e2e.NewKey()
	ports := []int{e2e.FreePort(t), e2e.FreePort(t)}
	c := &proxiedCluster{}
	var upstreams []string
	for _, p := range ports {
		upstreams = append(upstreams, "127.0.0.1:"+strconv.Itoa(p))
	}
	c.site = renderSample(t, upstreams)
	c.base = "https://127.0.0.1:" + strconv.Itoa(c.site.httpsPort)
	for _, p := range ports {
		env := map[string]string{
			"PORT": strconv.Itoa(p), "ISSUER_URL": c.base,
			"SECRET_ENCRYPTION_KEY": key, "REDIS_URL": "redis://127.0.0.1:6379/0",
			"TRUST_PROXY": "127.0.0.1", "SHUTDOWN_TIMEOUT_SEC": "10",
		}
		maps.Copy(env, extra)
		c.instances = append(c.instances, e2e.Start(t, e2e.Options{DatabaseURL: url,
			NoWait: true, Env: env}))
	}
	for i, s := range c.instances {
		s.URL = "http://127.0.0.1:" + strconv.Itoa(ports[i])
		s.WaitHealthy(t, 30*time.Second)
	}
	startNginx(t, c.site)
	return c
}

// client returns an HTTPS client that trusts the site's certificate and
// connects from the loopback address from (127.0.0.0/8 are all local).
func (c *proxiedCluster) client(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: c.site.roots, MinVersion: tls.VersionTLS12},
	}}
}

func get(t *testing.T, cl *http.Client, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestNginxProxiesAndPassesTheClientAddress sends requests through nginx
// from two loopback addresses and reads each instance's access log: the
// clientIp Cerberus records, and so keys its rate limits on, is the
// connecting client's, not nginx's and not a forged X-Forwarded-For.
func TestNginxProxiesAndPassesTheClientAddress(t *testing.T) {
	c := startProxiedCluster(t, nil)
	clients := map[string]*http.Client{
		"127.0.0.2": c.client("127.0.0.2"), "127.0.0.3": c.client("127.0.0.3")}

	for i := range 6 {
		resp := get(t, clients["127.0.0.2"], c.base+"/health/ready", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d through nginx: %d", i, resp.StatusCode)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			strings.Contains(resp.Header.Get("Server"), "/") {
			t.Fatalf("security headers through the proxy: %v", resp.Header)
		}
	}
	for from, cl := range clients {
		id := "proxy-ip-" + strings.ReplaceAll(from, ".", "-")
		resp := get(t, cl, c.base+"/health/db", map[string]string{
			"X-Request-Id": id, "X-Forwarded-For": "203.0.113.9"})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("GET /health/db from %s: %d, X-Request-Id %q", from,
				resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
		if got := c.loggedClientIP(t, id); got != from {
			t.Errorf("request %s from %s logged with clientIp %s", id, from, got)
		}
	}
	c.assertBothInstancesServed(t)
}

var clientIPField = regexp.MustCompile(`clientIp="?([^\s"]+)`)

// loggedClientIP waits for the access line of request id on any instance
// and returns its clientIp.
func (c *proxiedCluster) loggedClientIP(t *testing.T, id string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		for _, s := range c.instances {
			for _, line := range strings.Split(s.Logs(), "\n") {
				if !strings.Contains(line, "requestId="+id) {
					continue
				}
				if m := clientIPField.FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no access line for request %s", id)
	return ""
}

// assertBothInstancesServed checks that least_conn spread the probes over
// both instances (each logs its own requests).
func (c *proxiedCluster) assertBothInstancesServed(t *testing.T) {
	t.Helper()
	for i, s := range c.instances {
		if !strings.Contains(s.Logs(), "path=/health/ready") {
			t.Errorf("instance %d served no request through nginx", i)
		}
	}
}

// TestNginxStoppingOneInstanceLosesNoMoreThanInFlight keeps a few clients
// busy through nginx while one instance gets SIGTERM and drains: at most
// the requests in flight at that moment may fail, and the other instance
// serves everything after.
func TestNginxStoppingOneInstanceLosesNoMoreThanInFlight(t *testing.T) {
	c := startProxiedCluster(t, nil)
	const workers = 4
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cl := c.client("127.0.0.1")
	for range workers {
		wg.Go(func() { c.hammer(cl, stop, &ok, &failed) })
	}
	waitFor(t, func() bool { return ok.Load() >= 50 }, "50 requests before the stop")

	victim := c.instances[0]
	if !strings.Contains(victim.Logs(), "path=/health/db") {
		t.Fatal("the instance to stop has served nothing yet")
	}
	if err := victim.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := waitExit(victim, 60*time.Second)
	before := ok.Load()
	waitFor(t, func() bool { return ok.Load() >= before+100 },
		"100 requests after the stop")
	close(stop)
	wg.Wait()

	if code != 0 {
		t.Errorf("stopped instance exited with %d", code)
	}
	t.Logf("%d requests succeeded, %d failed", ok.Load(), failed.Load())
	if failed.Load() > workers {
		t.Fatalf("%d requests failed, more than the %d in flight", failed.Load(), workers)
	}
}

// hammer sends GET /health/db through nginx until stop is closed.
func (c *proxiedCluster) hammer(cl *http.Client, stop <-chan struct{},
	ok, failed *atomic.Int64) {
	for n := 0; n < 100_000; n++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/health/db", nil)
		resp, err := cl.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// randomLoopback returns one of some 13 million addresses of 127.0.0.0/8,
// unlikely to have been used within a rate window (a day at most here), so
// shared Redis counters start from zero.
func randomLoopback() string {
	return fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(254))
}

// TestNginxKeepsRateLimitsPerClient spends one client's sign-in budget
// through nginx and checks that another client still has its own, and
// that a forged X-Forwarded-For does not buy the first one a new budget.
func TestNginxKeepsRateLimitsPerClient(t *testing.T) {
	// A day-long window: a minute boundary between the attempts would
	// otherwise give the client a fresh budget.
	c := startProxiedCluster(t, map[string]string{"AUTH_RATE_MAX": "2",
		"AUTH_RATE_WINDOW_SEC": "86400"})
	first, second := randomLoopback(), randomLoopback()
	a, b := c.client(first), c.client(second)
	for i := range 2 {
		if got := c.badLogin(t, a, nil); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d from %s: %d, want 401", i+1, first, got)
		}
	}
	if got := c.badLogin(t, a, nil); got != http.StatusTooManyRequests {
		t.Fatalf("third attempt from %s: %d, want 429", first, got)
	}
	forged := map[string]string{"X-Forwarded-For": randomLoopback()}
	if got := c.badLogin(t, a, forged); got != http.StatusTooManyRequests {
		t.Errorf("forged X-Forwarded-For from %s: %d, want 429", first, got)
	}
	if got := c.badLogin(t, b, nil); got != http.StatusUnauthorized {
		t.Errorf("first attempt from %s: %d, want its own budget (401)", second, got)
	}
}

// badLogin posts a sign-in with an unknown account through nginx.
func (c *proxiedCluster) badLogin(t *testing.T, cl *http.Client, header map[string]string) int {
	t.Helper()
	body := `{"email":"nobody@example.com","password":"not-the-password"}`
	req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/auth/login",
		strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
