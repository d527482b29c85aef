package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestKeysEnsureRotateAndPublish(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		keys, err := e.p.Keys.List(ctx)
		if err != nil || len(keys) != 2 {
			t.Fatalf("after Ensure: %v keys, err %v", len(keys), err)
		}
		if err := e.p.Keys.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		if keys, _ = e.p.Keys.List(ctx); len(keys) != 2 {
			t.Fatalf("Ensure twice made %d keys, want 2", len(keys))
		}
		if err := e.p.Keys.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}

		tok, err := e.p.Keys.sign(ctx, e.d, AlgRS256, "JWT", map[string]string{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := e.p.Keys.RotateIfDue(ctx)
		if err != nil || rotated {
			t.Fatalf("RotateIfDue on fresh keys = %v, %v; want false", rotated, err)
		}
		e.clk.advance(31 * 24 * time.Hour)
		if rotated, err = e.p.Keys.RotateIfDue(ctx); err != nil || !rotated {
			t.Fatalf("RotateIfDue after 31 days = %v, %v; want true", rotated, err)
		}
		set, err := e.p.Keys.JWKS(ctx)
		if err != nil || len(set.Keys) != 4 {
			t.Fatalf("JWKS after rotation has %d keys, err %v; want 4", len(set.Keys), err)
		}
		if _, err := e.p.Keys.verifyJWS(ctx, tok, "JWT"); err != nil {
			t.Fatalf("token signed before rotation no longer verifies: %v", err)
		}

		e.clk.advance(8 * 24 * time.Hour)
		if _, err := e.p.Keys.RotateIfDue(ctx); err != nil {
			t.Fatal(err)
		}
		if set, _ = e.p.Keys.JWKS(ctx); len(set.Keys) != 2 {
			t.Fatalf("JWKS 8 days after retirement has %d keys, want 2", len(set.Keys))
		}
		if _, err := e.p.Keys.verifyJWS(ctx, tok, "JWT"); err == nil {
			t.Fatal("token of a purged key still verifies")
		}
		n := 0
		_ = d.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs
			WHERE event_type = 'system.keys_rotated'`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d system.keys_rotated audit rows, want 1", n)
		}
	})
}

func TestRotateRetireNowDropsOldKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		before, _ := e.p.Keys.List(ctx)
		after, err := e.p.Keys.Rotate(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != 2 {
			t.Fatalf("%d keys after --retire-now, want 2", len(after))
		}
		for _, a := range after {
			for _, b := range before {
				if a.KID == b.KID {
					t.Fatalf("old key %s survived --retire-now", a.KID)
				}
			}
		}
	})
}

func TestSecondInstanceSkipsRotationWhileLocked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		release, err := d.TryLock(ctx, rotationLock)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		e.clk.advance(40 * 24 * time.Hour)
		rotated, err := e.p.Keys.RotateIfDue(ctx)
		if err != nil || rotated {
			t.Fatalf("RotateIfDue under another holder's lock = %v, %v", rotated, err)
		}
	})
}
