package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/identity"
)

// IdentityHandlers serve the authentication and self-service routes:
// /v1/auth/*, /v1/public/invitations/* and /v1/me/* except consents. They
// translate HTTP to the identity service and back; the rules live in the
// service.
type IdentityHandlers struct {
	Service *identity.Service
	// Auth supplies the session guard; its Sessions is normally Service.
	Auth *Authenticator
}

// The identity service is the session credential and the tenant resolver
// of the guards.
var (
	_ SessionAuthenticator = (*identity.Service)(nil)
	_ OrganisationResolver = (*identity.Service)(nil)
)

// Register adds the identity routes to rt with their limiters and guards.
func (h *IdentityHandlers) Register(rt *Router) {
	auth := Limit(LimitAuth)
	full := Auth("session", h.Auth.Session(SessionOptions{}))
	enrol := Auth("session", h.Auth.Session(SessionOptions{AllowRestricted: true}))

	rt.Handle(http.MethodPost, "/v1/auth/login", h.login, auth)
	rt.Handle(http.MethodPost, "/v1/auth/logout", h.logout)
	rt.Handle(http.MethodDelete, "/v1/auth/session", h.endSession)
	rt.Handle(http.MethodPost, "/v1/auth/onboard", h.onboard, auth)
	rt.Handle(http.MethodPost, "/v1/auth/register", h.register, auth)
	rt.Handle(http.MethodGet, "/v1/public/invitations/{token}", h.invitation,
		Limit(LimitInviteGet))
	rt.Handle(http.MethodPost, "/v1/public/invitations/{token}/accept", h.acceptInvitation,
		auth)
	rt.Handle(http.MethodGet, "/v1/auth/verify-email", h.verifyEmail, auth)
	rt.Handle(http.MethodPost, "/v1/auth/send-verification-email", h.sendVerification,
		auth, full)
	rt.Handle(http.MethodPost, "/v1/auth/forgot-password", h.forgotPassword, auth)
	rt.Handle(http.MethodPost, "/v1/auth/reset-password", h.resetPassword, auth)

	rt.Handle(http.MethodGet, "/v1/me/profile", h.profile, enrol)
	rt.Handle(http.MethodPatch, "/v1/me/profile", h.updateProfile, full)
	rt.Handle(http.MethodPost, "/v1/me/password", h.changePassword, auth, full)
	rt.Handle(http.MethodGet, "/v1/me/sessions", h.sessions, full)
	rt.Handle(http.MethodDelete, "/v1/me/sessions/{id}", h.revokeSession, full)
	rt.Handle(http.MethodGet, "/v1/me/export", h.export, full)

	rt.Handle(http.MethodPost, "/v1/me/mfa/enable", h.mfaEnable, enrol)
	rt.Handle(http.MethodPost, "/v1/me/mfa/verify", h.mfaVerify, auth, enrol)
	rt.Handle(http.MethodPost, "/v1/me/mfa/check", h.mfaCheck, auth, full)
	rt.Handle(http.MethodPost, "/v1/me/mfa/disable", h.mfaDisable, auth, full)
	rt.Handle(http.MethodPost, "/v1/me/mfa/backup-codes", h.mfaBackupCodes, auth, full)
}

// startSession sends a new session's cookie and CSRF token.
func (h *IdentityHandlers) startSession(w http.ResponseWriter, token string,
	sess *identity.Session) {
	h.Service.Cookies().SetSessionCookie(w, token, sess.MaxAge())
	w.Header().Set("X-CSRF-Token", h.Service.CSRFToken(sess.ID))
}

// message is the body of answers that only say what happened.
type message struct {
	Message string `json:"message"`
}

func noContent(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNoContent)
}
