package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// OriginChecker answers whether tenant data allows a browser origin.
type OriginChecker interface {
	// OrganisationAllows reports whether origin is among the
	// allowedOrigins of the request's organisation (its session, or its
	// X-Org-Domain header); for a preflight, of any live organisation.
	OrganisationAllows(r *http.Request, origin string, preflight bool) bool
	// ClientAllows reports whether origin is among the allowedOrigins of
	// the OAuth client calling a token-style endpoint; for a preflight, of
	// any active client.
	ClientAllows(r *http.Request, origin string, preflight bool) bool
}

// CORS applies the cross-origin rules: exact origins only, per path class.
type CORS struct {
	base    []string
	dev     bool
	checker OriginChecker
}

// NewCORS returns the CORS policy. base lists the administration origins;
// dev also admits http://localhost:* and http://127.0.0.1:*. checker may be
// nil (base origins only).
func NewCORS(base []string, dev bool, checker OriginChecker) *CORS {
	var origins []string
	for _, o := range base {
		if o != "" {
			origins = append(origins, o)
		}
	}
	return &CORS{base: origins, dev: dev, checker: checker}
}

const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, X-CSRF-Token, X-Org-Domain, X-Request-Id"
	corsExpose  = "X-CSRF-Token, X-Request-Id, Retry-After"
)

type pathClass int

const (
	classNone   pathClass = iota
	classAPI              // /v1/*
	classClient           // token-style OAuth endpoints
	classPublic           // discovery and JWKS
)

func classify(path string) pathClass {
	switch {
	case strings.HasPrefix(path, "/v1/"):
		return classAPI
	case path == "/oauth2/token", path == "/oauth2/revoke", path == "/oauth2/userinfo",
		path == "/oauth2/device_authorization":
		return classClient
	case strings.HasPrefix(path, "/.well-known/"), path == "/oauth2/jwks.json":
		return classPublic
	}
	return classNone
}

// Wrap adds CORS headers to allowed cross-origin requests and answers
// their preflights. A refused origin gets no CORS headers, never an error.
func (c *CORS) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		class := classify(r.URL.Path)
		if origin == "" || class == classNone {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions &&
			r.Header.Get("Access-Control-Request-Method") != ""
		allowed := c.allows(r, class, origin, preflight)
		if allowed {
			c.setHeaders(w, class, origin)
		}
		if preflight {
			if allowed {
				w.Header().Set("Access-Control-Allow-Methods", corsMethods)
				w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
				w.Header().Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (c *CORS) setHeaders(w http.ResponseWriter, class pathClass, origin string) {
	hd := w.Header()
	if class == classPublic {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else {
		hd.Set("Access-Control-Allow-Origin", origin)
	}
	if class == classAPI {
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
	hd.Set("Access-Control-Expose-Headers", corsExpose)
}

func (c *CORS) allows(r *http.Request, class pathClass, origin string, preflight bool) bool {
	if class == classPublic {
		return true
	}
	if c.baseAllows(origin) {
		return true
	}
	if c.checker == nil {
		return false
	}
	if class == classAPI {
		return c.checker.OrganisationAllows(r, origin, preflight)
	}
	return c.checker.ClientAllows(r, origin, preflight)
}

func (c *CORS) baseAllows(origin string) bool {
	if slices.Contains(c.base, origin) {
		return true
	}
	if !c.dev {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Path != "" || u.User != nil {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || host == "127.0.0.1"
}
