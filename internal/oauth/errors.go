package oauth

import (
	"errors"
	"net/http"
)

// Error is an OAuth protocol error: the RFC error code, a caller-safe
// description and the HTTP status of the endpoint's answer. It satisfies
// the OAuthErrorer interface of the HTTP layer.
type Error struct {
	Code        string
	Description string
	Status      int
	// Cause is the underlying failure, logged but never shown.
	Cause error
}

// Error returns the code and the description.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Description + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// OAuthError returns the status, code and description of the answer.
func (e *Error) OAuthError() (int, string, string) {
	return e.Status, e.Code, e.Description
}

// The error codes of RFC 6749, 7009, 7591, 7662, 8628, 8707, 6750 and
// OpenID Connect.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeInvalidTarget           = "invalid_target"
	CodeAccessDenied            = "access_denied"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeRequestNotSupported     = "request_not_supported"
	CodeRequestURINotSupported  = "request_uri_not_supported"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeAuthorizationPending    = "authorization_pending"
	CodeSlowDown                = "slow_down"
	CodeExpiredToken            = "expired_token"
	CodeInvalidRedirectURI      = "invalid_redirect_uri"
	CodeInvalidClientMetadata   = "invalid_client_metadata"
)

func newError(status int, code, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: status}
}

// ErrInvalidRequest returns a 400 invalid_request.
func ErrInvalidRequest(desc string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequest, desc)
}

// ErrInvalidClient returns a 401 invalid_client.
func ErrInvalidClient(desc string) *Error {
	return newError(http.StatusUnauthorized, CodeInvalidClient, desc)
}

// ErrInvalidGrant returns a 400 invalid_grant.
func ErrInvalidGrant(desc string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidGrant, desc)
}

// ErrInvalidScope returns a 400 invalid_scope.
func ErrInvalidScope(desc string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidScope, desc)
}

// ErrInvalidTarget returns a 400 invalid_target.
func ErrInvalidTarget(desc string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidTarget, desc)
}

// ErrUnauthorizedClient returns a 400 unauthorized_client.
func ErrUnauthorizedClient(desc string) *Error {
	return newError(http.StatusBadRequest, CodeUnauthorizedClient, desc)
}

// ErrInvalidToken returns the 401 of a bearer-protected endpoint.
func ErrInvalidToken(desc string) *Error {
	return newError(http.StatusUnauthorized, CodeInvalidToken, desc)
}

// ErrInsufficientScope returns the 403 of a bearer-protected endpoint.
func ErrInsufficientScope(desc string) *Error {
	return newError(http.StatusForbidden, CodeInsufficientScope, desc)
}

// protocolError returns a 400 protocol error with any code (the
// authorization endpoint's own codes, unsupported_grant_type).
func protocolError(code, desc string) *Error {
	return newError(http.StatusBadRequest, code, desc)
}

// AsError returns the protocol error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
