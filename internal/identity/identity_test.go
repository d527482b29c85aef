package identity_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is a service over a real database with a test clock.
type rig struct {
	d       *db.DB
	clock   *clock
	keys    *crypto.KeyRing
	hasher  *crypto.PasswordHasher
	outbox  *mail.Outbox
	metrics *telemetry.Metrics
	svc     *identity.Service
}

const password = "Sup3r$ecret"

func newRig(t testing.TB, d *db.DB, hasher *crypto.PasswordHasher,
	edit ...func(*identity.Options)) *rig {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)}
	if err := access.SyncCatalogue(context.Background(), d, c.Now()); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := crypto.NewKeyRing(key)
	if err != nil {
		t.Fatal(err)
	}
	if hasher == nil {
		hasher = crypto.NewPasswordHasher(crypto.HashParams{MemoryKiB: 64, Iterations: 1,
			Parallelism: 1}, 4, 5*time.Second, nil)
	}
	r := &rig{d: d, clock: c, keys: keys, hasher: hasher,
		outbox: mail.NewOutbox(d, keys, c.Now), metrics: telemetry.NewMetrics("t", "t")}
	o := identity.Options{DB: d, Keys: keys, Hasher: hasher, Outbox: r.outbox,
		Events: event.NewRecorder(c.Now), Authorizer: access.NewAuthorizer(d),
		Metrics: r.metrics, Now: c.Now, OnboardAutoVerify: true, ForgotPasswordFloor: -1}
	for _, e := range edit {
		e(&o)
	}
	r.svc = identity.New(o)
	return r
}

// onboard creates an organisation with an owner and returns the result.
func (r *rig) onboard(t testing.TB, email string) *identity.OnboardResult {
	t.Helper()
	res, err := r.svc.Onboard(context.Background(), identity.OnboardInput{
		OrganisationName: "Org " + email, Email: email, FirstName: "Ada",
		LastName: "Lovelace", Password: password})
	if err != nil {
		t.Fatalf("onboard %s: %v", email, err)
	}
	return res
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
