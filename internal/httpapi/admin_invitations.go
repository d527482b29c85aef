package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/admin"
)

var invitationList = ListSpec{Sorts: admin.InvitationSorts, DefaultSort: "-createdAt",
	Filters: []string{"status", "email"}}

func (a *AdminAPI) listInvitations(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), invitationList)
	if err != nil {
		return err
	}
	list, total, err := a.Admin.ListInvitations(r.Context(), orgOf(r),
		admin.InvitationQuery{Page: q.Page, Status: q.Filters["status"],
			Email: q.Filters["email"]})
	if err != nil {
		return err
	}
	writeList(w, q.Page, list, total)
	return nil
}

func (a *AdminAPI) createInvitation(w http.ResponseWriter, r *http.Request) error {
	var in admin.InvitationCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	inv, err := a.Admin.CreateInvitation(r.Context(), Principal(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, inv)
	return nil
}

func (a *AdminAPI) resendInvitation(w http.ResponseWriter, r *http.Request) error {
	inv, err := a.Admin.ResendInvitation(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"message": "Invitation resent",
		"invitation": inv})
	return nil
}

func (a *AdminAPI) cancelInvitation(w http.ResponseWriter, r *http.Request) error {
	if err := a.Admin.CancelInvitation(r.Context(), orgOf(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
