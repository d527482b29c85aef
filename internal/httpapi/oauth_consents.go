package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/oauth"
)

// ConsentsAPI serves /v1/me/consents: the signed-in user's consents.
type ConsentsAPI struct {
	Provider *oauth.Provider
	Auth     *Authenticator
}

// Register adds the consent routes behind the session guard.
func (a *ConsentsAPI) Register(rt *Router) {
	session := Auth("session", a.Auth.Session(SessionOptions{}))
	rt.Handle(http.MethodGet, "/v1/me/consents", a.list, session)
	rt.Handle(http.MethodDelete, "/v1/me/consents/{id}", a.revoke, session)
}

func (a *ConsentsAPI) list(w http.ResponseWriter, r *http.Request) error {
	items, err := a.Provider.ListConsents(r.Context(), Principal(r).UserID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": items})
	return nil
}

func (a *ConsentsAPI) revoke(w http.ResponseWriter, r *http.Request) error {
	if err := a.Provider.RevokeConsent(r.Context(), Principal(r).UserID,
		r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
