package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ClientAllows reports whether origin is exactly one of the allowedOrigins
// of the client calling a token-style endpoint (its Basic credentials, its
// client_id or assertion issuer, or the client_id claim of its bearer
// token); for a preflight, of any active client. It decides only CORS
// headers: authentication happens in the endpoint.
func (p *Provider) ClientAllows(r *http.Request, origin string, preflight bool) bool {
	ctx := r.Context()
	if !plainText(origin) {
		return false
	}
	if preflight {
		var n int
		err := p.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM clients c
			JOIN organisations o ON o.id = c.organisation_id
			WHERE c.is_active AND c.deleted_at IS NULL AND o.deleted_at IS NULL
			AND `+p.db.Dialect.JSONArrayContains("c.allowed_origins", "$1"),
			origin).Scan(&n)
		return err == nil && n > 0
	}
	c, err := p.ClientByClientID(ctx, callerClientID(r))
	return err == nil && c != nil && slices.Contains(c.AllowedOrigins, origin)
}

// callerClientID names the client of a token-style request without
// authenticating it.
func callerClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		return id
	}
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return unverifiedClaim(raw, "client_id")
	}
	if r.Method == http.MethodPost && r.ParseForm() == nil {
		if id := r.PostForm.Get("client_id"); id != "" {
			return id
		}
		return unverifiedClaim(r.PostForm.Get("client_assertion"), "iss")
	}
	return ""
}

// unverifiedClaim reads a string claim of a JWT without checking it.
func unverifiedClaim(raw, name string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return ""
	}
	s, _ := claims[name].(string)
	return s
}
