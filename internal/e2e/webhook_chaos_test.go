package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestWebhookDeliverySurvivesAKill produces events over HTTP while the
// receiver fails first attempts, then kills the server (SIGKILL) with
// deliveries in three states: waiting out a retry delay, leased to an
// attempt the receiver has answered 200 but the server has not recorded
// (the crash window), and due but not yet attempted. After a restart every
// event produced, before and after the kill, reaches the receiver; the
// only repeats are the crash-window deliveries, with their original
// X-Cerberus-Delivery ids.
//
// The retry delay (1 min) and the lease (1 min) of the killed deliveries
// are not waited out in real time: while the server is down the test moves
// those two times into the past, as if the server had stayed down for
// them. Package tests cover the schedule itself with an injected clock.
func TestWebhookDeliverySurvivesAKill(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(string(engine), func(t *testing.T) { runChaos(t, engine) })
	}
}

func runChaos(t *testing.T, engine db.Engine) {
	url, dir := dbtest.URL(t, engine), t.TempDir()
	env := hookEnv(url, e2e.NewKey())
	s := e2e.Start(t, e2e.Options{DatabaseURL: url, Dir: dir, Env: env})
	o := oauthOnboard(t, s, "Chaos "+oauthWord())
	rcv := newHookReceiver(t)
	hook := hookCreate(o, rcv, "login.success", "session.created")
	d := hookDB(t, url)
	produced := 0

	// Phase 1: every first attempt fails; the deliveries wait for a retry.
	rcv.setDecide(func(attempt int) hookAction {
		if attempt == 1 {
			return hookFail
		}
		return hookOK
	})
	for range 5 {
		hookTestEvent(o, hook)
		hookLogin(t, s, o)
	}
	produced += 5 + 5*2
	hookWait(t, 30*time.Second, "first attempts to be recorded", func() bool {
		return hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
			WHERE attempts = 1 AND locked_until IS NULL`) == produced
	})

	// Phase 2: the receiver accepts the next attempts and stalls, so the
	// server has sent them but cannot record them; the worker waits on
	// them (for up to its 10 s timeout) while more events queue behind.
	rcv.setDecide(func(int) hookAction { return hookAcceptStall })
	for range 4 {
		hookTestEvent(o, hook)
	}
	hookWait(t, 30*time.Second, "the claimed attempts to reach the receiver", func() bool {
		n := len(rcv.accepted())
		return n > 0 && n == hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
			WHERE locked_until IS NOT NULL`)
	})
	for range 2 {
		hookTestEvent(o, hook)
	}
	produced += 6
	s.Kill()

	inFlight := rcv.accepted()
	assertKilledWhileDue(t, d, produced, len(inFlight))
	hookTravel(t, d, 2*time.Minute)

	// Phase 3: restart; the receiver now accepts everything.
	rcv.setDecide(func(int) hookAction { return hookOK })
	s = e2e.Start(t, e2e.Options{DatabaseURL: url, Dir: dir, Env: env})
	o.s = s
	for range 3 {
		hookTestEvent(o, hook)
	}
	produced += 3
	hookWait(t, 60*time.Second, "every delivery to succeed", func() bool {
		return hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
			WHERE status = 'succeeded'`) == produced
	})
	assertDeliveredOnce(t, d, rcv, produced, inFlight)
}

// hookLogin signs the owner in with a fresh client (login.success and
// session.created), leaving the admin session alone.
func hookLogin(t *testing.T, s *e2e.Server, o *oauthEnv) {
	t.Helper()
	resp, err := http.Post(s.URL+"/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"`+o.email+`","password":"`+o.password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
}

// assertKilledWhileDue checks the outbox the killed server left: every
// event has its row, the first phase's rows wait for a retry, the crash
// window's rows are leased, and the rest are due and untouched.
func assertKilledWhileDue(t *testing.T, d *db.DB, produced, inFlight int) {
	t.Helper()
	now := time.Now().UTC()
	rows := hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`)
	retrying := hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
		WHERE status = 'pending' AND attempts = 1 AND next_attempt_at > $1`, now)
	leased := hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
		WHERE status = 'pending' AND locked_until > $1`, now)
	due := hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'
		AND attempts = 0 AND locked_until IS NULL AND next_attempt_at <= $1`, now)
	t.Logf("at the kill: %d pending, %d waiting for a retry, %d leased, %d due",
		rows, retrying, leased, due)
	if rows != produced || retrying != 15 || leased != inFlight || due != 6-inFlight ||
		due == 0 {
		t.Fatalf("outbox at the kill: %d pending of %d, %d retrying, %d leased "+
			"(%d in flight), %d due", rows, produced, retrying, leased, inFlight, due)
	}
}

// hookTravel moves the pending deliveries' retry times and leases back by d,
// as if the server had been down that long.
func hookTravel(t *testing.T, d *db.DB, by time.Duration) {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), `SELECT id, next_attempt_at,
		locked_until FROM webhook_deliveries WHERE status = 'pending'`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id          string
		next, lease *time.Time
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, db.NullTime(&r.next), db.NullTime(&r.lease)); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	back := func(p *time.Time) any {
		if p == nil {
			return nil
		}
		return p.Add(-by)
	}
	for _, r := range all {
		if _, err := d.ExecContext(context.Background(), `UPDATE webhook_deliveries
			SET next_attempt_at = $1, locked_until = $2 WHERE id = $3`,
			back(r.next), back(r.lease), r.id); err != nil {
			t.Fatal(err)
		}
	}
}

// assertDeliveredOnce checks the end state: every event produced was
// accepted by the receiver under the id of its delivery row, and only the
// crash window's deliveries arrived twice, with the same id and body.
func assertDeliveredOnce(t *testing.T, d *db.DB, rcv *hookReceiver, produced int,
	inFlight map[string][]hookHit) {
	t.Helper()
	rows, err := d.QueryContext(context.Background(),
		`SELECT id, event_id FROM webhook_deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]string{}
	for rows.Next() {
		var id, ev string
		if err := rows.Scan(&id, &ev); err != nil {
			t.Fatal(err)
		}
		events[id] = ev
	}
	rows.Close()
	got := rcv.accepted()
	if len(events) != produced || len(got) != produced {
		t.Fatalf("%d events produced, %d outbox rows, %d delivered", produced,
			len(events), len(got))
	}
	repeats := 0
	for id, hits := range got {
		for _, h := range hits {
			if h.envelopeID != events[id] || h.body != hits[0].body {
				t.Errorf("delivery %s carried event %s, want %s", id, h.envelopeID, events[id])
			}
		}
		if len(hits) > 1 {
			repeats++
			if _, crashed := inFlight[id]; !crashed || len(hits) != 2 {
				t.Errorf("delivery %s arrived %d times", id, len(hits))
			}
		}
	}
	if repeats != len(inFlight) {
		t.Errorf("%d deliveries repeated, want the %d of the crash window", repeats,
			len(inFlight))
	}
}
