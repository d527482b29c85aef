package web

import (
	"net/http"
	"net/url"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// invalidUserCode is what the device page says of any code it will not
// show: unknown, expired, decided, or of another organisation.
const invalidUserCode = "Invalid or expired code"

// Results of a device decision, shown by GET /device?result=.
const (
	deviceResultApproved = "approved"
	deviceResultDenied   = "denied"
)

// deviceForm serves GET /device: without a full session the login page
// first, then the code entry form, or the confirmation of the code in
// ?user_code=, or the result of a decision.
func (p *Pages) deviceForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if res := q.Get("result"); res == deviceResultApproved || res == deviceResultDenied {
		p.render(w, r, http.StatusOK, "device", view{Title: "Connect a device", Result: res})
		return nil
	}
	pr, err := p.fullSession(w, r)
	if err != nil {
		return err
	}
	code := q.Get("user_code")
	if pr == nil {
		http.Redirect(w, r, p.OAuth.DeviceLoginURL(code), http.StatusFound)
		return nil
	}
	if code == "" {
		p.deviceEntry(w, r, pr, http.StatusOK, "", "")
		return nil
	}
	return p.deviceConfirm(w, r, pr, code)
}

// deviceEntry renders the code entry form.
func (p *Pages) deviceEntry(w http.ResponseWriter, r *http.Request, pr *access.Principal,
	status int, code, msg string) {
	p.render(w, r, status, "device", view{Title: "Connect a device",
		CSRF: p.Identity.CSRFToken(pr.SessionID), UserCode: code, Error: msg})
}

// deviceConfirm renders the client and scopes of a code with the allow
// and deny buttons, or the entry form with the refusal.
func (p *Pages) deviceConfirm(w http.ResponseWriter, r *http.Request, pr *access.Principal,
	code string) error {
	dv, err := p.OAuth.DevicePage(r.Context(), code, pr)
	if err != nil {
		return err
	}
	if dv == nil {
		p.deviceEntry(w, r, pr, http.StatusBadRequest, code, invalidUserCode)
		return nil
	}
	p.render(w, r, http.StatusOK, "device", view{Title: "Connect a device",
		Brand: dv.Branding, CSRF: p.Identity.CSRFToken(pr.SessionID), Device: dv})
	return nil
}

// deviceSubmit serves POST /device: a typed code continues to its
// confirmation; decision=allow|deny records the decision.
func (p *Pages) deviceSubmit(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.fullSession(w, r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "The form cannot be read")
	}
	if pr == nil {
		return errCSRF
	}
	if err := p.checkSessionToken(r, pr.SessionID); err != nil {
		return err
	}
	code, decision := r.PostForm.Get("user_code"), r.PostForm.Get("decision")
	switch decision {
	case "":
		return p.deviceEntered(w, r, pr, code)
	case "allow", "deny":
	default:
		return apperr.New(apperr.Invalid, "Choose allow or deny")
	}
	ok, err := p.OAuth.DecideDevice(r.Context(), code, pr, decision == "allow")
	if err != nil {
		return err
	}
	if !ok {
		p.deviceEntry(w, r, pr, http.StatusBadRequest, code, invalidUserCode)
		return nil
	}
	result := deviceResultDenied
	if decision == "allow" {
		result = deviceResultApproved
	}
	http.Redirect(w, r, "/device?result="+result, http.StatusSeeOther)
	return nil
}

// deviceEntered answers a typed code: 303 to its confirmation, or the
// form again with the refusal.
func (p *Pages) deviceEntered(w http.ResponseWriter, r *http.Request,
	pr *access.Principal, code string) error {
	dv, err := p.OAuth.DevicePage(r.Context(), code, pr)
	if err != nil {
		return err
	}
	if dv == nil {
		p.deviceEntry(w, r, pr, http.StatusBadRequest, code, invalidUserCode)
		return nil
	}
	http.Redirect(w, r, "/device?"+url.Values{"user_code": {dv.UserCode}}.Encode(),
		http.StatusSeeOther)
	return nil
}
