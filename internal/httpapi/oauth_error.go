package httpapi

import (
	"net/http"
	"strconv"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// OAuthErrorer is implemented by protocol errors of the OAuth endpoints:
// the status, the RFC error code and a caller-safe description.
type OAuthErrorer interface {
	OAuthError() (status int, code, description string)
}

// oauthBody is the error body of /oauth2 and /.well-known endpoints.
type oauthBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteOAuthError answers err in the OAuth JSON error format (RFC 6749
// §5.2). Application errors are translated by kind, refused text is
// invalid_request and a temporary failure of the database a 503
// temporarily_unavailable (see KnownFailure),
// and unexpected errors are logged and answered server_error.
func WriteOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := err.(OAuthErrorer); !ok && apperr.As(err) == nil {
		if ae := KnownFailure(r, err); ae != nil {
			err = ae
		}
	}
	status, code, desc := oauthFields(err)
	if status == http.StatusInternalServerError {
		telemetry.Logger(r.Context()).Error("oauth request failed", "error", err.Error())
	}
	if ae := apperr.As(err); ae != nil && ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if status == http.StatusUnauthorized && code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="cerberus"`)
	}
	w.Header().Set("Pragma", "no-cache")
	WriteJSON(w, status, oauthBody{Error: code, Description: desc})
}

func oauthFields(err error) (int, string, string) {
	if oe, ok := err.(OAuthErrorer); ok {
		return oe.OAuthError()
	}
	ae := apperr.As(err)
	if ae == nil {
		return http.StatusInternalServerError, "server_error", unexpectedDetail
	}
	switch ae.Kind {
	case apperr.RateLimited:
		return http.StatusTooManyRequests, "temporarily_unavailable", ae.Detail
	case apperr.Unavailable:
		return http.StatusServiceUnavailable, "temporarily_unavailable", ae.Detail
	case apperr.Unauthorized:
		return http.StatusUnauthorized, "invalid_client", ae.Detail
	case apperr.Forbidden:
		return http.StatusForbidden, "access_denied", ae.Detail
	case apperr.NotFound:
		return http.StatusNotFound, "invalid_request", ae.Detail
	case methodNotAllowedKind:
		return http.StatusMethodNotAllowed, "invalid_request", ae.Detail
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge, "invalid_request", ae.Detail
	}
	return http.StatusBadRequest, "invalid_request", ae.Detail
}
