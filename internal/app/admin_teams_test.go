package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminTeams(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Teams")
		c := o.owner
		rep := c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Platform",
			"slug": "platform", "description": "Runs things"}).want(t, 201, "")
		id := rep.str("id")
		if rep.str("organisationId") != o.id || len(rep.body["members"].([]any)) != 0 {
			t.Fatalf("created team: %s", rep.raw)
		}
		c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Again",
			"slug": "platform"}).want(t, 409, "Team slug already exists")
		c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "",
			"slug": "-x", "description": strings.Repeat("d", 501)}).
			wantField(t, "name", "required").wantField(t, "slug", "invalid_format").
			wantField(t, "description", "too_long")
		c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Web",
			"slug": "web"}).want(t, 201, "")
		rep = c.call(http.MethodGet, query("/v1/admin/teams", "sort", "-name"), nil).
			want(t, 200, "")
		if rep.list()[0]["slug"] != "web" || rep.body["total"] != 2.0 {
			t.Fatalf("teams by name desc: %s", rep.raw)
		}
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/teams", "q", "PLAT"), nil), id)
		c.call(http.MethodGet, query("/v1/admin/teams", "members", "1"), nil).
			wantField(t, "members", "unknown_field")

		rep = c.call(http.MethodPatch, "/v1/admin/teams/"+id, map[string]any{
			"name": "Platform team", "description": nil}).want(t, 200, "")
		if rep.str("name") != "Platform team" || rep.body["description"] != nil ||
			rep.str("slug") != "platform" {
			t.Fatalf("updated team: %s", rep.raw)
		}
		c.call(http.MethodPatch, "/v1/admin/teams/"+id, map[string]any{"name": nil}).
			wantField(t, "name", "invalid_type")
		c.call(http.MethodPatch, "/v1/admin/teams/"+db.NewID(), map[string]any{"name": "x"}).
			want(t, 404, "Team not found")

		m := o.member("Tom", o.roles["staff"])
		members := "/v1/admin/teams/" + id + "/members"
		rep = c.call(http.MethodPost, members, userOf(m.id)).want(t, 201, "")
		if rep.str("message") != "Member added" || rep.str("teamId") != id ||
			rep.str("userId") != m.id {
			t.Fatalf("member added: %s", rep.raw)
		}
		c.call(http.MethodPost, members, userOf(m.id)).want(t, 200, "")
		got := c.call(http.MethodGet, "/v1/admin/teams/"+id, nil).want(t, 200, "")
		if ms := got.body["members"].([]any); len(ms) != 1 ||
			ms[0].(map[string]any)["id"] != m.id {
			t.Fatalf("members: %s", got.raw)
		}
		c.call(http.MethodPost, members, userOf(db.NewID())).want(t, 404, "User not found")
		c.call(http.MethodPost, members, map[string]any{}).wantField(t, "userId", "required")
		rep = c.call(http.MethodDelete, members, userOf(m.id)).want(t, 200, "")
		if rep.str("message") != "Member removed" {
			t.Fatalf("member removed: %s", rep.raw)
		}
		c.call(http.MethodDelete, members, userOf(m.id)).
			want(t, 404, "User is not a member of this team")

		c.call(http.MethodPost, members, userOf(m.id)).want(t, 201, "")
		c.call(http.MethodDelete, "/v1/admin/teams/"+id, nil).want(t, 204, "")
		c.call(http.MethodGet, "/v1/admin/teams/"+id, nil).want(t, 404, "Team not found")
		c.call(http.MethodDelete, "/v1/admin/teams/"+id, nil).want(t, 404, "Team not found")
		after := c.call(http.MethodGet, "/v1/admin/users/"+m.id, nil).want(t, 200, "")
		if len(after.body["roles"].([]any)) != 1 {
			t.Fatalf("member lost their roles with the team: %s", after.raw)
		}
		for _, typ := range []string{"team.created", "team.updated", "team.deleted",
			"team.member_added", "team.member_removed"} {
			if r.audits(o.id, typ) == 0 {
				t.Errorf("no %s audit", typ)
			}
		}
	})
}
