package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/access"
)

var teamList = ListSpec{Sorts: access.TeamSorts, DefaultSort: "name",
	Filters: []string{"q"}}

func (a *AdminAPI) listTeams(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), teamList)
	if err != nil {
		return err
	}
	teams, total, err := a.Access.ListTeams(r.Context(), orgOf(r),
		access.TeamQuery{Page: q.Page, Q: q.Filters["q"]})
	if err != nil {
		return err
	}
	writeList(w, q.Page, teams, total)
	return nil
}

func (a *AdminAPI) getTeam(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Access.Team(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, t)
	return nil
}

func (a *AdminAPI) createTeam(w http.ResponseWriter, r *http.Request) error {
	var in access.TeamCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	t, err := a.Access.CreateTeam(r.Context(), orgOf(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, t)
	return nil
}

func (a *AdminAPI) updateTeam(w http.ResponseWriter, r *http.Request) error {
	var in access.TeamPatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	t, err := a.Access.UpdateTeam(r.Context(), orgOf(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, t)
	return nil
}

func (a *AdminAPI) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	if err := a.Access.DeleteTeam(r.Context(), orgOf(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// memberBody is the body of the member routes of a team.
type memberBody struct {
	UserID string `json:"userId"`
}

func (a *AdminAPI) addMember(w http.ResponseWriter, r *http.Request) error {
	var b memberBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	added, err := a.Access.AddMember(r.Context(), orgOf(r), id, b.UserID)
	if err != nil {
		return err
	}
	created(w, added, map[string]string{"message": "Member added", "teamId": id,
		"userId": b.UserID})
	return nil
}

func (a *AdminAPI) removeMember(w http.ResponseWriter, r *http.Request) error {
	var b memberBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.Access.RemoveMember(r.Context(), orgOf(r), id, b.UserID); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "Member removed",
		"teamId": id, "userId": b.UserID})
	return nil
}
