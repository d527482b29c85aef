package httpapi

import (
	"net/http"

	"github.com/cerberus-iam/cerberus/internal/identity"
)

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	MFAToken string `json:"mfaToken"`
}

type loginAnswer struct {
	Message      string                       `json:"message"`
	User         identity.UserSummary         `json:"user"`
	Organisation identity.OrganisationSummary `json:"organisation"`
}

// login is POST /v1/auth/login.
func (h *IdentityHandlers) login(w http.ResponseWriter, r *http.Request) error {
	var b loginBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	res, err := h.Service.Login(r.Context(), identity.LoginInput{
		Email: b.Email, Password: b.Password, MFAToken: b.MFAToken,
		IP: ClientIP(r.Context()), UserAgent: r.UserAgent(),
		PreviousSessionToken: h.Service.Cookies().SessionToken(r),
	})
	switch {
	case err != nil:
		return err
	case res.MFARequired:
		return identity.ErrMFARequired
	case res.EnrollmentRequired:
		h.startSession(w, res.SessionToken, res.Session)
		return identity.ErrEnrollmentRequired
	}
	h.startSession(w, res.SessionToken, res.Session)
	WriteJSON(w, http.StatusOK, loginAnswer{Message: "Login successful", User: res.User,
		Organisation: res.Organisation})
	return nil
}

// logout is POST /v1/auth/logout: always 200, cookie cleared.
func (h *IdentityHandlers) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.endCookieSession(w, r); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"Logged out successfully"})
	return nil
}

// endSession is DELETE /v1/auth/session: always 204, cookie cleared.
func (h *IdentityHandlers) endSession(w http.ResponseWriter, r *http.Request) error {
	if err := h.endCookieSession(w, r); err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (h *IdentityHandlers) endCookieSession(w http.ResponseWriter, r *http.Request) error {
	c := h.Service.Cookies()
	err := h.Service.Logout(r.Context(), c.SessionToken(r))
	c.ClearSessionCookie(w)
	return err
}

type onboardBody struct {
	OrganisationName string         `json:"organisationName"`
	Email            string         `json:"email"`
	FirstName        string         `json:"firstName"`
	LastName         string         `json:"lastName"`
	Password         string         `json:"password"`
	Metadata         map[string]any `json:"metadata"`
}

type onboardAnswer struct {
	Message string `json:"message"`
	*identity.OnboardResult
}

// onboard is POST /v1/auth/onboard.
func (h *IdentityHandlers) onboard(w http.ResponseWriter, r *http.Request) error {
	var b onboardBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	res, err := h.Service.Onboard(r.Context(), identity.OnboardInput{
		OrganisationName: b.OrganisationName, Email: b.Email, FirstName: b.FirstName,
		LastName: b.LastName, Password: b.Password, Metadata: b.Metadata,
		IP: ClientIP(r.Context()), UserAgent: r.UserAgent(),
	})
	if err != nil {
		return err
	}
	h.startSession(w, res.SessionToken, res.Session)
	WriteJSON(w, http.StatusCreated, onboardAnswer{
		Message: "Organisation onboarded successfully", OnboardResult: res})
	return nil
}

type acceptBody struct {
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Password  string `json:"password"`
}

type registerBody struct {
	Token string `json:"token"`
	acceptBody
}

type acceptAnswer struct {
	Message string `json:"message"`
	*identity.AcceptResult
}

// register is POST /v1/auth/register: invitation acceptance with the token
// in the body.
func (h *IdentityHandlers) register(w http.ResponseWriter, r *http.Request) error {
	var b registerBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	return h.accept(w, r, b.Token, b.acceptBody)
}

// acceptInvitation is POST /v1/public/invitations/{token}/accept.
func (h *IdentityHandlers) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var b acceptBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	return h.accept(w, r, r.PathValue("token"), b)
}

func (h *IdentityHandlers) accept(w http.ResponseWriter, r *http.Request, token string,
	b acceptBody) error {
	res, err := h.Service.AcceptInvitation(r.Context(), identity.AcceptInput{
		Token: token, Email: b.Email, FirstName: b.FirstName, LastName: b.LastName,
		Password: b.Password,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, acceptAnswer{Message: "Account created successfully",
		AcceptResult: res})
	return nil
}

// invitation is GET /v1/public/invitations/{token}.
func (h *IdentityHandlers) invitation(w http.ResponseWriter, r *http.Request) error {
	info, err := h.Service.Invitation(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, info)
	return nil
}

// verifyEmail is GET /v1/auth/verify-email?token=.
func (h *IdentityHandlers) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.VerifyEmail(r.Context(), r.URL.Query().Get("token")); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"Email verified successfully"})
	return nil
}

// sendVerification is POST /v1/auth/send-verification-email.
func (h *IdentityHandlers) sendVerification(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	if err := h.Service.SendVerificationEmail(r.Context(), p.OrganisationID,
		p.UserID); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"Verification email sent"})
	return nil
}

// forgotPassword is POST /v1/auth/forgot-password.
func (h *IdentityHandlers) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Email string `json:"email"`
	}
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	if err := h.Service.ForgotPassword(r.Context(), b.Email); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK,
		message{"If the email exists, a password reset link has been sent"})
	return nil
}

// resetPassword is POST /v1/auth/reset-password.
func (h *IdentityHandlers) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	err := h.Service.ResetPassword(r.Context(), identity.ResetInput{Token: b.Token,
		Password: b.Password})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"Password reset successfully"})
	return nil
}
