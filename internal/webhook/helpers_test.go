package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// clock is a settable test clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixedResolver answers name lookups from a table.
type fixedResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
}

func newResolver(pairs ...string) *fixedResolver {
	r := &fixedResolver{hosts: map[string][]netip.Addr{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.set(pairs[i], pairs[i+1])
	}
	return r
}

func (r *fixedResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[host] = nil
	for _, a := range addrs {
		r.hosts[host] = append(r.hosts[host], netip.MustParseAddr(a))
	}
}

func (r *fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr,
	error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &netError{host}
	}
	return append([]netip.Addr(nil), addrs...), nil
}

type netError struct{ host string }

func (e *netError) Error() string { return "no such host " + e.host }

// guardTreating returns a guard that refuses private addresses except the
// ones listed, which it treats as public: loopback receivers stand in for
// public servers.
func guardTreating(r Resolver, public ...string) *Guard {
	g := NewGuard(r, false)
	allowed := map[netip.Addr]bool{}
	for _, p := range public {
		allowed[netip.MustParseAddr(p)] = true
	}
	g.private = func(a netip.Addr) bool { return !allowed[a] && IsPrivate(a) }
	return g
}

// env is a webhook service and worker on a fresh database with one
// organisation.
type env struct {
	d      *db.DB
	clk    *clock
	keys   *crypto.KeyRing
	rec    *event.Recorder
	svc    *Service
	worker *Worker
	org    string
}

func newEnv(t *testing.T, d *db.DB, guard *Guard) *env {
	t.Helper()
	clk := newClock()
	keys, err := crypto.NewKeyRing(crypto.RandomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	if guard == nil {
		guard = NewGuard(nil, true)
	}
	e := &env{d: d, clk: clk, keys: keys, rec: event.NewRecorder(clk.now)}
	e.worker = NewWorker(d, keys, e.rec, guard, clk.now, discardLog(),
		WorkerOptions{Timeout: 5 * time.Second})
	e.svc = New(Options{DB: d, Keys: keys, Events: e.rec, Guard: guard, Kick: e.worker,
		Now: clk.now})
	e.org = e.addOrg(t, "acme")
	return e
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (e *env) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := e.d.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) addOrg(t testing.TB, slug string) string {
	t.Helper()
	id := db.NewID()
	e.exec(t, `INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, $2, $2, $3, $3)`, id, slug, e.clk.now())
	return id
}

func (e *env) addClient(t testing.TB, org string) string {
	t.Helper()
	id := db.NewID()
	e.exec(t, `INSERT INTO clients (id, organisation_id, client_id, name, client_type,
		token_endpoint_auth_method, created_at, updated_at) VALUES ($1, $2, $3, 'App',
		'public', 'none', $4, $4)`, id, org, strings.ReplaceAll(id, "-", ""), e.clk.now())
	return id
}

// create makes an endpoint for url subscribed to events and returns it
// with its secret.
func (e *env) create(t testing.TB, url string, events ...string) (*Endpoint, string) {
	t.Helper()
	if len(events) == 0 {
		events = []string{"user.created"}
	}
	ep, secret, err := e.svc.Create(context.Background(), e.org,
		EndpointCreate{URL: &url, Events: &events})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return ep, secret
}

// emit records n user.created events in the organisation, each in its own
// transaction as a service would.
func (e *env) emit(t testing.TB, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id := db.NewID()
		err := e.rec.Record(context.Background(), e.d, event.Event{
			OrganisationID: e.org, Webhooks: []event.Webhook{{Type: "user.created",
				Data: map[string]any{"user": map[string]any{"id": id}}}}})
		if err != nil {
			t.Fatalf("record event: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (e *env) runOnce(t testing.TB) int {
	t.Helper()
	n, err := e.worker.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("run worker: %v", err)
	}
	return n
}

func (e *env) deliveries(t testing.TB, endpointID string) []Delivery {
	t.Helper()
	items, _, err := e.svc.Deliveries(context.Background(), e.org, endpointID,
		DeliveryQuery{Paging: Paging{Page: 1, Limit: 100, Sort: DefaultSort}})
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	return items
}

// hit is one request a receiver got.
type hit struct {
	delivery, event string
	body            []byte
	signatures      int
}

// receiver is a webhook receiver that checks every signature on its own
// with HMAC-SHA256 and answers with the status its respond function picks.
type receiver struct {
	*httptest.Server
	t       testing.TB
	mu      sync.Mutex
	secrets []string
	hits    []hit
	respond func(n int, h hit) int
	header  http.Header
}

func newReceiver(t testing.TB, secrets ...string) *receiver {
	r := &receiver{t: t, secrets: secrets, header: http.Header{},
		respond: func(int, hit) int { return http.StatusNoContent }}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	r.secrets = s
	r.mu.Unlock()
}

// answer sets the status the receiver answers with and extra headers
// (name, value pairs).
func (r *receiver) answer(status int, header ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = func(int, hit) int { return status }
	r.header = http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		r.header.Set(header[i], header[i+1])
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	h := hit{delivery: req.Header.Get("X-Cerberus-Delivery"),
		event: req.Header.Get("X-Cerberus-Event"), body: body}
	r.mu.Lock()
	secrets := r.secrets
	r.mu.Unlock()
	n, err := verifySignature(req.Header.Get("X-Cerberus-Signature"), body, secrets)
	if err != "" {
		r.t.Errorf("delivery %s: %s", h.delivery, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.signatures = n
	if req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get("User-Agent") != UserAgent {
		r.t.Errorf("delivery %s: headers %v", h.delivery, req.Header)
	}
	r.mu.Lock()
	r.hits = append(r.hits, h)
	status := r.respond(len(r.hits), h)
	for k, v := range r.header {
		w.Header()[k] = v
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// verifySignature checks header against every secret, as an integrator
// would: each secret must match one v1 value computed over "<t>.<body>".
// It returns the number of v1 values, or a description of the problem.
func verifySignature(header string, body []byte, secrets []string) (int, string) {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return 0, "signature not hex: " + v
			}
			sigs = append(sigs, b)
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return 0, "bad timestamp in " + header
	}
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		found := false
		for _, sig := range sigs {
			found = found || hmac.Equal(sig, want)
		}
		if !found {
			return 0, "no v1 signature matches a secret in " + header
		}
	}
	return len(sigs), ""
}
