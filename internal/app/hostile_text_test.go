package app

import (
	"net/http"
	"testing"
)

// TestTextTheDatabaseRefuses sends NUL characters and bytes that are not
// UTF-8 in query strings and bodies: each is a 400, never a 500, on both
// engines.
func TestTextTheDatabaseRefuses(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Hostile text")
		for _, path := range []string{"/v1/admin/users?q=%00", "/v1/admin/roles?q=a%00b",
			"/v1/admin/invitations?email=%00", "/v1/admin/audit-logs?action=%00",
			"/v1/admin/audit-logs?resourceId=%ff"} {
			rep := o.owner.call(http.MethodGet, path, nil)
			if rep.status != http.StatusOK && rep.status != http.StatusBadRequest {
				t.Errorf("GET %s: %d %s", path, rep.status, rep.raw)
			}
		}
		o.owner.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "a\x00b",
			"slug": "nul"}).wantField(t, "name", "invalid_format")
		o.owner.call(http.MethodPatch, "/v1/admin/users/"+o.owner.id, map[string]any{
			"firstName": "a\x00b"}).wantField(t, "firstName", "invalid_format")
	})
}
