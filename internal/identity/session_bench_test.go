package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// BenchmarkSessionByToken measures the validation of a session cookie on
// each request: the SHA-256 of the cookie value, one read of the session
// joined with its user and organisation, and the expiry and idle checks.
// "steady" keeps the rig's clock still, so lastActivityAt is never older
// than 60 s and no request writes it, as for a busy session; "touch" moves
// the clock 61 s per request, so each one also writes lastActivityAt, the
// cost the once-a-minute rule saves.
func BenchmarkSessionByToken(b *testing.B) {
	for _, e := range dbtest.Engines {
		b.Run(string(e), func(b *testing.B) {
			b.Run("steady", func(b *testing.B) { benchSession(b, e, 0) })
			b.Run("touch", func(b *testing.B) { benchSession(b, e, 61*time.Second) })
		})
	}
}

// benchSession validates the owner's session of a fresh organisation in a
// loop, moving the clock by step before each request. The session's
// absolute expiry is pushed out of reach of the moving clock.
func benchSession(b *testing.B, e db.Engine, step time.Duration) {
	r := newRig(b, dbtest.Open(b, e), nil)
	token := r.onboard(b, "bench@example.test").SessionToken
	far := r.clock.Now().AddDate(100, 0, 0)
	if _, err := r.d.ExecContext(context.Background(),
		`UPDATE sessions SET expires_at = $1`, far); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		r.clock.Add(step)
		if _, err := r.svc.SessionByToken(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
