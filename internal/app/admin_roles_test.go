package app

import (
	"net/http"
	"slices"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminRoles(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Roles")
		c := o.owner
		read := permissionID(t, o, "users:read")
		rep := c.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Support", "slug": "support", "description": "Helps",
			"permissionIds": []string{read, read}}).want(t, 201, "")
		id := rep.str("id")
		if rep.str("organisationId") != o.id || rep.body["isSystem"] != false ||
			rep.body["userCount"] != 0.0 || len(rep.body["permissions"].([]any)) != 1 {
			t.Fatalf("created role: %s", rep.raw)
		}
		c.call(http.MethodPost, "/v1/admin/roles", map[string]any{"name": "Again",
			"slug": "support"}).want(t, 409, "Role slug already exists")
		c.call(http.MethodPost, "/v1/admin/roles", map[string]any{"name": "",
			"slug": "Bad Slug", "permissionIds": []string{db.NewID()}}).
			wantField(t, "name", "required").wantField(t, "slug", "invalid_format").
			wantField(t, "permissionIds.0", "invalid_value")

		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/roles", "q", "supp"), nil), id)
		rep = c.call(http.MethodGet, "/v1/admin/roles", nil).want(t, 200, "")
		if rep.body["total"] != 5.0 || rep.list()[0]["name"] != "Admin" {
			t.Fatalf("roles sorted by name: %s", rep.raw)
		}
		c.call(http.MethodGet, query("/v1/admin/roles", "sort", "userCount"), nil).
			wantField(t, "sort", "invalid_value")
		c.call(http.MethodGet, "/v1/admin/roles/"+id, nil).want(t, 200, "")
		c.call(http.MethodGet, "/v1/admin/roles/"+db.NewID(), nil).want(t, 404, "Role not found")

		rep = c.call(http.MethodPatch, "/v1/admin/roles/"+id, map[string]any{
			"name": "Support desk", "description": nil, "isDefault": true}).want(t, 200, "")
		if rep.str("name") != "Support desk" || rep.body["description"] != nil ||
			rep.body["isDefault"] != true {
			t.Fatalf("updated role: %s", rep.raw)
		}
		staff := c.call(http.MethodGet, "/v1/admin/roles/"+o.roles["staff"], nil)
		if staff.body["isDefault"] != false {
			t.Fatalf("staff still default: %s", staff.raw)
		}
		c.call(http.MethodPatch, "/v1/admin/roles/"+id, map[string]any{"isDefault": false}).
			want(t, 400, "Choose another default role first")
		c.call(http.MethodDelete, "/v1/admin/roles/"+id, nil).
			want(t, 400, "Choose another default role first")
		c.call(http.MethodPatch, "/v1/admin/roles/"+o.roles["owner"],
			map[string]any{"name": "Boss"}).want(t, 400, "The Owner role cannot be modified")
		c.call(http.MethodPatch, "/v1/admin/roles/"+id, map[string]any{"slug": "x"}).
			wantField(t, "slug", "unknown_field")
		c.call(http.MethodDelete, "/v1/admin/roles/"+o.roles["manager"], nil).
			want(t, 400, "Seeded roles cannot be deleted")
		c.call(http.MethodPatch, "/v1/admin/roles/"+o.roles["staff"],
			map[string]any{"isDefault": true}).want(t, 200, "")

		// New users now get the default role back.
		m := o.member("Ola", id)
		if n := r.count(`SELECT COUNT(*) FROM user_roles WHERE role_id = $1`, id); n != 1 {
			t.Fatalf("holders %d", n)
		}
		c.call(http.MethodDelete, "/v1/admin/roles/"+id, nil).want(t, 204, "")
		c.call(http.MethodGet, "/v1/admin/roles/"+id, nil).want(t, 404, "Role not found")
		m.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 403, "Missing required permission: users:read")
		for _, typ := range []string{"role.created", "role.updated", "role.deleted"} {
			if r.audits(o.id, typ) == 0 {
				t.Errorf("no %s audit", typ)
			}
		}
	})
}

func TestAdminRolePermissions(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Grants")
		c := o.owner
		id := c.call(http.MethodPost, "/v1/admin/roles", map[string]any{"name": "Ops",
			"slug": "ops"}).want(t, 201, "").str("id")
		path := "/v1/admin/roles/" + id + "/permissions"
		perm := permissionID(t, o, "teams:read")
		body := map[string]any{"permissionId": perm}
		rep := c.call(http.MethodPost, path, body).want(t, 201, "")
		if rep.str("message") != "Permission granted" || rep.str("roleId") != id ||
			rep.str("permissionId") != perm {
			t.Fatalf("granted: %s", rep.raw)
		}
		c.call(http.MethodPost, path, body).want(t, 200, "")
		rep = c.call(http.MethodDelete, path, body).want(t, 200, "")
		if rep.str("message") != "Permission revoked" {
			t.Fatalf("revoked: %s", rep.raw)
		}
		c.call(http.MethodDelete, path, body).want(t, 404, "Permission not assigned to role")
		c.call(http.MethodPost, path, map[string]any{"permissionId": db.NewID()}).
			want(t, 404, "Permission not found")
		c.call(http.MethodPost, path, map[string]any{}).wantField(t, "permissionId",
			"required")
		c.call(http.MethodPost, "/v1/admin/roles/"+db.NewID()+"/permissions", body).
			want(t, 404, "Role not found")
		c.call(http.MethodPost, "/v1/admin/roles/"+o.roles["owner"]+"/permissions", body).
			want(t, 400, "The Owner role cannot be modified")
		c.call(http.MethodPost, "/v1/admin/roles/"+o.roles["staff"]+"/permissions", body).
			want(t, 200, "")

		// An admin holds every resource wildcard but organisation:delete
		// and "*": it can grant neither.
		adm := o.member("Ada", o.roles["admin"])
		adm.call(http.MethodPost, path, map[string]any{
			"permissionId": permissionID(t, o, "*")}).
			want(t, 403, "Cannot grant permissions you do not hold")
		adm.call(http.MethodPost, path, map[string]any{
			"permissionId": permissionID(t, o, "organisation:delete")}).
			want(t, 403, "Cannot grant permissions you do not hold")
		adm.call(http.MethodPost, "/v1/admin/roles", map[string]any{"name": "Root",
			"slug": "root", "permissionIds": []string{permissionID(t, o, "*")}}).
			want(t, 403, "Cannot grant permissions you do not hold")
		adm.call(http.MethodPost, path, map[string]any{
			"permissionId": permissionID(t, o, "users:*")}).want(t, 201, "")
		if r.audits(o.id, "permission.granted") != 2 || r.audits(o.id, "permission.revoked") != 1 {
			t.Fatal("permission audits")
		}
	})
}

// TestAdminPermissionLossIsImmediate takes users:read away from a user's
// role: the very next request of that user is refused, on both the
// session and an API key, with no waiting for a cache.
func TestAdminPermissionLossIsImmediate(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Revoking")
		read := permissionID(t, o, "users:read")
		role := o.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Reader", "slug": "reader", "permissionIds": []string{read}}).
			want(t, 201, "").str("id")
		m := o.member("Rae", role)
		key := m.apiKeyOf(o, "users:read")
		for range 3 {
			m.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
			key.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		}
		o.owner.call(http.MethodDelete, "/v1/admin/roles/"+role+"/permissions",
			map[string]any{"permissionId": read}).want(t, 200, "")
		m.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 403, "Missing required permission: users:read")
		key.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 403, "API key lacks required scope: users:read")
		o.owner.call(http.MethodPost, "/v1/admin/roles/"+role+"/permissions",
			map[string]any{"permissionId": read}).want(t, 201, "")
		m.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		o.owner.call(http.MethodDelete, "/v1/admin/users/"+m.id+"/roles", roleOf(role)).
			want(t, 200, "")
		m.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 403, "Missing required permission: users:read")
	})
}

func TestAdminPermissions(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Catalogue")
		c := o.owner
		rep := c.call(http.MethodGet, query("/v1/admin/permissions", "limit", "100"), nil).
			want(t, 200, "")
		if rep.body["total"] != 56.0 || len(rep.list()) != 56 {
			t.Fatalf("catalogue: total %v", rep.body["total"])
		}
		slugs := []string{}
		for _, p := range rep.list() {
			slugs = append(slugs, p["slug"].(string))
		}
		if !slices.IsSorted(slugs) {
			t.Fatalf("not sorted by slug: %v", slugs)
		}
		rep = c.call(http.MethodGet, query("/v1/admin/permissions", "category", "users"),
			nil).want(t, 200, "")
		if rep.body["total"] != 5.0 {
			t.Fatalf("users category: %s", rep.raw)
		}
		p := rep.list()[0]
		if p["name"] == "" || p["category"] != "users" || p["createdAt"] == nil {
			t.Fatalf("permission object: %v", p)
		}
		got := c.call(http.MethodGet, "/v1/admin/permissions/"+p["id"].(string), nil).
			want(t, 200, "")
		if got.str("slug") != p["slug"] {
			t.Fatalf("get: %s", got.raw)
		}
		c.call(http.MethodGet, "/v1/admin/permissions/"+db.NewID(), nil).
			want(t, 404, "Permission not found")
		c.call(http.MethodGet, query("/v1/admin/permissions", "sort", "-category"), nil).
			want(t, 200, "")
		c.call(http.MethodGet, query("/v1/admin/permissions", "sort", "name"), nil).
			wantField(t, "sort", "invalid_value")
	})
}
