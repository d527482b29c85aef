package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
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

// same repeats one call n times.
func same(n int, c call) []call {
	out := make([]call, n)
	for i := range out {
		out[i] = c
	}
	return out
}

// rounds is how many times a race is run; each round is a fresh chance
// for the requests to interleave badly.
const rounds = 8

// Identical "add" requests at once add one row: one 201 with its audit
// row, the others 200 and nothing recorded.
func TestConcurrentIdenticalAddsAddOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Identical adds")
		perm := permissionID(t, o, "users:read")
		roles := newRoles(t, o, "same", rounds)
		const n = 4
		for i := range rounds {
			u := o.owner.call(http.MethodPost, "/v1/admin/users", map[string]any{
				"email": fmt.Sprintf("same-%d@example.com", i), "firstName": "Same",
				"lastName": "Add"}).want(t, http.StatusCreated, "").str("id")
			team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
				"name": "Team", "slug": fmt.Sprintf("team-%d", i)}).
				want(t, http.StatusCreated, "").str("id")
			for _, c := range []struct {
				call  call
				audit string
			}{
				{call{o.owner, http.MethodPost, "/v1/admin/users/" + u + "/roles",
					map[string]any{"roleId": o.roles["manager"]}}, "user.role_assigned"},
				{call{o.owner, http.MethodPost, "/v1/admin/teams/" + team + "/members",
					map[string]any{"userId": u}}, "team.member_added"},
				{call{o.owner, http.MethodPost, "/v1/admin/roles/" + roles[i] + "/permissions",
					map[string]any{"permissionId": perm}}, "permission.granted"},
			} {
				before := r.audits(o.id, c.audit)
				reps := burst(t, same(n, c.call)...)
				got := statuses(reps)
				if got[http.StatusCreated] != 1 || got[http.StatusOK] != n-1 {
					t.Fatalf("%s: statuses %v, want one 201 and %d 200: %s", c.call.path,
						got, n-1, reps[0].raw)
				}
				if d := r.audits(o.id, c.audit) - before; d != 1 {
					t.Fatalf("%s: %d %s audit rows, want 1", c.call.path, d, c.audit)
				}
			}
		}
	})
}

// Roles and teams created at once with one slug: one 201, the others 409.
func TestConcurrentSlugCreationsConflict(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Slug races")
		const n = 4
		for i := range rounds {
			for _, path := range []string{"/v1/admin/roles", "/v1/admin/teams"} {
				got := statuses(burst(t, same(n, call{o.owner, http.MethodPost, path,
					map[string]any{"name": "Same", "slug": fmt.Sprintf("same-%d", i)}})...))
				if got[http.StatusCreated] != 1 || got[http.StatusConflict] != n-1 {
					t.Fatalf("%s: statuses %v, want one 201 and %d 409", path, got, n-1)
				}
			}
		}
	})
}

// wantOneOf fails unless rep has one of the statuses and, when it is a
// 404, the detail notFound.
func wantOneOf(t *testing.T, what string, rep *reply, notFound string, status ...int) {
	t.Helper()
	if !slices.Contains(status, rep.status) {
		t.Fatalf("%s: status %d, want one of %v: %s", what, rep.status, status, rep.raw)
	}
	if rep.status == http.StatusNotFound && rep.str("detail") != notFound {
		t.Fatalf("%s: detail %q, want %q", what, rep.str("detail"), notFound)
	}
}

// Adding to a role or team while it is deleted either lands before the
// deletion or answers that the role or team is not found.
func TestAddsRacingParentDeletion(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Add while delete")
		perm := permissionID(t, o, "users:read")
		for i := range rounds {
			u := o.owner.call(http.MethodPost, "/v1/admin/users", map[string]any{
				"email": fmt.Sprintf("gone-%d@example.com", i), "firstName": "Gone",
				"lastName": "Parent"}).want(t, http.StatusCreated, "").str("id")
			roles := newRoles(t, o, fmt.Sprintf("gone-%d", i), 3)
			team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
				"name": "Team", "slug": fmt.Sprintf("gone-%d", i)}).
				want(t, http.StatusCreated, "").str("id")
			reps := burst(t,
				call{o.owner, http.MethodPost, "/v1/admin/users/" + u + "/roles",
					map[string]any{"roleId": roles[0]}},
				call{o.owner, http.MethodDelete, "/v1/admin/roles/" + roles[0], nil},
				call{o.owner, http.MethodPost, "/v1/admin/roles/" + roles[1] + "/permissions",
					map[string]any{"permissionId": perm}},
				call{o.owner, http.MethodDelete, "/v1/admin/roles/" + roles[1], nil},
				call{o.owner, http.MethodPost, "/v1/admin/teams/" + team + "/members",
					map[string]any{"userId": u}},
				call{o.owner, http.MethodDelete, "/v1/admin/teams/" + team, nil},
				call{o.owner, http.MethodPost, "/v1/admin/users", map[string]any{
					"email": fmt.Sprintf("born-%d@example.com", i), "firstName": "Born",
					"lastName": "Late", "roleIds": []string{roles[2]}}},
				call{o.owner, http.MethodDelete, "/v1/admin/roles/" + roles[2], nil})
			wantOneOf(t, "assign", reps[0], "Role not found", 201, 404)
			wantOneOf(t, "grant", reps[2], "Role not found", 201, 404)
			wantOneOf(t, "add member", reps[4], "Team not found", 201, 404)
			wantOneOf(t, "create user", reps[6], "", 201, 400)
			if reps[6].status == http.StatusBadRequest {
				reps[6].wantField(t, "roleIds.0", "")
			}
			for _, k := range []int{1, 3, 5, 7} {
				wantOneOf(t, "delete", reps[k], "", 204)
			}
		}
	})
}

// Deleting one role, team or webhook twice at once deletes it once.
func TestConcurrentDeletionsDeleteOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Delete twice")
		const n = 4
		for i := range rounds {
			role := newRoles(t, o, fmt.Sprintf("twice-%d", i), 1)[0]
			team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
				"name": "Team", "slug": fmt.Sprintf("twice-%d", i)}).
				want(t, http.StatusCreated, "").str("id")
			hook := o.owner.call(http.MethodPost, "/v1/admin/webhooks", map[string]any{
				"url": "https://hooks.example.com/in", "events": []string{"user.created"}}).
				want(t, http.StatusCreated, "").str("id")
			for _, c := range []struct{ path, audit string }{
				{"/v1/admin/roles/" + role, "role.deleted"},
				{"/v1/admin/teams/" + team, "team.deleted"},
				{"/v1/admin/webhooks/" + hook, "webhook.deleted"},
			} {
				before := r.audits(o.id, c.audit)
				got := statuses(burst(t, same(n, call{o.owner, http.MethodDelete, c.path,
					nil})...))
				if got[http.StatusNoContent] != 1 || got[http.StatusNotFound] != n-1 {
					t.Fatalf("%s: statuses %v, want one 204 and %d 404", c.path, got, n-1)
				}
				if d := r.audits(o.id, c.audit) - before; d != 1 {
					t.Fatalf("%s: %d %s audit rows, want 1", c.path, d, c.audit)
				}
			}
		}
	})
}

// However default-role changes and deletions interleave, the organisation
// keeps exactly one default role.
func TestDefaultRoleSurvivesConcurrentChanges(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("One default")
		on := map[string]any{"isDefault": true}
		oneDefault := func(round int, what string) {
			t.Helper()
			if n := r.count(`SELECT COUNT(*) FROM roles WHERE organisation_id = $1
				AND is_default = TRUE`, o.id); n != 1 {
				t.Fatalf("round %d, %s: %d default roles", round, what, n)
			}
		}
		for i := range rounds {
			roles := newRoles(t, o, fmt.Sprintf("def-%d", i), 3)
			reps := burst(t,
				call{o.owner, http.MethodPatch, "/v1/admin/roles/" + roles[0], on},
				call{o.owner, http.MethodDelete, "/v1/admin/roles/" + roles[0], nil})
			wantOneOf(t, "patch", reps[0], "Role not found", 200, 404)
			wantOneOf(t, "delete", reps[1], "", 204, 400)
			oneDefault(i, "default against delete")
			reps = burst(t,
				call{o.owner, http.MethodPatch, "/v1/admin/roles/" + roles[1], on},
				call{o.owner, http.MethodPost, "/v1/admin/roles", map[string]any{
					"name": "Role", "slug": fmt.Sprintf("def-%d-new", i), "isDefault": true}},
				call{o.owner, http.MethodPatch, "/v1/admin/roles/" + roles[2], on})
			for k, rep := range reps {
				wantOneOf(t, fmt.Sprintf("default %d", k), rep, "", 200, 201)
			}
			oneDefault(i, "defaults against each other")
			// The old default may go once another takes over; a user
			// created meanwhile is given one of them (and loses the old
			// one with its deletion).
			old := defaultRole(t, r, o)
			reps = burst(t,
				call{o.owner, http.MethodPost, "/v1/admin/users", map[string]any{
					"email": fmt.Sprintf("def-%d@example.com", i), "firstName": "New",
					"lastName": "Default"}},
				call{o.owner, http.MethodPatch, "/v1/admin/roles/" + roles[1], on},
				call{o.owner, http.MethodDelete, "/v1/admin/roles/" + old, nil})
			wantOneOf(t, "create user", reps[0], "", 201)
			wantOneOf(t, "make default", reps[1], "", 200)
			wantOneOf(t, "delete old default", reps[2], "", 204, 400)
		}
	})
}

// defaultRole returns the id of the organisation's default role.
func defaultRole(t *testing.T, r *admRig, o *admOrg) string {
	t.Helper()
	var id string
	err := r.db.QueryRowContext(t.Context(), `SELECT id FROM roles
		WHERE organisation_id = $1 AND is_default = TRUE`, o.id).Scan(&id)
	if err != nil {
		t.Fatalf("default role: %v", err)
	}
	return id
}

// Deleting or blocking one user several times at once does it once.
func TestConcurrentUserDeletionsDeleteOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("User twice")
		const n = 4
		for i := range rounds {
			u := o.owner.call(http.MethodPost, "/v1/admin/users", map[string]any{
				"email": fmt.Sprintf("twice-%d@example.com", i), "firstName": "Twice",
				"lastName": "Gone"}).want(t, http.StatusCreated, "").str("id")
			before := r.audits(o.id, "user.blocked")
			got := statuses(burst(t, same(n, call{o.owner, http.MethodPatch,
				"/v1/admin/users/" + u, map[string]any{"blockedAt": "2026-01-01T00:00:00Z"}})...))
			if got[http.StatusOK] != n {
				t.Fatalf("block: statuses %v, want %d 200", got, n)
			}
			if d := r.audits(o.id, "user.blocked") - before; d != 1 {
				t.Fatalf("block: %d user.blocked audit rows, want 1", d)
			}
			before = r.audits(o.id, "user.deleted")
			got = statuses(burst(t, same(n, call{o.owner, http.MethodDelete,
				"/v1/admin/users/" + u, nil})...))
			if got[http.StatusNoContent] != 1 || got[http.StatusNotFound] != n-1 {
				t.Fatalf("delete: statuses %v, want one 204 and %d 404", got, n-1)
			}
			if d := r.audits(o.id, "user.deleted") - before; d != 1 {
				t.Fatalf("delete: %d user.deleted audit rows, want 1", d)
			}
		}
	})
}

// Ending an invitation, or revoking a key, several times at once ends it
// once; and a cancellation racing an acceptance either comes first or
// answers that the invitation has been accepted.
func TestConcurrentEndingsEndOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("End once")
		pub := &admClient{r: r}
		const n = 4
		invite := func(email string) (string, string) {
			id := o.owner.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
				"email": email, "roleId": o.roles["staff"]}).
				want(t, http.StatusCreated, "").str("id")
			return id, r.mailData(email, "invitation")["token"].(string)
		}
		for i := range rounds {
			id, _ := invite(fmt.Sprintf("twice-%d@example.com", i))
			key := o.owner.call(http.MethodPost, "/v1/admin/api-keys", map[string]any{
				"name": "key", "scopes": []string{"users:read"}}).
				want(t, http.StatusCreated, "").str("id")
			for _, c := range []struct{ method, path, audit string }{
				{http.MethodDelete, "/v1/admin/invitations/" + id, "invitation.cancelled"},
				{http.MethodPost, "/v1/admin/api-keys/" + key + "/revoke", "api_key.revoked"},
			} {
				before := r.audits(o.id, c.audit)
				burst(t, same(n, call{o.owner, c.method, c.path, nil})...)
				if d := r.audits(o.id, c.audit) - before; d != 1 {
					t.Fatalf("%s: %d %s audit rows, want 1", c.path, d, c.audit)
				}
			}
			email := fmt.Sprintf("race-%d@example.com", i)
			id, token := invite(email)
			reps := burst(t,
				call{o.owner, http.MethodDelete, "/v1/admin/invitations/" + id, nil},
				call{pub, http.MethodPost, "/v1/public/invitations/" + token + "/accept",
					map[string]any{"email": email, "firstName": "Race", "lastName": "Guest",
						"password": admPassword}})
			accepted := reps[1].status == http.StatusCreated
			if accepted {
				reps[0].want(t, http.StatusConflict, "Invitation has already been accepted")
			} else {
				reps[0].want(t, http.StatusNoContent, "")
			}
			if n := r.count(`SELECT COUNT(*) FROM invitations WHERE id = $1
				AND (status = 'accepted') = $2`, id, accepted); n != 1 {
				t.Fatalf("stored status disagrees with the answers %d, %d",
					reps[0].status, reps[1].status)
			}
		}
	})
}

// Organisation settings patched at once by several requests, each naming
// other fields, all stick: no request writes back what it read before
// another committed.
func TestConcurrentOrganisationPatchesAllStick(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Settings race")
		for i := range rounds {
			name := fmt.Sprintf("Settings race %d", i)
			site := fmt.Sprintf("https://example.com/%d", i)
			mail := fmt.Sprintf("org-%d@example.com", i)
			reps := burst(t,
				call{o.owner, http.MethodPatch, "/v1/admin/organisation",
					map[string]any{"name": name}},
				call{o.owner, http.MethodPatch, "/v1/admin/organisation",
					map[string]any{"website": site}},
				call{o.owner, http.MethodPatch, "/v1/admin/organisation",
					map[string]any{"email": mail}})
			for _, rep := range reps {
				rep.want(t, http.StatusOK, "")
			}
			if n := r.count(`SELECT COUNT(*) FROM organisations WHERE id = $1
				AND name = $2 AND website = $3 AND email = $4`, o.id, name, site,
				mail); n != 1 {
				got := o.owner.call(http.MethodGet, "/v1/admin/organisation", nil)
				t.Fatalf("round %d: a change was lost: %s", i, got.raw)
			}
		}
	})
}

// A role's or team's name and description patched at once by two
// requests both stick.
func TestConcurrentRoleAndTeamPatchesAllStick(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Patch race")
		role := newRoles(t, o, "patched", 1)[0]
		team := o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{
			"name": "Team", "slug": "patched"}).want(t, http.StatusCreated, "").str("id")
		for i := range rounds {
			name, desc := fmt.Sprintf("Name %d", i), fmt.Sprintf("Description %d", i)
			for _, c := range []struct{ path, table string }{
				{"/v1/admin/roles/" + role, "roles"}, {"/v1/admin/teams/" + team, "teams"},
			} {
				reps := burst(t,
					call{o.owner, http.MethodPatch, c.path, map[string]any{"name": name}},
					call{o.owner, http.MethodPatch, c.path,
						map[string]any{"description": desc}})
				for _, rep := range reps {
					rep.want(t, http.StatusOK, "")
				}
				if n := r.count(`SELECT COUNT(*) FROM `+c.table+` WHERE id = $1
					AND name = $2 AND description = $3`, c.path[len(c.path)-36:], name,
					desc); n != 1 {
					t.Fatalf("round %d: a change to %s was lost", i, c.path)
				}
			}
		}
	})
}
