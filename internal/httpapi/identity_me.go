package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// profile is GET /v1/me/profile (restricted sessions too).
func (h *IdentityHandlers) profile(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	prof, err := h.Service.Profile(r.Context(), p.OrganisationID, p.UserID, p.Restricted)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, prof)
	return nil
}

type profileBody struct {
	FirstName patch.Field[string] `json:"firstName"`
	LastName  patch.Field[string] `json:"lastName"`
	Phone     patch.Field[string] `json:"phone"`
}

// updateProfile is PATCH /v1/me/profile.
func (h *IdentityHandlers) updateProfile(w http.ResponseWriter, r *http.Request) error {
	var b profileBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	p := Principal(r)
	prof, err := h.Service.UpdateProfile(r.Context(), p.OrganisationID, p.UserID,
		p.Restricted, identity.ProfilePatch{FirstName: b.FirstName, LastName: b.LastName,
			Phone: b.Phone})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, prof)
	return nil
}

// changePassword is POST /v1/me/password.
func (h *IdentityHandlers) changePassword(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		CurrentPassword string `json:"currentPassword"`
		NewPassword     string `json:"newPassword"`
	}
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	p := Principal(r)
	err := h.Service.ChangePassword(r.Context(), p.OrganisationID, p.UserID, p.SessionID,
		identity.ChangePasswordInput{CurrentPassword: b.CurrentPassword,
			NewPassword: b.NewPassword})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"Password changed successfully"})
	return nil
}

// sessions is GET /v1/me/sessions.
func (h *IdentityHandlers) sessions(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	list, err := h.Service.Sessions(r.Context(), p.OrganisationID, p.UserID, p.SessionID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

// revokeSession is DELETE /v1/me/sessions/{id}: 204 whatever the id.
func (h *IdentityHandlers) revokeSession(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	current, err := h.Service.RevokeSession(r.Context(), p.OrganisationID, p.UserID,
		p.SessionID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if current {
		h.Service.Cookies().ClearSessionCookie(w)
	}
	noContent(w)
	return nil
}

// export is GET /v1/me/export.
func (h *IdentityHandlers) export(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	out, err := h.Service.Export(r.Context(), p.OrganisationID, p.UserID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="cerberus-export.json"`)
	WriteJSON(w, http.StatusOK, out)
	return nil
}
