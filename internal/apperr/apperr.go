// Package apperr defines the errors domain services return to say why a
// request cannot be done. Each error has a Kind; the HTTP layer maps kinds to
// statuses in one table, so services never know about HTTP.
//
// The Detail of an Error is shown to the caller and must be safe text. Any
// other error reaching the HTTP layer is treated as unexpected: the caller
// sees a generic message and the error goes to the log.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an application error.
type Kind int

// The kinds of application errors.
const (
	Invalid       Kind = iota + 1 // the request is malformed or breaks a rule
	Unauthorized                  // credentials missing or invalid
	Forbidden                     // authenticated but not allowed
	NotFound                      // no such resource in the caller's tenant
	Conflict                      // uniqueness or state conflict
	Unprocessable                 // valid request that does not apply here
	TooLarge                      // request body over the limit
	RateLimited                   // a limiter refused the request
	Unavailable                   // temporarily unable to serve (saturation, draining)
)

// FieldError names one problem with one input field. Field is the dot path
// into the body ("redirectUris.2") or the query parameter name.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Field error codes.
const (
	CodeRequired       = "required"
	CodeInvalidType    = "invalid_type"
	CodeInvalidFormat  = "invalid_format"
	CodeTooShort       = "too_short"
	CodeTooLong        = "too_long"
	CodeTooSmall       = "too_small"
	CodeTooLarge       = "too_large"
	CodeInvalidValue   = "invalid_value"
	CodeUnknownField   = "unknown_field"
	CodePasswordPolicy = "password_policy"
)

// Error is an application error with a caller-safe detail.
type Error struct {
	Kind   Kind
	Detail string
	Fields []FieldError
	// Extra members of the problem body (requiresMfa, requiresEnrollment).
	Extra map[string]any
	// RetryAfter, in seconds, for RateLimited and Unavailable.
	RetryAfter int
	// Err is the underlying cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Detail, e.Err)
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a caller-safe detail.
func New(k Kind, detail string) *Error {
	return &Error{Kind: k, Detail: detail}
}

// Fields returns an Invalid error listing field problems.
func Fields(detail string, fields ...FieldError) *Error {
	return &Error{Kind: Invalid, Detail: detail, Fields: fields}
}

// Field builds one FieldError.
func Field(field, code, message string) FieldError {
	return FieldError{Field: field, Code: code, Message: message}
}

// InvalidInput is the usual validation failure: 400 "Invalid input" with
// the field problems.
func InvalidInput(fields ...FieldError) *Error {
	return Fields("Invalid input", fields...)
}

// NotFoundf returns a NotFound error such as "User not found".
func NotFoundf(resource string) *Error {
	return New(NotFound, resource+" not found")
}

// MissingPermission is the 403 for a credential that does not cover perm.
func MissingPermission(perm string) *Error {
	return New(Forbidden, "Missing required permission: "+perm)
}

// As returns the application error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Is reports whether err is an application error of kind k.
func Is(err error, k Kind) bool {
	e := As(err)
	return e != nil && e.Kind == k
}
