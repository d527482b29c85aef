package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/webhook"
)

// WebhooksAPI serves /v1/admin/webhooks: endpoint administration, secret
// rotation, test deliveries and the delivery log.
type WebhooksAPI struct {
	Service *webhook.Service
	Auth    *Authenticator
}

// Register adds the webhook routes, each guarded by the admin credentials
// and its permission.
func (a *WebhooksAPI) Register(rt *Router) {
	guard := func(perm string) Option {
		return Use(a.Auth.Admin(), a.Auth.Require(perm))
	}
	admin := Auth("admin", nil)
	const base = "/v1/admin/webhooks"
	rt.Handle(http.MethodGet, base, a.list, admin, guard("webhooks:read"))
	rt.Handle(http.MethodPost, base, a.create, admin, guard("webhooks:create"))
	rt.Handle(http.MethodGet, base+"/{id}", a.get, admin, guard("webhooks:read"))
	rt.Handle(http.MethodPatch, base+"/{id}", a.update, admin, guard("webhooks:update"))
	rt.Handle(http.MethodDelete, base+"/{id}", a.delete, admin, guard("webhooks:delete"))
	rt.Handle(http.MethodPost, base+"/{id}/rotate-secret", a.rotate, admin,
		guard("webhooks:update"))
	rt.Handle(http.MethodPost, base+"/{id}/test", a.test, admin, guard("webhooks:update"))
	rt.Handle(http.MethodGet, base+"/{id}/deliveries", a.deliveries, admin,
		guard("webhooks:read"))
}

// webhookWithSecret is an endpoint answer that shows its secret, once.
type webhookWithSecret struct {
	endpoint *webhook.Endpoint
	secret   string
}

// MarshalJSON writes the endpoint's members followed by secret.
func (w webhookWithSecret) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(w.endpoint)
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(w.secret)
	if err != nil {
		return nil, err
	}
	b = append(b[:len(b)-1], `,"secret":`...)
	return append(append(b, s...), '}'), nil
}

func (a *WebhooksAPI) create(w http.ResponseWriter, r *http.Request) error {
	var in webhook.EndpointCreate
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	e, secret, err := a.Service.Create(r.Context(), Principal(r).OrganisationID, in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, webhookWithSecret{endpoint: e, secret: secret})
	return nil
}

func (a *WebhooksAPI) get(w http.ResponseWriter, r *http.Request) error {
	e, err := a.Service.Get(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (a *WebhooksAPI) update(w http.ResponseWriter, r *http.Request) error {
	var in webhook.EndpointPatch
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	e, err := a.Service.Update(r.Context(), Principal(r).OrganisationID,
		r.PathValue("id"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (a *WebhooksAPI) delete(w http.ResponseWriter, r *http.Request) error {
	err := a.Service.Delete(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *WebhooksAPI) rotate(w http.ResponseWriter, r *http.Request) error {
	e, secret, err := a.Service.RotateSecret(r.Context(), Principal(r).OrganisationID,
		r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, webhookWithSecret{endpoint: e, secret: secret})
	return nil
}

func (a *WebhooksAPI) test(w http.ResponseWriter, r *http.Request) error {
	id, err := a.Service.Test(r.Context(), Principal(r).OrganisationID, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"message": "Test event queued",
		"deliveryId": id})
	return nil
}

func (a *WebhooksAPI) list(w http.ResponseWriter, r *http.Request) error {
	q := webhook.EndpointQuery{}
	var active string
	p, err := webhookPaging(r.URL.Query(), webhook.EndpointSorts,
		map[string]*string{"isActive": &active})
	if err != nil {
		return err
	}
	q.Paging = p
	if active != "" {
		b := active == "true"
		if !b && active != "false" {
			return apperr.InvalidInput(apperr.Field("isActive", apperr.CodeInvalidValue,
				"Must be true or false"))
		}
		q.IsActive = &b
	}
	items, total, err := a.Service.List(r.Context(), Principal(r).OrganisationID, q)
	if err != nil {
		return err
	}
	writePage(w, items, total, q.Paging)
	return nil
}

func (a *WebhooksAPI) deliveries(w http.ResponseWriter, r *http.Request) error {
	q := webhook.DeliveryQuery{}
	p, err := webhookPaging(r.URL.Query(), webhook.DeliverySorts,
		map[string]*string{"status": &q.Status})
	if err != nil {
		return err
	}
	q.Paging = p
	if q.Status != "" && !slices.Contains(webhook.DeliveryStatuses, q.Status) {
		return apperr.InvalidInput(apperr.Field("status", apperr.CodeInvalidValue,
			"Must be one of "+strings.Join(webhook.DeliveryStatuses, ", ")))
	}
	items, total, err := a.Service.Deliveries(r.Context(), Principal(r).OrganisationID,
		r.PathValue("id"), q)
	if err != nil {
		return err
	}
	writePage(w, items, total, q.Paging)
	return nil
}

func writePage[T any](w http.ResponseWriter, items []T, total int, p webhook.Paging) {
	WriteJSON(w, http.StatusOK, pageOf[T]{Data: items, Total: total, Page: p.Page,
		Limit: p.Limit, Pages: (total + p.Limit - 1) / p.Limit})
}

// webhookPaging reads page, limit and sort (a field of sorts, "-" for
// descending) and stores the filters named in filters; any other
// parameter, or a bad value, is a 400 naming it.
func webhookPaging(v url.Values, sorts map[string]string,
	filters map[string]*string) (webhook.Paging, error) {
	p := webhook.Paging{Page: 1, Limit: 50, Sort: webhook.DefaultSort}
	var errs []apperr.FieldError
	bad := func(field, msg string) {
		errs = append(errs, apperr.Field(field, apperr.CodeInvalidValue, msg))
	}
	for k, vals := range v {
		switch dst, isFilter := filters[k]; {
		case isFilter:
			*dst = vals[0]
		case k == "page":
			p.Page = intParam(vals[0], 1, 0,
				func() { bad(k, "Must be an integer of at least 1") })
		case k == "limit":
			p.Limit = intParam(vals[0], 1, 100,
				func() { bad(k, "Must be an integer from 1 to 100") })
		case k == "sort":
			if _, ok := sorts[strings.TrimPrefix(vals[0], "-")]; !ok {
				bad(k, fmt.Sprintf("Unsupported sort field %q", vals[0]))
			}
			p.Sort = vals[0]
		default:
			errs = append(errs, apperr.Field(k, apperr.CodeUnknownField,
				"Unknown query parameter"))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b apperr.FieldError) int {
			return strings.Compare(a.Field, b.Field)
		})
		return p, apperr.InvalidInput(errs...)
	}
	return p, nil
}

// intParam parses s as an integer from lo to hi (no upper bound when hi is
// 0), calling bad when it is not one.
func intParam(s string, lo, hi int, bad func()) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || (hi > 0 && n > hi) {
		bad()
		return lo
	}
	return n
}
