package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// SessionAuthenticator validates the session cookie of a request.
type SessionAuthenticator interface {
	// AuthenticateSession returns the principal of a valid session cookie,
	// nil and no error when the request carries none, or an Unauthorized
	// error ("Invalid or expired session") after deleting an invalid
	// session and clearing its cookie on w.
	AuthenticateSession(w http.ResponseWriter, r *http.Request) (*access.Principal, error)
	// CSRFToken returns the CSRF token bound to a session.
	CSRFToken(sessionID string) string
}

// TokenAuthenticator validates a bearer access token (a JWT).
type TokenAuthenticator interface {
	// AuthenticateToken returns the principal of a valid access token whose
	// audience includes the issuer, or an Unauthorized error ("Invalid or
	// expired token").
	AuthenticateToken(ctx context.Context, raw string) (*access.Principal, error)
}

// APIKeyAuthenticator validates an API key (ck_…).
type APIKeyAuthenticator interface {
	// AuthenticateAPIKey returns the principal of a valid key, or an
	// Unauthorized error ("Invalid or expired API key").
	AuthenticateAPIKey(ctx context.Context, raw string) (*access.Principal, error)
}

// OrganisationResolver finds live organisations by slug.
type OrganisationResolver interface {
	// OrganisationIDBySlug returns the id of the live organisation with that
	// slug, or a NotFound error.
	OrganisationIDBySlug(ctx context.Context, slug string) (string, error)
}

// Authenticator turns credentials into principals for the route guards.
// Fields left nil refuse their kind of credential.
type Authenticator struct {
	Sessions      SessionAuthenticator
	Tokens        TokenAuthenticator
	APIKeys       APIKeyAuthenticator
	Organisations OrganisationResolver
	Authorizer    *access.Authorizer
}

// Errors of the guards, with the contract's details.
var (
	ErrAuthRequired     = apperr.New(apperr.Unauthorized, "Authentication required")
	ErrInvalidToken     = apperr.New(apperr.Unauthorized, "Invalid or expired token")
	ErrInvalidCSRF      = apperr.New(apperr.Forbidden, "Invalid CSRF token")
	ErrEnrollment       = apperr.New(apperr.Forbidden, "MFA enrollment required")
	ErrMissingOrgHeader = apperr.New(apperr.Invalid, "Missing X-Org-Domain header")
	ErrOrgMismatch      = apperr.New(apperr.Forbidden, "Access denied for this organisation")
)

// SessionOptions tune the session guard.
type SessionOptions struct {
	// AllowRestricted admits MFA-enrollment sessions.
	AllowRestricted bool
	// Optional lets requests without a session through (no principal).
	Optional bool
	// NoCSRF skips the CSRF check on unsafe methods.
	NoCSRF bool
}

// Session guards a route with the session cookie: a valid session, the
// CSRF token on unsafe methods, and no restricted session unless allowed.
// Every session-authenticated answer carries X-CSRF-Token.
func (a *Authenticator) Session(o SessionOptions) Middleware {
	return a.guard(func(w http.ResponseWriter, r *http.Request) (*access.Principal, error) {
		p, err := a.session(w, r, o.NoCSRF)
		if err != nil {
			return nil, err
		}
		if p == nil && !o.Optional {
			return nil, ErrAuthRequired
		}
		if p != nil && p.Restricted && !o.AllowRestricted {
			return nil, ErrEnrollment
		}
		return p, nil
	})
}

func (a *Authenticator) session(
	w http.ResponseWriter, r *http.Request, noCSRF bool,
) (*access.Principal, error) {
	if a.Sessions == nil {
		return nil, nil
	}
	p, err := a.Sessions.AuthenticateSession(w, r)
	if err != nil || p == nil {
		return nil, err
	}
	token := a.Sessions.CSRFToken(p.SessionID)
	w.Header().Set("X-CSRF-Token", token)
	if !noCSRF && unsafeMethod(r.Method) && !equalToken(r.Header.Get("X-CSRF-Token"), token) {
		return nil, ErrInvalidCSRF
	}
	return p, nil
}

// Admin guards /v1/admin routes: an Authorization header decides alone (an
// API key when it starts with ck_, an access token otherwise); without one
// the session cookie with CSRF and a required X-Org-Domain header. The
// header, when sent, must name the credential's organisation.
func (a *Authenticator) Admin() Middleware {
	return a.guard(func(w http.ResponseWriter, r *http.Request) (*access.Principal, error) {
		p, err := a.credential(w, r)
		if err != nil {
			return nil, err
		}
		if p.Restricted {
			return nil, ErrEnrollment
		}
		return p, a.checkTenant(r, p)
	})
}

// Bearer guards routes that take only an Authorization: Bearer credential
// (access token or API key), such as client registration.
func (a *Authenticator) Bearer() Middleware {
	return a.guard(func(w http.ResponseWriter, r *http.Request) (*access.Principal, error) {
		raw, ok := bearer(r)
		if !ok {
			return nil, ErrAuthRequired
		}
		return a.bearerPrincipal(r.Context(), raw)
	})
}

func (a *Authenticator) credential(
	w http.ResponseWriter, r *http.Request,
) (*access.Principal, error) {
	if r.Header.Get("Authorization") != "" {
		raw, ok := bearer(r)
		if !ok {
			return nil, ErrInvalidToken
		}
		return a.bearerPrincipal(r.Context(), raw)
	}
	p, err := a.session(w, r, false)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, ErrAuthRequired
	}
	return p, nil
}

func (a *Authenticator) bearerPrincipal(
	ctx context.Context, raw string,
) (*access.Principal, error) {
	if strings.HasPrefix(raw, "ck_") {
		if a.APIKeys == nil {
			return nil, apperr.New(apperr.Unauthorized, "Invalid or expired API key")
		}
		return a.APIKeys.AuthenticateAPIKey(ctx, raw)
	}
	if a.Tokens == nil {
		return nil, ErrInvalidToken
	}
	return a.Tokens.AuthenticateToken(ctx, raw)
}

// checkTenant applies the X-Org-Domain rules after authentication, so an
// unauthenticated caller learns nothing about slugs.
func (a *Authenticator) checkTenant(r *http.Request, p *access.Principal) error {
	slug := r.Header.Get("X-Org-Domain")
	if slug == "" {
		if p.Kind == access.KindSession {
			return ErrMissingOrgHeader
		}
		return nil
	}
	if a.Organisations == nil {
		return apperr.New(apperr.NotFound, "Organisation not found")
	}
	id, err := a.Organisations.OrganisationIDBySlug(r.Context(), slug)
	if err != nil {
		return err
	}
	if id != p.OrganisationID {
		return ErrOrgMismatch
	}
	return nil
}

// guard runs authenticate and stores the principal in the request
// context; a failure is answered in the route's style by the router's error
// writer through the returned handler.
func (a *Authenticator) guard(
	authenticate func(http.ResponseWriter, *http.Request) (*access.Principal, error),
) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authenticate(w, r)
			if err != nil {
				writeGuardError(w, r, err)
				return
			}
			if p != nil {
				SetCaller(r.Context(), p.OrganisationID, p.UserID, p.ClientID)
				r = r.WithContext(access.WithPrincipal(r.Context(), p))
			}
			next.ServeHTTP(w, r)
		})
	}
}

func writeGuardError(w http.ResponseWriter, r *http.Request, err error) {
	if IsOAuthPath(r.URL.Path) {
		WriteOAuthError(w, r, err)
		return
	}
	WriteError(w, r, err)
}

// Require returns a middleware refusing principals that may not use perm.
func (a *Authenticator) Require(perm string) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := access.PrincipalFrom(r.Context())
			if err := a.Authorizer.Require(r.Context(), p, perm); err != nil {
				writeGuardError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Principal returns the authenticated principal of a guarded request.
func Principal(r *http.Request) *access.Principal {
	return access.PrincipalFrom(r.Context())
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return "", false
	}
	return strings.TrimSpace(raw), true
}

func unsafeMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch ||
		m == http.MethodDelete
}

func equalToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
