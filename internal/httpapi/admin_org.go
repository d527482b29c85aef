package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/admin"
)

func (a *AdminAPI) getOrganisation(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Admin.Organisation(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, o)
	return nil
}

func (a *AdminAPI) updateOrganisation(w http.ResponseWriter, r *http.Request) error {
	var in admin.OrganisationPatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	o, err := a.Admin.UpdateOrganisation(r.Context(), orgOf(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, o)
	return nil
}

func (a *AdminAPI) deleteOrganisation(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		ConfirmDomain string `json:"confirmDomain"`
	}
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	if err := a.Admin.DeleteOrganisation(r.Context(), Principal(r),
		b.ConfirmDomain); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
