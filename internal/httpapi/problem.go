package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// ProblemTypeBase prefixes the type URI of every problem.
const ProblemTypeBase = "https://api.cerberus-iam.com/errors/"

// Problem is an RFC 7807 problem details body.
type Problem struct {
	Type               string              `json:"type"`
	Title              string              `json:"title"`
	Status             int                 `json:"status"`
	Detail             string              `json:"detail"`
	Instance           string              `json:"instance"`
	RequestID          string              `json:"requestId"`
	Errors             []apperr.FieldError `json:"errors,omitempty"`
	RequiresMfa        *bool               `json:"requiresMfa,omitempty"`
	RequiresEnrollment *bool               `json:"requiresEnrollment,omitempty"`
}

type statusInfo struct {
	status int
	slug   string
	title  string
}

// kinds is the one table mapping application error kinds to HTTP.
var kinds = map[apperr.Kind]statusInfo{
	apperr.Invalid:       {400, "bad-request", "Bad Request"},
	apperr.Unauthorized:  {401, "unauthorized", "Unauthorized"},
	apperr.Forbidden:     {403, "forbidden", "Forbidden"},
	apperr.NotFound:      {404, "not-found", "Not Found"},
	apperr.Conflict:      {409, "conflict", "Conflict"},
	apperr.Unprocessable: {422, "unprocessable-entity", "Unprocessable Entity"},
	apperr.TooLarge:      {413, "payload-too-large", "Payload Too Large"},
	apperr.RateLimited:   {429, "rate-limit", "Too Many Requests"},
	apperr.Unavailable:   {503, "service-unavailable", "Service Unavailable"},
}

var methodNotAllowed = statusInfo{405, "method-not-allowed", "Method Not Allowed"}
var internalError = statusInfo{500, "internal-server-error", "Internal Server Error"}

// unexpectedDetail is the only detail a 500 ever carries.
const unexpectedDetail = "An unexpected error occurred"

// unavailableDetail is the detail of a 503 for a database that cannot
// serve the request now.
const unavailableDetail = "Service temporarily unavailable"

// badTextDetail is the detail of a 400 for text the database cannot store.
const badTextDetail = "Invalid input: text must be UTF-8 without NUL characters"

// KnownFailure returns the answer to an error that no application rule
// produced but that is no bug of the server either: text the database
// refuses to store (400), or a temporary failure of the database (503, see
// TemporaryFailure). Any other error gives nil.
func KnownFailure(r *http.Request, err error) *apperr.Error {
	if db.IsBadText(err) {
		return apperr.New(apperr.Invalid, badTextDetail)
	}
	return TemporaryFailure(r, err)
}

// TemporaryFailure returns the 503 answer to an error that is no fault of
// the request and passes by itself: a database pool that stayed full, or a
// database that cannot be reached or dropped the connection (a restart, a
// failover, an outage). The latter is logged as a warning here, once. Any
// other error gives nil.
func TemporaryFailure(r *http.Request, err error) *apperr.Error {
	switch {
	case errors.Is(err, db.ErrPoolTimeout):
		return &apperr.Error{Kind: apperr.Unavailable, Detail: unavailableDetail,
			RetryAfter: 1, Err: err}
	case db.IsUnavailable(err):
		telemetry.Logger(r.Context()).Warn("database unavailable", "error", err.Error())
		return &apperr.Error{Kind: apperr.Unavailable, Detail: unavailableDetail,
			RetryAfter: 1}
	}
	return nil
}

// WriteError answers err as a problem. Application errors keep their kind
// and detail; refused text and a temporary failure of the database are a
// 400 and a 503 (see KnownFailure); anything else is logged and answered 500 with a
// generic detail.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	ae := apperr.As(err)
	if ae == nil {
		ae = KnownFailure(r, err)
	}
	if ae == nil {
		if !errors.Is(err, context.Canceled) {
			telemetry.Logger(r.Context()).Error("request failed", "error", err.Error())
		}
		writeProblem(w, r, internalError, unexpectedDetail, nil)
		return
	}
	info, ok := kinds[ae.Kind]
	if !ok {
		info = internalError
	}
	if ae.Err != nil {
		telemetry.Logger(r.Context()).Debug("request refused",
			"detail", ae.Detail, "cause", ae.Err.Error())
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeProblem(w, r, info, ae.Detail, ae)
}

func writeProblem(
	w http.ResponseWriter, r *http.Request, info statusInfo, detail string, ae *apperr.Error,
) {
	p := Problem{
		Type: ProblemTypeBase + info.slug, Title: info.title, Status: info.status,
		Detail: detail, Instance: r.URL.Path,
		RequestID: event.RequestFrom(r.Context()).RequestID,
	}
	if ae != nil {
		p.Errors = ae.Fields
		p.RequiresMfa = boolExtra(ae.Extra, "requiresMfa")
		p.RequiresEnrollment = boolExtra(ae.Extra, "requiresEnrollment")
	}
	if info.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cerberus"`)
	}
	if info.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(info.status)
	_ = json.NewEncoder(w).Encode(p)
}

func boolExtra(m map[string]any, key string) *bool {
	if v, ok := m[key].(bool); ok {
		return &v
	}
	return nil
}

// WriteJSON answers v as JSON with status and Cache-Control: no-store.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	if v == nil {
		return
	}
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write json response", "error", err.Error())
	}
}
