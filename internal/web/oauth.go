package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

// params returns the parameters of a GET (query) or POST (form) request.
func params(r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, apperr.New(apperr.Invalid, "The form cannot be read")
	}
	return r.PostForm, nil
}

// authorize is the browser side of GET and POST /oauth2/authorize.
func (p *Pages) authorize(w http.ResponseWriter, r *http.Request) error {
	v, err := params(r)
	if err != nil {
		return err
	}
	pr, err := p.fullSession(w, r)
	if err != nil {
		return err
	}
	out, err := p.OAuth.Authorize(r.Context(), v, pr)
	if err != nil {
		return err
	}
	p.outcome(w, r, out, http.StatusFound)
	return nil
}

// acceptsHTML reports whether the request accepts an HTML answer (a
// browser, or a client sending no Accept header).
func acceptsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, "text/html") || strings.Contains(a, "*/*")
}

// outcome renders an authorization outcome: the error page, a redirect
// with status, or the form_post page.
func (p *Pages) outcome(w http.ResponseWriter, r *http.Request, out *oauth.Outcome,
	status int) {
	switch {
	case out.Page != nil && !acceptsHTML(r):
		// A client that does not read HTML gets the OAuth JSON error.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(out.Page.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": out.Page.Code,
			"error_description": out.Page.Description})
	case out.Page != nil:
		p.errorPage(w, r, out.Page.Status, out.Page.Code, out.Page.Description)
	case out.FormPost != nil:
		p.render(w, r, http.StatusOK, "formpost", view{Title: "Signing you in",
			Action: out.FormPost.Action, FormFields: out.FormPost.Fields})
	default:
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, out.Redirect, status)
	}
}

func (p *Pages) consentForm(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.fullSession(w, r)
	if err != nil {
		return err
	}
	cv, out, err := p.OAuth.ConsentPage(r.Context(), r.URL.Query().Get("request_id"), pr)
	if err != nil {
		return err
	}
	if out != nil {
		p.outcome(w, r, out, http.StatusFound)
		return nil
	}
	p.render(w, r, http.StatusOK, "consent", view{Title: "Allow access?",
		Brand: cv.Branding, CSRF: p.Identity.CSRFToken(pr.SessionID), Consent: cv,
		FormOrigin: cv.RedirectOrigin})
	return nil
}

func (p *Pages) consentDecision(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.fullSession(w, r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "The form cannot be read")
	}
	if pr == nil {
		return apperr.New(apperr.Forbidden, "Invalid CSRF token")
	}
	if err := p.checkSessionToken(r, pr.SessionID); err != nil {
		return err
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		return apperr.New(apperr.Invalid, "Choose allow or deny")
	}
	out, err := p.OAuth.DecideConsent(r.Context(), r.PostForm.Get("request_id"), pr,
		decision == "allow")
	if err != nil {
		return err
	}
	p.outcome(w, r, out, http.StatusSeeOther)
	return nil
}

// logoutFields are the parameters a logout confirmation carries over.
var logoutFields = []string{"id_token_hint", "client_id", "post_logout_redirect_uri",
	"state"}

// logout serves GET and POST /oauth2/logout (RP-initiated logout).
func (p *Pages) logout(w http.ResponseWriter, r *http.Request) error {
	v, err := params(r)
	if err != nil {
		return err
	}
	pr, err := p.session(w, r)
	if err != nil {
		return err
	}
	plan, err := p.OAuth.PlanLogout(r.Context(), v, pr)
	if err != nil {
		return err
	}
	if plan.Page != nil {
		p.errorPage(w, r, plan.Page.Status, plan.Page.Code, plan.Page.Description)
		return nil
	}
	confirmed := r.Method == http.MethodPost && v.Get("confirm") == "yes"
	if plan.Confirm && confirmed {
		if err := p.checkSessionToken(r, pr.SessionID); err != nil {
			return err
		}
	}
	if plan.Confirm && !confirmed {
		fields := map[string]string{}
		for _, k := range logoutFields {
			if v.Get(k) != "" {
				fields[k] = v.Get(k)
			}
		}
		p.render(w, r, http.StatusOK, "logout", view{Title: "Sign out",
			CSRF: p.Identity.CSRFToken(pr.SessionID), Confirm: true, Fields: fields,
			ClientName: plan.ClientName})
		return nil
	}
	if err := p.Identity.Logout(r.Context(), p.Identity.Cookies().SessionToken(r)); err != nil {
		return err
	}
	p.Identity.Cookies().ClearSessionCookie(w)
	if plan.Redirect != "" {
		http.Redirect(w, r, plan.Redirect, http.StatusSeeOther)
		return nil
	}
	p.render(w, r, http.StatusOK, "logout", view{Title: "Signed out"})
	return nil
}
