package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Response modes.
const (
	ModeQuery    = "query"
	ModeFormPost = "form_post"
)

// Prompt values.
const (
	PromptNone    = "none"
	PromptLogin   = "login"
	PromptConsent = "consent"
)

// authParams are the validated parameters of an authorization request, as
// stored for the rest of the flow.
type authParams struct {
	ClientID      string   `json:"client_id"`
	RedirectURI   string   `json:"redirect_uri"`
	Scopes        []string `json:"scope"`
	State         string   `json:"state,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	CodeChallenge string   `json:"code_challenge,omitempty"`
	ResponseMode  string   `json:"response_mode"`
	Prompt        []string `json:"prompt,omitempty"`
	MaxAge        *int     `json:"max_age,omitempty"`
	LoginHint     string   `json:"login_hint,omitempty"`
	Resources     []string `json:"resource,omitempty"`
}

func (a *authParams) prompts(v string) bool { return slices.Contains(a.Prompt, v) }

// pkceChallenge is 43 base64url characters (a SHA-256 digest).
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// pkceVerifier is 43–128 unreserved characters (RFC 7636 §4.1).
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// repeated returns the first parameter sent more than once, other than
// resource.
func repeated(v url.Values) string {
	for k, vals := range v {
		if len(vals) > 1 && k != "resource" {
			return k
		}
	}
	return ""
}

// parseAuthParams validates the parameters after client and redirect URI
// are trusted; a returned error is redirected to the client.
func (p *Provider) parseAuthParams(v url.Values, c *Client, a *authParams) *Error {
	if k := repeated(v); k != "" {
		return ErrInvalidRequest("Parameter " + k + " is repeated")
	}
	if v.Has("request") {
		return protocolError(CodeRequestNotSupported, "The request parameter is not supported")
	}
	if v.Has("request_uri") {
		return protocolError(CodeRequestURINotSupported,
			"The request_uri parameter is not supported")
	}
	checks := []func(url.Values, *Client, *authParams) *Error{
		checkResponseType, p.checkScopes, checkStateNonce, checkPKCE, checkPrompt,
		p.checkResources,
	}
	for _, check := range checks {
		if err := check(v, c, a); err != nil {
			return err
		}
	}
	return nil
}

func checkResponseType(v url.Values, c *Client, _ *authParams) *Error {
	switch rt := v.Get("response_type"); {
	case rt == "":
		return ErrInvalidRequest("response_type is required")
	case rt != "code":
		return protocolError(CodeUnsupportedResponseType, "Only response_type=code is supported")
	case !c.HasGrant(GrantAuthorizationCode):
		return ErrUnauthorizedClient("The client may not use the authorization code grant")
	}
	return nil
}

func (p *Provider) checkScopes(v url.Values, c *Client, a *authParams) *Error {
	scopes := splitScope(v.Get("scope"))
	if len(scopes) == 0 {
		scopes = []string{ScopeOpenID}
	}
	if !c.HasGrant(GrantRefreshToken) {
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == ScopeOfflineAccess })
	}
	if len(scopes) == 0 || !subset(scopes, c.Scopes) {
		return ErrInvalidScope("A requested scope is not allowed for this client")
	}
	a.Scopes = scopes
	return nil
}

// freeText are the parameters stored as the client sent them, with their
// maximum length.
var freeText = []struct {
	name string
	max  int
}{{"state", maxState}, {"nonce", 255}, {"login_hint", 254}}

// maxState is the longest state Cerberus stores and returns.
const maxState = 1024

// checkStateNonce refuses a state, nonce or login_hint that is too long or
// not plain text. A refused state is never sent back: newRequest keeps
// only an acceptable one for its error responses.
func checkStateNonce(v url.Values, _ *Client, a *authParams) *Error {
	for _, p := range freeText {
		s := v.Get(p.name)
		if len(s) > p.max {
			return ErrInvalidRequest(fmt.Sprintf("%s is longer than %d characters",
				p.name, p.max))
		}
		if !plainText(s) {
			return ErrInvalidRequest(p.name + " must be UTF-8 without control characters")
		}
	}
	a.State, a.Nonce, a.LoginHint = v.Get("state"), v.Get("nonce"), v.Get("login_hint")
	return nil
}

func checkPKCE(v url.Values, c *Client, a *authParams) *Error {
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && (c.Public() || c.RequirePKCE):
		return ErrInvalidRequest("PKCE required for this client")
	case challenge == "" && method == "":
		return nil
	case method != "S256":
		return ErrInvalidRequest("code_challenge_method must be S256")
	case !pkceChallenge.MatchString(challenge):
		return ErrInvalidRequest("code_challenge must be 43 base64url characters")
	}
	a.CodeChallenge = challenge
	return nil
}

func checkPrompt(v url.Values, _ *Client, a *authParams) *Error {
	prompts := strings.Fields(v.Get("prompt"))
	for _, pr := range prompts {
		if pr != PromptNone && pr != PromptLogin && pr != PromptConsent {
			return ErrInvalidRequest("Unsupported prompt value")
		}
		if pr == PromptNone && len(prompts) > 1 {
			return ErrInvalidRequest("prompt=none cannot be combined with other values")
		}
	}
	a.Prompt = prompts
	if s := v.Get("max_age"); s != "" {
		n, err := strconv.ParseUint(s, 10, 63)
		if errors.Is(err, strconv.ErrRange) {
			n, err = maxAgeLimit, nil
		}
		if err != nil {
			return ErrInvalidRequest("max_age must be a non-negative integer")
		}
		m := int(min(n, maxAgeLimit))
		a.MaxAge = &m
	}
	return nil
}

// maxAgeLimit is the largest max_age kept, a hundred years in seconds: a
// longer one means the same, and in nanoseconds it would overflow the
// time.Duration of the freshness check.
const maxAgeLimit = 100 * 365 * 24 * 60 * 60

func (p *Provider) checkResources(v url.Values, c *Client, a *authParams) *Error {
	res, err := p.resources(v["resource"], c, a.Scopes)
	a.Resources = res
	return err
}

// resources validates resource indicators (RFC 8707): absolute URIs
// without fragment, each the issuer (only for a client holding a
// permission scope) or one of the client's allowedResources.
func (p *Provider) resources(in []string, c *Client, scopes []string) ([]string, *Error) {
	var out []string
	for _, r := range in {
		if resourceProblem(r) != "" {
			return nil, ErrInvalidTarget("resource must be an absolute URI without fragment")
		}
		allowed := slices.Contains(c.AllowedResources, r) ||
			r == p.cfg.Issuer && slices.ContainsFunc(c.Scopes, isPermission)
		if !allowed {
			return nil, ErrInvalidTarget("The resource is not allowed for this client")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
