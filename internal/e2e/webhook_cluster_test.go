package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestTwoInstancesDeliverEachEventOnce runs two serve processes on one
// PostgreSQL database and queues 1 000 test events through both: every
// delivery reaches the receiver exactly once, and both instances delivered
// some.
func TestTwoInstancesDeliverEachEventOnce(t *testing.T) {
	const events = 1000
	url := dbtest.URL(t, db.Postgres)
	env := hookEnv(url, e2e.NewKey())
	a := e2e.Start(t, e2e.Options{DatabaseURL: url, Env: env})
	b := e2e.Start(t, e2e.Options{DatabaseURL: url, Env: env})
	o := oauthOnboard(t, a, "Cluster "+oauthWord())
	rcv := newHookReceiver(t)
	hook := hookCreate(o, rcv, "user.created")

	var wg sync.WaitGroup
	errs := make(chan error, events)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < events; i += 4 {
				s := a
				if i%2 == 1 {
					s = b
				}
				errs <- queueTest(o, s, hook)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := hookDB(t, url)
	hookWait(t, 2*time.Minute, "every delivery to succeed", func() bool {
		return hookCount(t, d, `SELECT COUNT(*) FROM webhook_deliveries
			WHERE status = 'succeeded'`) == events
	})

	got := map[string]int{}
	for _, h := range rcv.snapshot() {
		got[h.delivery]++
	}
	if len(got) != events {
		t.Fatalf("%d distinct deliveries arrived, want %d", len(got), events)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("delivery %s arrived %d times", id, n)
		}
	}
	byA, byB := delivered(t, a), delivered(t, b)
	t.Logf("instance A delivered %d, instance B %d", byA, byB)
	if byA+byB != events || byA == 0 || byB == 0 {
		t.Errorf("instances delivered %d and %d of %d", byA, byB, events)
	}
}

// queueTest posts a test event through server s with the admin session.
func queueTest(o *oauthEnv, s *e2e.Server, hook string) error {
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/admin/webhooks/"+hook+"/test", nil)
	req.Header.Set("X-CSRF-Token", o.csrf)
	req.Header.Set("X-Org-Domain", o.slug)
	resp, err := o.admin.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("test event on %s: %d %s", s.URL, resp.StatusCode, body)
	}
	return nil
}

var successMetric = regexp.MustCompile(
	`(?m)^cerberus_webhook_deliveries_total\{result="success"\} (\d+)$`)

// delivered reads an instance's count of successful deliveries.
func delivered(t *testing.T, s *e2e.Server) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := successMetric.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no success count in the metrics of %s", s.URL)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
