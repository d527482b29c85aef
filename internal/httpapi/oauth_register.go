package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

// BearerScope guards an OAuth endpoint taking an Authorization: Bearer
// API key or access token whose principal may use perm, such as client
// registration. Refusals follow RFC 6750: 401 invalid_token, or 403
// insufficient_scope, each with a Bearer challenge.
func (a *Authenticator) BearerScope(perm string) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.scopedBearer(r, perm)
			if err != nil {
				WriteOAuthError(w, r, bearerRefusal(w, err))
				return
			}
			SetCaller(r.Context(), p.OrganisationID, p.UserID, p.ClientID)
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
		})
	}
}

// scopedBearer authenticates the bearer credential and checks perm.
func (a *Authenticator) scopedBearer(r *http.Request, perm string) (*access.Principal,
	error) {
	raw, ok := bearer(r)
	if !ok {
		return nil, ErrAuthRequired
	}
	p, err := a.bearerPrincipal(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	return p, a.Authorizer.Require(r.Context(), p, perm)
}

// bearerRefusal turns the guard's application errors into the RFC 6750
// errors with their challenge; anything else is unexpected.
func bearerRefusal(w http.ResponseWriter, err error) error {
	ae := apperr.As(err)
	switch {
	case ae == nil:
		return err
	case ae.Kind == apperr.Unauthorized:
		return oauth.BearerChallenge(w, oauth.ErrInvalidToken(ae.Detail))
	case ae.Kind == apperr.Forbidden:
		return oauth.BearerChallenge(w, oauth.ErrInsufficientScope(ae.Detail))
	}
	return err
}
