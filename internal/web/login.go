package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"regexp"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

// session returns the principal of the request's session cookie, or nil
// when there is none or it is no longer valid (its cookie is then
// cleared).
func (p *Pages) session(w http.ResponseWriter, r *http.Request) (*access.Principal, error) {
	pr, err := p.Identity.AuthenticateSession(w, r)
	if apperr.Is(err, apperr.Unauthorized) {
		return nil, nil
	}
	return pr, err
}

// fullSession is session without restricted (enrollment) sessions.
func (p *Pages) fullSession(w http.ResponseWriter, r *http.Request) (*access.Principal,
	error) {
	pr, err := p.session(w, r)
	if pr != nil && pr.Restricted {
		return nil, err
	}
	return pr, err
}

// flow returns the authorization flow a target continues (zero when none
// or unreadable: the page then shows without branding).
func (p *Pages) flow(ctx context.Context, target string) oauth.Flow {
	f, err := p.OAuth.FlowFor(ctx, target)
	if err != nil {
		return oauth.Flow{}
	}
	return f
}

// flowView starts the view of a page that continues the flow of target:
// its branding and the client's redirect origin for form-action.
func (p *Pages) flowView(ctx context.Context, title, target string) view {
	f := p.flow(ctx, target)
	return view{Title: title, Brand: f.Branding, FormOrigin: f.RedirectOrigin,
		Target: target}
}

// target returns where the login page may send the user: a resume URL of
// this server, one of the organisation's allowedCallbackUrls (orgID known
// after sign-in), or else ADMIN_WEB_ORIGIN.
func (p *Pages) target(ctx context.Context, raw, orgID string) string {
	if p.OAuth.IsResumeURL(raw) {
		return raw
	}
	if orgID != "" && raw != "" {
		if ok, err := p.OAuth.AllowedCallback(ctx, orgID, raw); err == nil && ok {
			return raw
		}
	}
	return p.AdminOrigin
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if p.LoginUIURL != "" {
		http.Redirect(w, r, p.LoginUIURL+"?"+q.Encode(), http.StatusFound)
		return nil
	}
	raw := q.Get("redirect_uri")
	if q.Get("prompt") != oauth.PromptLogin {
		pr, err := p.fullSession(w, r)
		if err != nil {
			return err
		}
		if pr != nil {
			http.Redirect(w, r, p.target(r.Context(), raw, pr.OrganisationID),
				http.StatusSeeOther)
			return nil
		}
	}
	v := p.flowView(r.Context(), "Sign in", raw)
	v.CSRF, v.Email = p.formToken(w, r), q.Get("login_hint")
	p.render(w, r, http.StatusOK, "login", v)
	return nil
}

func (p *Pages) login(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "The form cannot be read")
	}
	if err := p.checkFormToken(r); err != nil {
		return err
	}
	raw, email := r.PostForm.Get("redirect_uri"), r.PostForm.Get("email")
	res, err := p.Identity.Login(r.Context(), identity.LoginInput{Email: email,
		Password: r.PostForm.Get("password"), IP: httpapi.ClientIP(r.Context()),
		UserAgent: r.UserAgent(), PreviousSessionToken: p.Identity.Cookies().SessionToken(r)})
	if err != nil {
		return p.loginFailed(w, r, err, raw, email)
	}
	switch {
	case res.MFARequired:
		st := mfaState{UserID: res.UserID, Stamp: res.Stamp, Target: raw}
		if err := p.setMFAState(w, st); err != nil {
			return err
		}
		p.renderMFA(w, r, http.StatusOK, raw, "")
		return nil
	case res.EnrollmentRequired:
		p.Identity.Cookies().SetSessionCookie(w, res.SessionToken, res.Session.MaxAge())
		http.Redirect(w, r, "/auth/mfa/setup?"+url.Values{"redirect_uri": {raw}}.Encode(),
			http.StatusSeeOther)
		return nil
	}
	p.Identity.Cookies().SetSessionCookie(w, res.SessionToken, res.Session.MaxAge())
	http.Redirect(w, r, p.target(r.Context(), raw, res.Session.OrganisationID),
		http.StatusSeeOther)
	return nil
}

// loginFailed shows the form again with the refusal, or answers an
// unexpected error.
func (p *Pages) loginFailed(w http.ResponseWriter, r *http.Request, err error, raw,
	email string) error {
	ae := apperr.As(err)
	if ae == nil || ae.Kind == apperr.Unavailable {
		return err
	}
	status := kindStatus[ae.Kind]
	v := p.flowView(r.Context(), "Sign in", raw)
	v.CSRF, v.Email, v.Error = p.formToken(w, r), email, ae.Detail
	p.render(w, r, status, "login", v)
	return nil
}

func (p *Pages) renderMFA(w http.ResponseWriter, r *http.Request, status int, raw,
	msg string) {
	v := p.flowView(r.Context(), "Two-step verification", raw)
	v.CSRF, v.Error = p.formToken(w, r), msg
	p.render(w, r, status, "mfa", v)
}

func (p *Pages) mfaForm(w http.ResponseWriter, r *http.Request) error {
	st, ok := p.mfaStateOf(r)
	if !ok {
		http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
		return nil
	}
	p.renderMFA(w, r, http.StatusOK, st.Target, "")
	return nil
}

func (p *Pages) mfa(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "The form cannot be read")
	}
	if err := p.checkFormToken(r); err != nil {
		return err
	}
	st, ok := p.mfaStateOf(r)
	if !ok {
		p.render(w, r, http.StatusUnauthorized, "login", view{Title: "Sign in",
			CSRF: p.formToken(w, r), Error: "Your sign-in expired. Please sign in again."})
		return nil
	}
	res, err := p.Identity.LoginSecondFactor(r.Context(), identity.SecondFactorInput{
		UserID: st.UserID, Stamp: st.Stamp, Code: r.PostForm.Get("code"),
		IP: httpapi.ClientIP(r.Context()), UserAgent: r.UserAgent(),
		PreviousSessionToken: p.Identity.Cookies().SessionToken(r)})
	if err != nil {
		ae := apperr.As(err)
		if ae == nil || ae.Kind == apperr.Unavailable {
			return err
		}
		msg := ae.Detail
		if len(ae.Fields) > 0 {
			msg = ae.Fields[0].Message
		}
		p.renderMFA(w, r, kindStatus[ae.Kind], st.Target, msg)
		return nil
	}
	p.clearMFAState(w)
	p.Identity.Cookies().SetSessionCookie(w, res.SessionToken, res.Session.MaxAge())
	http.Redirect(w, r, p.target(r.Context(), st.Target, res.Session.OrganisationID),
		http.StatusSeeOther)
	return nil
}

// setupSession returns the session that may enroll: restricted or full.
func (p *Pages) setupSession(w http.ResponseWriter, r *http.Request) (*access.Principal,
	error) {
	pr, err := p.session(w, r)
	if err != nil {
		return nil, err
	}
	if pr == nil {
		return nil, apperr.New(apperr.Unauthorized, "Sign in first")
	}
	return pr, nil
}

func (p *Pages) setupForm(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.setupSession(w, r)
	if err != nil {
		return err
	}
	raw := r.URL.Query().Get("redirect_uri")
	return p.renderSetup(w, r, pr, raw, "")
}

func (p *Pages) renderSetup(w http.ResponseWriter, r *http.Request, pr *access.Principal,
	raw, msg string) error {
	setup, err := p.Identity.PendingTOTP(r.Context(), pr.OrganisationID, pr.UserID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if msg != "" {
		status = http.StatusBadRequest
	}
	v := p.flowView(r.Context(), "Set up two-step verification", raw)
	v.CSRF, v.Error = p.Identity.CSRFToken(pr.SessionID), msg
	v.Secret = setup.Secret
	v.URI, v.QR = template.URL(setup.URI), template.URL(setup.DataURL)
	p.render(w, r, status, "setup", v)
	return nil
}

func (p *Pages) setup(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.setupSession(w, r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "The form cannot be read")
	}
	if err := p.checkSessionToken(r, pr.SessionID); err != nil {
		return err
	}
	raw := r.PostForm.Get("redirect_uri")
	act, err := p.Identity.ConfirmTOTP(r.Context(), pr.OrganisationID, pr.UserID,
		pr.SessionID, r.PostForm.Get("code"))
	if ae := apperr.As(err); ae != nil && ae.Kind == apperr.Invalid {
		return p.renderSetup(w, r, pr, raw, ae.Detail)
	}
	if err != nil {
		return err
	}
	if act.Promoted {
		p.Identity.Cookies().SetSessionCookie(w, act.SessionToken, act.Session.MaxAge())
	}
	v := p.flowView(r.Context(), "Backup codes", raw)
	v.Codes, v.Target = act.BackupCodes, p.target(r.Context(), raw, pr.OrganisationID)
	p.render(w, r, http.StatusOK, "setup", v)
	return nil
}

var hexColor = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// brandCSS serves the organisation's primary colour as a stylesheet, so
// the pages need no inline style.
func (p *Pages) brandCSS(w http.ResponseWriter, r *http.Request) error {
	c := r.URL.Query().Get("c")
	if !hexColor.MatchString(c) {
		c = "#3b4cca"
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err := w.Write([]byte(":root { --primary: " + c + "; }\n"))
	return err
}
