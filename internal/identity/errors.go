package identity

import "github.com/cerberus-iam/cerberus/internal/apperr"

// Errors with the contract's details. Callers compare with errors.Is only
// through apperr.Is and the detail; these values are shared, never
// modified.
var (
	errOrgNotFound     = apperr.New(apperr.NotFound, "Organisation not found")
	errInvalidLogin    = apperr.New(apperr.Unauthorized, "Invalid email or password")
	errLocked          = apperr.New(apperr.Unauthorized, "Account temporarily locked")
	errBlocked         = apperr.New(apperr.Unauthorized, "Account is blocked")
	errResetRequired   = apperr.New(apperr.Unauthorized, "Password reset required")
	errEmailRegistered = apperr.New(apperr.Conflict, "Email already registered")

	// ErrInvalidSession answers a session cookie that is unknown, expired,
	// idle too long, or whose user or organisation is gone or blocked.
	ErrInvalidSession = apperr.New(apperr.Unauthorized, "Invalid or expired session")
	// ErrMFARequired is the login answer when the password was right and
	// the user has MFA but sent no code.
	ErrMFARequired = &apperr.Error{Kind: apperr.Unauthorized,
		Detail: "Multi-factor authentication required",
		Extra:  map[string]any{"requiresMfa": true}}
	// ErrEnrollmentRequired is the login answer that comes with a
	// restricted session: the organisation requires MFA and the user has
	// none yet.
	ErrEnrollmentRequired = &apperr.Error{Kind: apperr.Unauthorized,
		Detail: "MFA enrollment required before logging in",
		Extra:  map[string]any{"requiresEnrollment": true}}

	errInvalidMFA = &apperr.Error{Kind: apperr.Unauthorized, Detail: "Invalid MFA token",
		Extra: map[string]any{"requiresMfa": true}}

	errMFAEnabled     = apperr.New(apperr.Invalid, "MFA is already enabled")
	errMFANotEnabled  = apperr.New(apperr.Invalid, "MFA is not enabled")
	errMFANotStarted  = apperr.New(apperr.Invalid, "MFA setup has not been started")
	errBadCode        = apperr.New(apperr.Invalid, "Invalid verification code")
	errMFAOrgRequired = apperr.New(apperr.Forbidden, "Your organisation requires MFA")
	// errMFALocked answers the MFA changes of a locked account; a 400 like
	// their other refusals, since the session itself is still valid.
	errMFALocked = apperr.New(apperr.Invalid, "Account temporarily locked")

	errMissingVerifyToken = apperr.New(apperr.Invalid, "Missing verification token")
	errBadVerifyToken     = apperr.New(apperr.Invalid,
		"Invalid or expired verification token")
	errAlreadyVerified = apperr.New(apperr.Conflict, "Email already verified")
	errBadResetToken   = apperr.New(apperr.Invalid,
		"Invalid or expired password reset token")
	errWrongPassword = &apperr.Error{Kind: apperr.Invalid,
		Detail: "Current password is incorrect",
		Fields: []apperr.FieldError{apperr.Field("currentPassword",
			apperr.CodeInvalidValue, "Current password is incorrect")}}

	errInvitationNotFound = apperr.New(apperr.NotFound,
		"Invitation not found or has expired")
	errInvitationCancelled = apperr.New(apperr.Invalid, "Invitation has been cancelled")
	errInvitationAccepted  = apperr.New(apperr.Conflict,
		"Invitation has already been accepted")
	errInvitationEmail = apperr.New(apperr.Invalid, "Email does not match invitation")
)
