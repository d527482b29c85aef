// Package web serves the hosted HTML pages of Cerberus IAM: sign-in with
// the second factor, MFA enrollment, OAuth consent, device verification,
// the authorization endpoint's browser side, RP-initiated logout and the
// error page.
//
// Pages are rendered on the server with html/template, work without
// JavaScript (the one script only auto-submits the form_post response),
// load their assets from /auth/assets/ under a strict Content Security
// Policy, and protect every form with a CSRF token: before sign-in an HMAC
// of a random cerb_form cookie, with a session the session's CSRF token.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/oauth"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Pages serves the hosted pages.
type Pages struct {
	Identity *identity.Service
	OAuth    *oauth.Provider
	// Ring seals the cerb_mfa cookie; FormKey is the HMAC key of form
	// CSRF tokens (HKDF "cerberus form v1").
	Ring    *crypto.KeyRing
	FormKey []byte
	// Issuer is ISSUER_URL; AdminOrigin is ADMIN_WEB_ORIGIN, where the
	// login page goes when its target cannot be trusted; LoginUIURL is
	// LOGIN_UI_URL.
	Issuer      string
	AdminOrigin string
	LoginUIURL  string
	// SecureCookies adds Secure to the page cookies.
	SecureCookies bool
	Now           func() time.Time

	tmpl map[string]*template.Template
}

// pageCSP is the Content Security Policy of every page.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Register parses the templates and adds the page routes to rt.
func (p *Pages) Register(rt *httpapi.Router) {
	p.parse()
	page := httpapi.Errors(p.unexpected)
	auth := httpapi.Limit(httpapi.LimitAuth)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		rt.Handle(m, "/oauth2/authorize", p.authorize, page, httpapi.Auth("browser", nil))
		rt.Handle(m, "/oauth2/logout", p.logout, page, httpapi.Auth("browser", nil))
	}
	rt.Handle(http.MethodGet, "/oauth2/consent", p.consentForm, page,
		httpapi.Auth("session", nil))
	rt.Handle(http.MethodPost, "/oauth2/consent", p.consentDecision, page,
		httpapi.Auth("session", nil))
	rt.Handle(http.MethodGet, "/device", p.deviceForm, page, httpapi.Auth("session", nil))
	rt.Handle(http.MethodPost, "/device", p.deviceSubmit, page, auth,
		httpapi.Auth("session", nil))
	rt.Handle(http.MethodGet, "/auth/login", p.loginForm, page)
	rt.Handle(http.MethodPost, "/auth/login", p.login, page, auth)
	rt.Handle(http.MethodGet, "/auth/login/mfa", p.mfaForm, page)
	rt.Handle(http.MethodPost, "/auth/login/mfa", p.mfa, page, auth)
	rt.Handle(http.MethodGet, "/auth/mfa/setup", p.setupForm, page,
		httpapi.Auth("session", nil))
	rt.Handle(http.MethodPost, "/auth/mfa/setup", p.setup, page, auth,
		httpapi.Auth("session", nil))
	rt.Handle(http.MethodGet, "/auth/assets/brand.css", p.brandCSS, page)
	rt.HandleHTTP(http.MethodGet, "/auth/assets/{file}",
		http.StripPrefix("/auth", http.FileServerFS(assetFiles)), page,
		httpapi.Limit(httpapi.LimitNone))
}

func (p *Pages) parse() {
	p.tmpl = map[string]*template.Template{}
	for _, name := range []string{"login", "mfa", "setup", "consent", "logout", "error",
		"formpost", "device"} {
		p.tmpl[name] = template.Must(template.New("").ParseFS(templateFiles,
			"templates/layout.html", "templates/"+name+".html"))
	}
}

// view is the data of a page.
type view struct {
	Title string
	Brand oauth.Branding
	Error string
	CSRF  string
	// Page-specific members.
	Target, Email, Secret, ClientName string
	Codes                             []string
	Consent                           *oauth.ConsentView
	Device                            *oauth.DeviceView
	UserCode, Result                  string
	Confirm                           bool
	Fields                            map[string]string
	Code, Description, RequestID      string
	Action                            string
	FormOrigin                        string
	FormFields                        url.Values

	// URI and QR are the otpauth:// link and the data: URL of the QR image
	// of the MFA set-up page. The server makes both, so they are typed as
	// safe URLs: html/template would replace these schemes.
	URI, QR template.URL
}

// render writes a page with the page headers.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string,
	v view) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	csp := pageCSP
	if u, err := url.Parse(v.Action); err == nil && v.Action != "" {
		// The form_post page posts to the client's redirect origin.
		csp += " " + u.Scheme + "://" + u.Host
	} else if v.FormOrigin != "" {
		// Forms of a flow end in a redirect to the client.
		csp += " " + v.FormOrigin
	}
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	if err := p.tmpl[name].ExecuteTemplate(w, "layout", v); err != nil {
		telemetry.Logger(r.Context()).Error("render page", "page", name,
			"error", err.Error())
	}
}

// errorPage renders the error page with the request id.
func (p *Pages) errorPage(w http.ResponseWriter, r *http.Request, status int, code,
	desc string) {
	p.render(w, r, status, "error", view{Title: "Something went wrong", Code: code,
		Description: desc, RequestID: w.Header().Get("X-Request-Id")})
}

// kindStatus maps application errors to the status of their page.
var kindStatus = map[apperr.Kind]int{
	apperr.Invalid: http.StatusBadRequest, apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden: http.StatusForbidden, apperr.NotFound: http.StatusNotFound,
	apperr.Conflict: http.StatusConflict, apperr.Unprocessable: http.StatusUnprocessableEntity,
	apperr.TooLarge:    http.StatusRequestEntityTooLarge,
	apperr.RateLimited: http.StatusTooManyRequests,
	apperr.Unavailable: http.StatusServiceUnavailable,
}

// unexpected is the error writer of the page routes: known errors become
// their page, refused text a 400 page and a temporary failure of the
// database a 503 page (see httpapi.KnownFailure), anything else is logged
// and shown as a 500 page.
func (p *Pages) unexpected(w http.ResponseWriter, r *http.Request, err error) {
	if oe := oauth.AsError(err); oe != nil {
		p.errorPage(w, r, oe.Status, oe.Code, oe.Description)
		return
	}
	ae := apperr.As(err)
	if ae == nil {
		ae = httpapi.KnownFailure(r, err)
	}
	if ae != nil {
		status, ok := kindStatus[ae.Kind]
		if !ok {
			status = http.StatusMethodNotAllowed
		}
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		p.errorPage(w, r, status, http.StatusText(status), ae.Detail)
		return
	}
	telemetry.Logger(r.Context()).Error("page failed", slog.String("error", err.Error()))
	p.errorPage(w, r, http.StatusInternalServerError, "server_error",
		"An unexpected error occurred")
}
