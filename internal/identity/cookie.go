package identity

import (
	"net/http"
	"strings"
)

// DefaultCookieName is the session cookie's name when SESSION_COOKIE_NAME
// is unset.
const DefaultCookieName = "cerb_sid"

// Cookies holds the session cookie settings: SESSION_COOKIE_NAME,
// SESSION_COOKIE_SECURE and SESSION_COOKIE_DOMAIN.
type Cookies struct {
	Name   string
	Secure bool
	// Domain of the cookie; empty, "localhost" and "*" make it host-only.
	Domain string
}

func (c Cookies) withDefaults() Cookies {
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	return c
}

func (c Cookies) domain() string {
	d := strings.TrimSpace(c.Domain)
	if d == "" || d == "localhost" || d == "*" {
		return ""
	}
	return d
}

// SetSessionCookie sends the session cookie with token for maxAge seconds
// (the session's absolute lifetime): HttpOnly, SameSite=Lax, Path=/,
// Secure and Domain per the settings.
func (c Cookies) SetSessionCookie(w http.ResponseWriter, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.withDefaults().Name, Value: token, Path: "/", Domain: c.domain(),
		MaxAge: max(maxAge, 1), HttpOnly: true, Secure: c.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie removes the session cookie: same attributes, empty
// value, Max-Age=0.
func (c Cookies) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.withDefaults().Name, Value: "", Path: "/", Domain: c.domain(),
		MaxAge: -1, HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// SessionToken returns the session cookie's value in r, or "".
func (c Cookies) SessionToken(r *http.Request) string {
	ck, err := r.Cookie(c.withDefaults().Name)
	if err != nil {
		return ""
	}
	return ck.Value
}
