package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// call is one request of a burst.
type call struct {
	c      *admClient
	method string
	path   string
	body   any
}

// burstClient gives up on an answer that never comes, so a server stuck
// waiting for itself fails the test instead of hanging it.
var burstClient = &http.Client{Timeout: 30 * time.Second}

// burst sends the calls at the same moment and returns their answers in
// order. Requests are built beforehand, so the goroutines touch no client.
func burst(t *testing.T, calls ...call) []*reply {
	t.Helper()
	reqs := make([]*http.Request, len(calls))
	for i, c := range calls {
		reqs[i] = c.c.request(c.method, c.path, c.body)
	}
	out := make([]*reply, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			<-start
			rep := &reply{}
			out[i] = rep
			resp, err := burstClient.Do(req)
			if err != nil {
				rep.raw = []byte(err.Error())
				return
			}
			defer resp.Body.Close()
			rep.status, rep.header = resp.StatusCode, resp.Header
			rep.raw, _ = io.ReadAll(resp.Body)
			_ = json.Unmarshal(rep.raw, &rep.body)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// statuses counts the answers by status.
func statuses(reps []*reply) map[int]int {
	out := map[int]int{}
	for _, rep := range reps {
		out[rep.status]++
	}
	return out
}

// newRoles creates n roles without permissions and returns their ids.
func newRoles(t *testing.T, o *admOrg, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = o.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Role", "slug": fmt.Sprintf("%s-%d", prefix, i)}).
			want(t, http.StatusCreated, "").str("id")
	}
	return ids
}

// More concurrent grants and revocations than the pool has connections
// must all finish: a transaction never waits for a second connection.
func TestRolePermissionChangesBeyondThePool(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Pool bound")
		perm := permissionID(t, o, "users:read")
		n := r.db.Stats().MaxOpenConnections + 2
		roles := newRoles(t, o, "pool", n)
		for _, c := range []struct {
			method string
			want   int
		}{{http.MethodPost, http.StatusCreated}, {http.MethodDelete, http.StatusOK}} {
			calls := make([]call, n)
			for i, id := range roles {
				calls[i] = call{o.owner, c.method, "/v1/admin/roles/" + id + "/permissions",
					map[string]any{"permissionId": perm}}
			}
			reps := burst(t, calls...)
			if got := statuses(reps); got[c.want] != n {
				t.Fatalf("%s: statuses %v, want %d %d: %s", c.method, got, n, c.want,
					reps[0].raw)
			}
		}
	})
}
