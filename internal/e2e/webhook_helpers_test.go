package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// hookAction is how a receiver answers one request.
type hookAction int

const (
	hookOK          hookAction = iota // 200
	hookFail                          // 503
	hookAcceptStall                   // 200 and flush, then never finish the body
)

// hookHit is one request a receiver verified.
type hookHit struct {
	delivery, event, envelopeID, body string
	accepted                          bool // answered 2xx
}

// hookReceiver is an integrator's endpoint: it checks every request's
// signature with its own HMAC-SHA256 over "<t>.<body>", refuses stale
// timestamps, and answers as decide says for the attempt number of that
// delivery id.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	hits   []hookHit
	tries  map[string]int
	decide func(attempt int) hookAction
	stall  chan struct{} // closed to end stalled answers
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t, tries: map[string]int{}, stall: make(chan struct{}),
		decide: func(int) hookAction { return hookOK }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.unstall()
		r.srv.Close()
	})
	return r
}

func (r *hookReceiver) unstall() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stall:
	default:
		close(r.stall)
	}
}

func (r *hookReceiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *hookReceiver) setDecide(f func(attempt int) hookAction) {
	r.mu.Lock()
	r.decide = f
	r.mu.Unlock()
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	h := hookHit{delivery: req.Header.Get("X-Cerberus-Delivery"),
		event: req.Header.Get("X-Cerberus-Event"), body: string(body)}
	var env struct{ ID string }
	_ = json.Unmarshal(body, &env)
	h.envelopeID = env.ID
	r.mu.Lock()
	secret := r.secret
	r.tries[h.delivery]++
	action := r.decide(r.tries[h.delivery])
	r.mu.Unlock()
	if err := hookSignature(req.Header.Get("X-Cerberus-Signature"), body, secret); err != nil {
		r.t.Errorf("delivery %s: %v", h.delivery, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.accepted = action != hookFail
	r.mu.Lock()
	r.hits = append(r.hits, h)
	r.mu.Unlock()
	switch action {
	case hookFail:
		w.WriteHeader(http.StatusServiceUnavailable)
	case hookOK:
		w.WriteHeader(http.StatusOK)
	case hookAcceptStall:
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.stall:
		case <-req.Context().Done():
		}
	}
}

// hookSignature verifies an X-Cerberus-Signature the way the integration
// guide tells integrators to: a fresh timestamp and one v1 value equal, in
// constant time, to the HMAC of "<t>.<body>" keyed with the secret.
func hookSignature(header string, body []byte, secret string) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 300*time.Second {
		return fmt.Errorf("timestamp missing or stale in %q", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no v1 signature matches in %q", header)
}

func (r *hookReceiver) snapshot() []hookHit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookHit(nil), r.hits...)
}

// accepted returns, per delivery id, the hits answered 2xx.
func (r *hookReceiver) accepted() map[string][]hookHit {
	out := map[string][]hookHit{}
	for _, h := range r.snapshot() {
		if h.accepted {
			out[h.delivery] = append(out[h.delivery], h)
		}
	}
	return out
}

// hookWait polls cond until it holds, failing after within.
func hookWait(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookDB opens the server's database from the test.
func hookDB(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func hookCount(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// hookCreate makes an endpoint for the receiver through the admin API
// and gives the receiver its secret.
func hookCreate(o *oauthEnv, rcv *hookReceiver, events ...string) string {
	o.t.Helper()
	resp, body := o.call(http.MethodPost, "/v1/admin/webhooks", map[string]any{
		"url": rcv.srv.URL + "/hooks", "events": events})
	if resp.StatusCode != http.StatusCreated {
		o.t.Fatalf("create webhook: %d %v", resp.StatusCode, body)
	}
	secret, _ := body["secret"].(string)
	rcv.setSecret(secret)
	return body["id"].(string)
}

// hookTestEvent queues a webhook.test delivery and returns its id.
func hookTestEvent(o *oauthEnv, webhookID string) string {
	o.t.Helper()
	resp, body := o.call(http.MethodPost, "/v1/admin/webhooks/"+webhookID+"/test", nil)
	if resp.StatusCode != http.StatusOK || body["message"] != "Test event queued" {
		o.t.Fatalf("test webhook: %d %v", resp.StatusCode, body)
	}
	return body["deliveryId"].(string)
}

// hookEnv is what the webhook tests give every server they start.
func hookEnv(url, key string) map[string]string {
	return map[string]string{"DATABASE_URL": url, "SECRET_ENCRYPTION_KEY": key,
		"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "RATE_MAX": "100000",
		"AUTH_RATE_MAX": "100000", "PASSWORD_HASH_MEMORY_KIB": "19456",
		"PASSWORD_HASH_ITERATIONS": "1", "PASSWORD_HASH_PARALLELISM": "1"}
}
