package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// Cookies of the pages.
const (
	formCookie = "cerb_form"
	mfaCookie  = "cerb_mfa"
)

// Lifetimes of the page cookies.
const (
	formCookieAge = 30 * time.Minute
	mfaCookieAge  = 5 * time.Minute
)

var errCSRF = apperr.New(apperr.Forbidden, "Invalid CSRF token")

// formToken returns the CSRF token of the pre-sign-in forms: the HMAC of
// the random cerb_form cookie, which is set when absent.
func (p *Pages) formToken(w http.ResponseWriter, r *http.Request) string {
	value := ""
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) == 43 {
		value = c.Value
	} else {
		value = crypto.NewToken()
	}
	// Sent again on each page so the 30 minutes count from the last form.
	http.SetCookie(w, &http.Cookie{Name: formCookie, Value: value, Path: "/",
		MaxAge: int(formCookieAge.Seconds()), HttpOnly: true, Secure: p.SecureCookies,
		SameSite: http.SameSiteStrictMode})
	return crypto.MAC(p.FormKey, value)
}

// checkFormToken verifies the _csrf field of a pre-sign-in form.
func (p *Pages) checkFormToken(r *http.Request) error {
	c, err := r.Cookie(formCookie)
	if err != nil || !crypto.VerifyMAC(p.FormKey, c.Value, r.PostFormValue("_csrf")) {
		return errCSRF
	}
	return nil
}

// checkSessionToken verifies the _csrf field of a form sent with a
// session.
func (p *Pages) checkSessionToken(r *http.Request, sessionID string) error {
	want := p.Identity.CSRFToken(sessionID)
	if !crypto.EqualString(r.PostFormValue("_csrf"), want) {
		return errCSRF
	}
	return nil
}

// mfaState is the sealed content of cerb_mfa between the password and the
// second factor: who signs in, the stamp of the password checked (a reset
// meanwhile ends the pending sign-in) and where to go, never the password.
type mfaState struct {
	UserID  string `json:"u"`
	Stamp   string `json:"s"`
	Target  string `json:"t"`
	Expires int64  `json:"e"`
}

func (p *Pages) setMFAState(w http.ResponseWriter, st mfaState) error {
	st.Expires = p.Now().Add(mfaCookieAge).Unix()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sealed, err := p.Ring.Seal(b)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Value: sealed, Path: "/auth/login",
		MaxAge: int(mfaCookieAge.Seconds()), HttpOnly: true, Secure: p.SecureCookies,
		SameSite: http.SameSiteStrictMode})
	return nil
}

// mfaStateOf opens cerb_mfa; ok is false when it is missing, tampered
// with or expired.
func (p *Pages) mfaStateOf(r *http.Request) (mfaState, bool) {
	var st mfaState
	c, err := r.Cookie(mfaCookie)
	if err != nil {
		return st, false
	}
	b, err := p.Ring.Open(c.Value)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, p.Now().Unix() < st.Expires && st.UserID != ""
}

func (p *Pages) clearMFAState(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Value: "", Path: "/auth/login",
		MaxAge: -1, HttpOnly: true, Secure: p.SecureCookies, SameSite: http.SameSiteStrictMode})
}
