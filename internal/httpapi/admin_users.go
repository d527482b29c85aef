package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/admin"
)

var userList = ListSpec{Sorts: admin.UserSorts, DefaultSort: "-createdAt",
	Filters: []string{"q", "status", "roleId", "teamId"}}

func (a *AdminAPI) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), userList)
	if err != nil {
		return err
	}
	users, total, err := a.Admin.ListUsers(r.Context(), orgOf(r), admin.UserQuery{
		Page: q.Page, Q: q.Filters["q"], Status: q.Filters["status"],
		RoleID: q.Filters["roleId"], TeamID: q.Filters["teamId"]})
	if err != nil {
		return err
	}
	writeList(w, q.Page, users, total)
	return nil
}

func (a *AdminAPI) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.Admin.User(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}

func (a *AdminAPI) createUser(w http.ResponseWriter, r *http.Request) error {
	var in admin.UserCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Admin.CreateUser(r.Context(), Principal(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (a *AdminAPI) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in admin.UserPatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Admin.UpdateUser(r.Context(), Principal(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}

func (a *AdminAPI) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.Admin.DeleteUser(r.Context(), Principal(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// roleBody is the body of the role routes of a user.
type roleBody struct {
	RoleID string `json:"roleId"`
}

func (a *AdminAPI) assignRole(w http.ResponseWriter, r *http.Request) error {
	var b roleBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	added, err := a.Admin.AssignRole(r.Context(), Principal(r), id, b.RoleID)
	if err != nil {
		return err
	}
	created(w, added, map[string]string{"message": "Role assigned", "userId": id,
		"roleId": b.RoleID})
	return nil
}

func (a *AdminAPI) removeRole(w http.ResponseWriter, r *http.Request) error {
	var b roleBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.Admin.RemoveRole(r.Context(), Principal(r), id, b.RoleID); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "Role removed", "userId": id,
		"roleId": b.RoleID})
	return nil
}

func (a *AdminAPI) userSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := a.Admin.UserSessions(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

func (a *AdminAPI) revokeUserSession(w http.ResponseWriter, r *http.Request) error {
	err := a.Admin.RevokeSession(r.Context(), Principal(r), r.PathValue("id"),
		r.PathValue("sessionId"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *AdminAPI) revokeUserSessions(w http.ResponseWriter, r *http.Request) error {
	if err := a.Admin.RevokeSessions(r.Context(), Principal(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
