package retention

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
)

func TestRevokeAllTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := seed{t, d}
		rec := event.NewRecorder(func() time.Time { return now })
		a, b := s.org(time.Time{}), s.org(time.Time{})
		ua, ub := s.user(a, time.Time{}), s.user(b, time.Time{})
		ca, cb := s.client(a, time.Time{}), s.client(b, time.Time{})
		s.token(a, ua, ca, now.Add(time.Hour))
		s.token(a, ua, ca, now.Add(time.Hour))
		s.token(a, ua, ca, ago(time.Hour)) // expired: nothing to revoke
		s.token(b, ub, cb, now.Add(time.Hour))

		dry, err := RevokeAllTokens(ctx, d, rec, now, a, true)
		if err != nil || dry.AccessTokens != 2 || dry.RefreshTokens != 2 {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		if s.count("tokens", "revoked_at IS NOT NULL") != 0 {
			t.Fatal("the dry run revoked tokens")
		}
		got, err := RevokeAllTokens(ctx, d, rec, now, a, false)
		if err != nil || got != dry {
			t.Fatalf("revoke in one organisation: %+v %v", got, err)
		}
		if s.count("tokens", "organisation_id = $1 AND revoked_at IS NULL", b) != 1 {
			t.Error("another organisation's token was revoked")
		}
		got, err = RevokeAllTokens(ctx, d, rec, now, "", false)
		if err != nil || got.AccessTokens != 1 || got.RefreshTokens != 1 {
			t.Fatalf("revoke everywhere: %+v %v", got, err)
		}
		live := "revoked_at IS NULL AND expires_at > $1"
		if s.count("tokens", live, now) != 0 || s.count("refresh_tokens", live, now) != 0 {
			t.Error("live tokens remain")
		}
		if s.count("audit_logs", "event_type = 'system.tokens_revoked_all'") != 2 ||
			s.count("audit_logs", "organisation_id = $1", a) != 1 {
			t.Error("audit rows of the revocations")
		}
	})
}

func TestResealMovesEveryValueToTheCurrentKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := seed{t, d}
		oldKey, newKey := crypto.RandomBytes(32), crypto.RandomBytes(32)
		old, _ := crypto.NewKeyRing(oldKey)
		stranger, _ := crypto.NewKeyRing(crypto.RandomBytes(32))
		seal := func(r *crypto.KeyRing, v string) string {
			out, _ := r.SealString(v)
			return out
		}
		org := s.org(time.Time{})
		user := s.user(org, time.Time{})
		s.exec(`UPDATE users SET totp_secret = $1, totp_pending_secret = $2 WHERE id = $3`,
			seal(old, "totp"), seal(stranger, "lost"), user)
		ep := s.endpoint(org, nil)
		s.exec(`UPDATE webhook_endpoints SET secret = $1, previous_secret = $2 WHERE id = $3`,
			seal(old, "whsec_current"), seal(old, "whsec_previous"), ep)
		s.exec(`INSERT INTO jwks (id, kid, alg, public_key, private_key, status, created_at,
			updated_at) VALUES ($1, 'k', 'EdDSA', '{}', $2, 'active', $3, $3)`,
			db.NewID(), seal(old, "private"), now)
		for i := 0; i < resealBatch+3; i++ {
			s.exec(`INSERT INTO email_outbox (id, recipient, template, payload, status,
				created_at, updated_at) VALUES ($1, 'a@x.test', 'welcome', $2, 'sent', $3, $3)`,
				db.NewID(), seal(old, `{"n":1}`), now)
		}

		ring, _ := crypto.NewKeyRing(newKey, oldKey)
		rec := event.NewRecorder(func() time.Time { return now })
		dry, err := Reseal(ctx, d, ring, rec, true)
		if err != nil || total(dry) != int64(resealBatch+7) || unreadable(dry) != 1 {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		res, err := Reseal(ctx, d, ring, rec, false)
		if err != nil || total(res) != total(dry) || unreadable(res) != 1 {
			t.Fatalf("reseal: %+v %v", res, err)
		}
		again, err := Reseal(ctx, d, ring, rec, false)
		if err != nil || total(again) != 0 {
			t.Fatalf("second run re-sealed %d values: %v", total(again), err)
		}

		current, _ := crypto.NewKeyRing(newKey) // the old key is gone now
		opened, closed := 0, 0
		for _, c := range SealedColumns {
			rows, err := d.QueryContext(ctx, `SELECT `+c.Column+` FROM `+c.Table+
				` WHERE `+c.Column+` IS NOT NULL`)
			if err != nil {
				t.Fatal(err)
			}
			var values []string
			for rows.Next() {
				var v string
				_ = rows.Scan(&v)
				values = append(values, v)
			}
			rows.Close()
			for _, v := range values {
				if _, err := current.Open(v); err != nil {
					closed++
				} else {
					opened++
				}
			}
		}
		if opened != resealBatch+7 || closed != 1 {
			t.Errorf("with the new key alone %d values open, %d do not", opened, closed)
		}
		var totp, prev string
		_ = d.QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, user).
			Scan(&totp)
		_ = d.QueryRowContext(ctx, `SELECT previous_secret FROM webhook_endpoints
			WHERE id = $1`, ep).Scan(&prev)
		if v, _ := current.OpenString(totp); v != "totp" {
			t.Errorf("totp secret opens to %q", v)
		}
		if v, _ := current.OpenString(prev); v != "whsec_previous" {
			t.Errorf("previous webhook secret opens to %q", v)
		}
		if s.count("audit_logs", "event_type = 'system.encryption_key_rotated'") != 2 {
			t.Error("audit rows of the re-seals")
		}
	})
}

func total(rs []ResealResult) int64 {
	var n int64
	for _, r := range rs {
		n += r.Resealed
	}
	return n
}

func unreadable(rs []ResealResult) int64 {
	var n int64
	for _, r := range rs {
		n += r.Unreadable
	}
	return n
}
