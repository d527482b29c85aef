package oauth

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// MatchRedirectURI reports whether uri is one of registered. The
// comparison is exact — case, trailing slash, dot segments, userinfo,
// fragment and every query parameter count — except that the port of an
// http://127.0.0.1 or http://[::1] redirect is ignored (RFC 8252 §7.3).
func MatchRedirectURI(registered []string, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	rest, ok := loopbackRest(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if rr, ok := loopbackRest(r); ok && rr == rest {
			return true
		}
	}
	return false
}

// loopbackRest splits an http loopback IP URI into its host without the
// port and everything after the authority, compared as raw text. URIs with
// userinfo, or anything that is not exactly http://127.0.0.1[:port] or
// http://[::1][:port], are not loopback redirects.
func loopbackRest(uri string) (string, bool) {
	after, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		host, port = strings.Trim(authority, "[]"), ""
		if strings.HasPrefix(authority, "[") != strings.HasSuffix(authority, "]") {
			return "", false
		}
	}
	if host != "127.0.0.1" && host != "::1" || !validPort(port) {
		return "", false
	}
	if host == "::1" && !strings.HasPrefix(authority, "[") {
		return "", false
	}
	return host + rest, true
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(p) <= 5
}

// RedirectURIProblem returns why uri cannot be registered as a redirect
// URI, or "" when it can: absolute, no fragment or userinfo; https, http
// on localhost, 127.0.0.1 or [::1], a dotted private-use scheme for public
// clients, or any http outside production.
func RedirectURIProblem(uri string, public, production bool) string {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() {
		return "Must be an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return "Must not contain a fragment"
	}
	if u.User != nil {
		return "Must not contain userinfo"
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return ""
	case u.Scheme == "http" && u.Host != "":
		if !production || isLocalHost(u.Hostname()) {
			return ""
		}
		return "Must use https (http only on localhost, 127.0.0.1 or [::1])"
	case strings.Contains(u.Scheme, ".") && public:
		return ""
	}
	return "Must use https, http on a loopback host, or a private-use scheme " +
		"for public clients"
}

func isLocalHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// originProblem returns why o is not an exact scheme://host[:port] origin.
func originProblem(o string) string {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.Contains(o, "*") || strings.HasSuffix(o, "/") {
		return "Must be an origin: scheme://host[:port]"
	}
	return ""
}

// resourceProblem returns why r is not an absolute URI without fragment.
func resourceProblem(r string) string {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
		return "Must be an absolute URI without fragment"
	}
	return ""
}

// httpsURLProblem returns why s is not an https URL.
func httpsURLProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "Must be an https URL"
	}
	return ""
}
