package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// requestState is the mutable per-request record that inner layers fill
// for the outer ones: the matched route and who the caller is, for the
// access log and metrics.
type requestState struct {
	route    string
	clientIP string
	orgID    string
	userID   string
	clientID string
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// ClientIP returns the client address resolved by the pipeline (the TCP
// peer, or the first untrusted X-Forwarded-For hop behind a trusted proxy).
func ClientIP(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.clientIP
	}
	return ""
}

// SetCaller records the caller's organisation, user and client for the
// request's log lines; empty values are left unchanged.
func SetCaller(ctx context.Context, orgID, userID, clientID string) {
	st := stateFrom(ctx)
	if st == nil {
		return
	}
	if orgID != "" {
		st.orgID = orgID
	}
	if userID != "" {
		st.userID = userID
	}
	if clientID != "" {
		st.clientID = clientID
	}
}

// PipelineOptions configure the middleware around the router.
type PipelineOptions struct {
	Logger     *slog.Logger
	Metrics    *telemetry.Metrics // nil: no metrics
	TrustProxy []netip.Prefix
	BodyLimit  int64
	Production bool
	CORS       *CORS // nil: no CORS headers
}

// Pipeline wraps h with the middleware every request passes, outermost
// first: request state and id, client address, access log and metrics,
// panic recovery, security headers, CORS and the body limit.
func Pipeline(h http.Handler, o PipelineOptions) http.Handler {
	h = bodyLimit(h, o.BodyLimit)
	if o.CORS != nil {
		h = o.CORS.Wrap(h)
	}
	h = securityHeaders(h, o.Production)
	h = recoverPanics(h)
	h = accessLog(h, o.Metrics)
	return begin(h, o.Logger, o.TrustProxy)
}

// begin sets up the request state, the request id, the client address and
// the request's logger.
func begin(h http.Handler, base *slog.Logger, trust []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestID(r.Header.Get("X-Request-Id"))
		if ua := r.UserAgent(); ua != "" {
			// Every reader of the header (sessions, audit rows, logs)
			// gets the cleaned value.
			r.Header.Set("User-Agent", cleanHeader(ua))
		}
		st := &requestState{clientIP: resolveClientIP(r, trust)}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		ctx = event.WithRequest(ctx, event.RequestInfo{IP: st.clientIP,
			UserAgent: r.UserAgent(), RequestID: id})
		ctx = telemetry.WithLogger(ctx, base.With("requestId", id))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// cleanHeader makes a header value safe to store and log: bytes that are
// not UTF-8 become U+FFFD and control characters are dropped. A client
// chooses these bytes, and PostgreSQL refuses to store some of them.
func cleanHeader(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return -1
		}
		return c
	}, v)
}

// requestID keeps an inbound id of 1–128 characters of [A-Za-z0-9._-] and
// otherwise makes a new one.
func requestID(in string) string {
	if len(in) == 0 || len(in) > 128 {
		return db.NewID()
	}
	for _, c := range in {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return db.NewID()
		}
	}
	return in
}

// resolveClientIP returns the TCP peer, unless it is a trusted proxy: then
// X-Forwarded-For is read from the right, skipping trusted addresses, and
// the first untrusted one is the client.
func resolveClientIP(r *http.Request, trust []netip.Prefix) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !trusted(peer, trust) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !trusted(a, trust) {
			return a.String()
		}
	}
	return peer.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func trusted(a netip.Addr, trust []netip.Prefix) bool {
	for _, p := range trust {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// accessLog writes one line per request and records the HTTP metrics.
// Health probes are logged at debug level only.
func accessLog(h http.Handler, m *telemetry.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w}
		ctx, span := telemetry.StartRequestSpan(r)
		h.ServeHTTP(rw, r.WithContext(ctx))
		st := stateFrom(r.Context())
		route := st.route
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		telemetry.EndRequestSpan(span, r.Method, route, rw.Status())
		if m != nil {
			class := telemetry.StatusClass(rw.Status())
			m.HTTPRequests.WithLabelValues(r.Method, route, class).Inc()
			m.HTTPDuration.WithLabelValues(r.Method, route, class).Observe(elapsed.Seconds())
		}
		level := slog.LevelInfo
		if strings.HasPrefix(r.URL.Path, "/health") {
			level = slog.LevelDebug
		}
		telemetry.Logger(r.Context()).LogAttrs(r.Context(), level, "request",
			accessAttrs(r, st, route, rw, elapsed)...)
	})
}

func accessAttrs(
	r *http.Request, st *requestState, route string, rw *responseWriter, d time.Duration,
) []slog.Attr {
	path := r.URL.Path
	if strings.Contains(route, "{token}") {
		// The path carries a one-time secret (an invitation token):
		// log the route instead.
		path = route
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("route", route),
		slog.String("path", path), slog.Int("status", rw.Status()),
		slog.Float64("durationMs", float64(d.Microseconds())/1000),
		slog.Int64("bytes", rw.bytes), slog.String("clientIp", st.clientIP),
	}
	for _, kv := range [][2]string{{"orgId", st.orgID}, {"userId", st.userID},
		{"clientId", st.clientID}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	return attrs
}

// responseWriter records the status and size of a response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Status is the status written, 200 when the handler wrote none.
func (w *responseWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection (flushing of
// streamed exports, per-request deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// recoverPanics turns a panic into a 500 answer; the stack goes to the log
// only.
func recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			telemetry.Logger(r.Context()).Error("panic serving request",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err := errors.New("panic")
			if IsOAuthPath(r.URL.Path) {
				WriteOAuthError(w, r, err)
				return
			}
			WriteError(w, r, err)
		}()
		h.ServeHTTP(w, r)
	})
}

// DefaultCSP is the Content-Security-Policy of every non-HTML response.
const DefaultCSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"object-src 'none'"

// securityHeaders sets the hardening headers every response carries and
// no-store caching on API and page paths (handlers may override it).
func securityHeaders(h http.Handler, production bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-XSS-Protection", "0")
		hd.Set("Content-Security-Policy", DefaultCSP)
		if production {
			hd.Set("Strict-Transport-Security", "max-age=15552000; includeSubDomains")
		}
		if !strings.HasPrefix(r.URL.Path, "/health") && r.URL.Path != "/metrics" {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// bodyLimit refuses bodies over limit bytes with 413.
func bodyLimit(h http.Handler, limit int64) http.Handler {
	if limit <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			tooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, r *http.Request) {
	err := apperr.New(apperr.TooLarge, "Request body too large")
	if IsOAuthPath(r.URL.Path) {
		WriteOAuthError(w, r, err)
		return
	}
	WriteError(w, r, err)
}
