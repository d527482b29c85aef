package httpapi

import (
	"net/http"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing
// it; the router writes it in the route's error style.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ErrorWriter answers an error returned by a handler.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Limiter classes of operations.md: each route counts in exactly one.
const (
	LimitDefault   = "default"
	LimitAuth      = "auth"
	LimitToken     = "token"
	LimitInviteGet = "invite-get"
	LimitNone      = "none"
)

// Route describes one registered route.
type Route struct {
	Method  string
	Path    string // ServeMux path pattern, such as /v1/admin/users/{id}
	Limiter string
	// Auth names the credentials the route accepts ("public", "session",
	// "admin", …), for documentation and for tests that walk the routes.
	Auth string
	// OAuthErrors marks routes answering OAuth JSON errors instead of
	// problems.
	OAuthErrors bool

	errors ErrorWriter
	mw     []Middleware
}

// Option configures a route.
type Option func(*Route)

// Limit puts the route in a limiter class.
func Limit(class string) Option { return func(r *Route) { r.Limiter = class } }

// Auth labels the route's credentials and adds the middleware enforcing
// them (nil for none).
func Auth(label string, mw Middleware) Option {
	return func(r *Route) {
		r.Auth = label
		if mw != nil {
			r.mw = append(r.mw, mw)
		}
	}
}

// Use adds middleware to the route, outermost first.
func Use(mw ...Middleware) Option { return func(r *Route) { r.mw = append(r.mw, mw...) } }

// Errors sets how the route answers errors.
func Errors(w ErrorWriter) Option { return func(r *Route) { r.errors = w } }

// OAuthStyle makes the route answer OAuth JSON errors (404, 405, 429 and
// errors of type *OAuthError).
func OAuthStyle() Option {
	return func(r *Route) {
		r.OAuthErrors = true
		r.errors = WriteOAuthError
	}
}

// Router dispatches requests to routes, applies each route's limiter and
// writes returned errors. It keeps the list of its routes.
type Router struct {
	mux      *http.ServeMux
	routes   []Route
	limiters map[string]ratelimit.Limiter
	metrics  *telemetry.Metrics
}

// NewRouter returns a router using the given limiters by class name; a
// class without a limiter is not limited. metrics may be nil.
func NewRouter(limiters map[string]ratelimit.Limiter, metrics *telemetry.Metrics) *Router {
	return &Router{mux: http.NewServeMux(), limiters: limiters, metrics: metrics}
}

// Routes returns every registered route.
func (rt *Router) Routes() []Route { return append([]Route(nil), rt.routes...) }

// Handle registers h for method and path.
func (rt *Router) Handle(method, path string, h HandlerFunc, opts ...Option) {
	route := Route{Method: method, Path: path, Limiter: LimitDefault, Auth: "public",
		errors: WriteError}
	for _, o := range opts {
		o(&route)
	}
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			route.errors(w, r, err)
		}
	})
	for i := len(route.mw) - 1; i >= 0; i-- {
		handler = route.mw[i](handler)
	}
	handler = rt.limit(route, handler)
	rt.routes = append(rt.routes, route)
	rt.mux.Handle(method+" "+path, rt.named(route, handler))
}

// HandleHTTP registers a plain http.Handler (for handlers of libraries).
func (rt *Router) HandleHTTP(method, path string, h http.Handler, opts ...Option) {
	rt.Handle(method, path, func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}, opts...)
}

// named records the matched route in the request state for logs and
// metrics.
func (rt *Router) named(route Route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.route = route.Path
		}
		h.ServeHTTP(w, r)
	})
}

// RateLimitDetail is the detail of a 429 problem.
const RateLimitDetail = "Rate limit exceeded. Please try again later."

func (rt *Router) limit(route Route, h http.Handler) http.Handler {
	lim := rt.limiters[route.Limiter]
	if lim == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := lim.Allow(r.Context(), ClientIP(r.Context()))
		if err != nil {
			telemetry.Logger(r.Context()).Warn("rate limiter failed; request allowed",
				"limiter", lim.Name(), "error", err.Error())
		}
		if err == nil && !d.Allowed {
			if rt.metrics != nil {
				rt.metrics.RateLimited.WithLabelValues(lim.Name()).Inc()
			}
			secs := max(1, int((d.RetryAfter+999_999_999)/1_000_000_000))
			route.errors(w, r, &apperr.Error{Kind: apperr.RateLimited,
				Detail: RateLimitDetail, RetryAfter: secs})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP dispatches r; unknown paths get a 404 and known paths with
// another method a 405 with Allow, in the error style of the path.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := rt.mux.Handler(r)
	if pattern != "" {
		rt.mux.ServeHTTP(w, r)
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		rt.unmatched(w, r, apperr.New(apperr.NotFound, "Route not found"))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		rt.unmatched(w, r, errMethodNotAllowed)
	default:
		rt.mux.ServeHTTP(w, r)
	}
}

var errMethodNotAllowed = &apperr.Error{Kind: methodNotAllowedKind,
	Detail: "Method not allowed"}

// methodNotAllowedKind is private to the router: services never return it.
const methodNotAllowedKind apperr.Kind = 100

func init() { kinds[methodNotAllowedKind] = methodNotAllowed }

func (rt *Router) unmatched(w http.ResponseWriter, r *http.Request, err error) {
	if IsOAuthPath(r.URL.Path) {
		WriteOAuthError(w, r, err)
		return
	}
	WriteError(w, r, err)
}

// IsOAuthPath reports paths whose errors use the OAuth JSON format.
func IsOAuthPath(p string) bool {
	return strings.HasPrefix(p, "/oauth2/") || strings.HasPrefix(p, "/.well-known/")
}

// headerRecorder captures the status and headers the mux's own 404 and 405
// handlers write, so the router can answer in its own format.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }
