package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/access"
)

var (
	roleList = ListSpec{Sorts: access.RoleSorts, DefaultSort: "name",
		Filters: []string{"q"}}
	permissionList = ListSpec{Sorts: access.PermissionSorts, DefaultSort: "slug",
		Filters: []string{"category"}}
)

func (a *AdminAPI) listRoles(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), roleList)
	if err != nil {
		return err
	}
	roles, total, err := a.Access.ListRoles(r.Context(), orgOf(r),
		access.RoleQuery{Page: q.Page, Q: q.Filters["q"]})
	if err != nil {
		return err
	}
	writeList(w, q.Page, roles, total)
	return nil
}

func (a *AdminAPI) getRole(w http.ResponseWriter, r *http.Request) error {
	role, err := a.Access.Role(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, role)
	return nil
}

func (a *AdminAPI) createRole(w http.ResponseWriter, r *http.Request) error {
	var in access.RoleCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	role, err := a.Access.CreateRole(r.Context(), Principal(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, role)
	return nil
}

func (a *AdminAPI) updateRole(w http.ResponseWriter, r *http.Request) error {
	var in access.RolePatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	role, err := a.Access.UpdateRole(r.Context(), Principal(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, role)
	return nil
}

func (a *AdminAPI) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.Access.DeleteRole(r.Context(), Principal(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// permissionBody is the body of the permission routes of a role.
type permissionBody struct {
	PermissionID string `json:"permissionId"`
}

func (a *AdminAPI) grantPermission(w http.ResponseWriter, r *http.Request) error {
	var b permissionBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	added, err := a.Access.GrantPermission(r.Context(), Principal(r), id, b.PermissionID)
	if err != nil {
		return err
	}
	created(w, added, map[string]string{"message": "Permission granted", "roleId": id,
		"permissionId": b.PermissionID})
	return nil
}

func (a *AdminAPI) revokePermission(w http.ResponseWriter, r *http.Request) error {
	var b permissionBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.Access.RevokePermission(r.Context(), Principal(r), id,
		b.PermissionID); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "Permission revoked",
		"roleId": id, "permissionId": b.PermissionID})
	return nil
}

func (a *AdminAPI) listPermissions(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), permissionList)
	if err != nil {
		return err
	}
	perms, total, err := a.Access.ListPermissions(r.Context(),
		access.PermissionQuery{Page: q.Page, Category: q.Filters["category"]})
	if err != nil {
		return err
	}
	writeList(w, q.Page, perms, total)
	return nil
}

func (a *AdminAPI) getPermission(w http.ResponseWriter, r *http.Request) error {
	p, err := a.Access.Permission(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}
