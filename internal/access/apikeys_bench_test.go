package access_test

import (
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// BenchmarkAuthenticateAPIKey measures the API key credential: the shape
// check, one read by prefix joined with the creator and the organisation,
// and the SHA-256 comparison. "steady" is a key used within the last
// minute, so last_used_at is not written; "touch" moves the clock a
// minute per use, so every use also writes last_used_at, the cost the
// once-a-minute rule saves.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	for _, e := range dbtest.Engines {
		b.Run(string(e), func(b *testing.B) {
			b.Run("steady", func(b *testing.B) { benchAPIKey(b, e, 0) })
			b.Run("touch", func(b *testing.B) { benchAPIKey(b, e, time.Minute) })
		})
	}
}

// benchAPIKey authenticates one key in a loop, moving the service's clock
// by step before each use.
func benchAPIKey(b *testing.B, e db.Engine, step time.Duration) {
	d := dbtest.Open(b, e)
	org, user := benchOrgUser(b, d, access.RoleOwner)
	now := time.Now().UTC().Truncate(time.Millisecond)
	clock := func() time.Time { return now }
	svc := access.NewService(access.ServiceOptions{DB: d, Events: event.NewRecorder(clock),
		Authorizer: access.NewAuthorizer(d), Now: clock})
	owner := &access.Principal{Kind: access.KindSession, OrganisationID: org, UserID: user}
	_, raw, err := svc.CreateAPIKey(b.Context(), owner, access.APIKeyCreate{Name: "Bench",
		Scopes: []string{"users:read"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(step)
		if _, err := svc.AuthenticateAPIKey(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}
