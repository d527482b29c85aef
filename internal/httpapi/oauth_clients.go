package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

// ClientsAPI serves /v1/admin/clients: OAuth client administration.
type ClientsAPI struct {
	Provider *oauth.Provider
	Auth     *Authenticator
}

// Register adds the client routes, each guarded by the admin credentials
// and its permission.
func (a *ClientsAPI) Register(rt *Router) {
	guard := func(perm string) Option {
		return Use(a.Auth.Admin(), a.Auth.Require(perm))
	}
	admin := Auth("admin", nil)
	const base = "/v1/admin/clients"
	rt.Handle(http.MethodGet, base, a.list, admin, guard("clients:read"))
	rt.Handle(http.MethodPost, base, a.create, admin, guard("clients:create"))
	rt.Handle(http.MethodGet, base+"/{id}", a.get, admin, guard("clients:read"))
	rt.Handle(http.MethodPatch, base+"/{id}", a.update, admin, guard("clients:update"))
	rt.Handle(http.MethodDelete, base+"/{id}", a.delete, admin, guard("clients:delete"))
	rt.Handle(http.MethodPost, base+"/{id}/rotate-secret", a.rotate, admin,
		guard("clients:update"))
	rt.Handle(http.MethodPost, base+"/{id}/revoke", a.revoke, admin, guard("clients:update"))
}

// clientWithSecret is a client answer that shows its secret once.
type clientWithSecret struct {
	oauth.Client
	ClientSecret string
}

// MarshalJSON writes the client with clientSecret added when there is one.
func (c clientWithSecret) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.Client)
	if err != nil || c.ClientSecret == "" {
		return b, err
	}
	secret, err := json.Marshal(c.ClientSecret)
	if err != nil {
		return nil, err
	}
	// b is a JSON object: insert the member before its closing brace.
	out := append(b[:len(b)-1:len(b)-1], `,"clientSecret":`...)
	return append(append(out, secret...), '}'), nil
}

func (a *ClientsAPI) create(w http.ResponseWriter, r *http.Request) error {
	var in oauth.ClientCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	c, secret, err := a.Provider.CreateClient(r.Context(), Principal(r), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, clientWithSecret{Client: *c, ClientSecret: secret})
	return nil
}

func (a *ClientsAPI) get(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Provider.GetClient(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *ClientsAPI) update(w http.ResponseWriter, r *http.Request) error {
	var in oauth.ClientPatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Provider.UpdateClient(r.Context(), Principal(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *ClientsAPI) rotate(w http.ResponseWriter, r *http.Request) error {
	c, secret, err := a.Provider.RotateSecret(r.Context(), Principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, clientWithSecret{Client: *c, ClientSecret: secret})
	return nil
}

func (a *ClientsAPI) revoke(w http.ResponseWriter, r *http.Request) error {
	err := a.Provider.RevokeClient(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "Client revoked"})
	return nil
}

func (a *ClientsAPI) delete(w http.ResponseWriter, r *http.Request) error {
	err := a.Provider.DeleteClient(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pageOf is a page of a list answer (README §7).
type pageOf[T any] struct {
	Data  []T `json:"data"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Limit int `json:"limit"`
	Pages int `json:"pages"`
}

func (a *ClientsAPI) list(w http.ResponseWriter, r *http.Request) error {
	q, err := clientQuery(r.URL.Query())
	if err != nil {
		return err
	}
	items, total, err := a.Provider.ListClients(r.Context(), Principal(r).OrganisationID, q)
	if err != nil {
		return err
	}
	data := make([]oauth.Client, len(items))
	for i, c := range items {
		data[i] = *c
	}
	WriteJSON(w, http.StatusOK, pageOf[oauth.Client]{Data: data, Total: total, Page: q.Page,
		Limit: q.Limit, Pages: (total + q.Limit - 1) / q.Limit})
	return nil
}

// clientQuery reads page, limit, sort, q and isActive; anything else is a
// 400 naming the parameter.
func clientQuery(v url.Values) (oauth.ClientQuery, error) {
	q := oauth.ClientQuery{Page: 1, Limit: 50, Sort: "name", Q: v.Get("q")}
	var errs []apperr.FieldError
	bad := func(field, code, msg string) { errs = append(errs, apperr.Field(field, code, msg)) }
	for k := range v {
		switch k {
		case "page", "limit", "sort", "q", "isActive":
		default:
			bad(k, apperr.CodeUnknownField, "Unknown query parameter")
		}
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bad("page", apperr.CodeInvalidValue, "Must be an integer of at least 1")
		}
		q.Page = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			bad("limit", apperr.CodeInvalidValue, "Must be an integer from 1 to 100")
		}
		q.Limit = n
	}
	if s := v.Get("sort"); s != "" {
		if _, ok := oauth.ClientSorts[s]; !ok {
			bad("sort", apperr.CodeInvalidValue, "Unsupported sort field")
		}
		q.Sort = s
	}
	if s := v.Get("isActive"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			bad("isActive", apperr.CodeInvalidValue, "Must be true or false")
		}
		q.IsActive = &b
	}
	if len(errs) > 0 {
		return q, apperr.InvalidInput(errs...)
	}
	return q, nil
}
