package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/access"
)

var keyList = ListSpec{Sorts: access.APIKeySorts, DefaultSort: "-createdAt",
	Filters: []string{"revoked"}}

func (a *AdminAPI) listKeys(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseList(r.URL.Query(), keyList)
	if err != nil {
		return err
	}
	revoked, err := boolFilter(q, "revoked")
	if err != nil {
		return err
	}
	keys, total, err := a.Access.ListAPIKeys(r.Context(), orgOf(r),
		access.APIKeyQuery{Page: q.Page, Revoked: revoked})
	if err != nil {
		return err
	}
	writeList(w, q.Page, keys, total)
	return nil
}

func (a *AdminAPI) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.Access.APIKey(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, k)
	return nil
}

// newKey is a created key with its secret, shown once.
type newKey struct {
	access.APIKey
	Key     string `json:"key"`
	Warning string `json:"warning"`
}

func (a *AdminAPI) createKey(w http.ResponseWriter, r *http.Request) error {
	var in access.APIKeyCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	k, raw, err := a.Access.CreateAPIKey(r.Context(), Principal(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, newKey{APIKey: *k, Key: raw, Warning: access.KeyWarning})
	return nil
}

func (a *AdminAPI) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.Access.RevokeAPIKey(r.Context(), orgOf(r), r.PathValue("id")); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "API key revoked"})
	return nil
}
