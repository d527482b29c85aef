package oauth

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// Limits of client fields.
const (
	maxURIs           = 20
	minTokenLifetime  = 60
	maxTokenLifetime  = 86400
	minFamilyLifetime = 3600
	maxFamilyLifetime = 31536000
)

var allGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials,
	GrantDeviceCode}

// clientRules checks a whole client, as it would be stored, against the
// field rules and returns every problem.
type clientRules struct {
	c          *Client
	production bool
	errs       []apperr.FieldError
}

func (v *clientRules) add(field, code, msg string) {
	v.errs = append(v.errs, apperr.Field(field, code, msg))
}

// validateClient returns the field problems of c.
func validateClient(c *Client, production bool) []apperr.FieldError {
	v := &clientRules{c: c, production: production}
	v.text("name", c.Name, 1, 100)
	if c.Description != nil {
		v.text("description", *c.Description, 0, 500)
	}
	v.clientType()
	v.grants()
	v.redirects("redirectUris", c.RedirectURIs, c.HasGrant(GrantAuthorizationCode))
	v.redirects("postLogoutRedirectUris", c.PostLogoutRedirectURIs, false)
	v.list("allowedOrigins", c.AllowedOrigins, originProblem)
	v.list("allowedResources", c.AllowedResources, resourceProblem)
	v.scopes()
	v.authMethod()
	v.flags()
	v.lifetime("accessTokenLifetime", c.AccessTokenLifetime, minTokenLifetime,
		maxTokenLifetime)
	v.lifetime("idTokenLifetime", c.IDTokenLifetime, minTokenLifetime, maxTokenLifetime)
	v.lifetime("refreshTokenLifetime", c.RefreshTokenLifetime, minFamilyLifetime,
		maxFamilyLifetime)
	for field, u := range map[string]*string{"logoUri": c.LogoURI,
		"policyUri": c.PolicyURI, "tosUri": c.TosURI} {
		if u != nil {
			v.problem(field, httpsURLProblem(*u))
		}
	}
	return v.errs
}

func (v *clientRules) problem(field, msg string) {
	if msg != "" {
		v.add(field, apperr.CodeInvalidFormat, msg)
	}
}

func (v *clientRules) text(field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		v.add(field, apperr.CodeInvalidFormat, "Must be UTF-8 text without NUL characters")
	case n < minLen && n == 0:
		v.add(field, apperr.CodeRequired, "Required")
	case n < minLen:
		v.add(field, apperr.CodeTooShort, fmt.Sprintf("Must be at least %d characters",
			minLen))
	case n > maxLen:
		v.add(field, apperr.CodeTooLong, fmt.Sprintf("Must be at most %d characters",
			maxLen))
	}
}

func (v *clientRules) clientType() {
	if v.c.ClientType != ClientConfidential && v.c.ClientType != ClientPublic {
		v.add("clientType", apperr.CodeInvalidValue, "Must be confidential or public")
	}
}

func (v *clientRules) grants() {
	for i, g := range v.c.GrantTypes {
		field := "grantTypes." + strconv.Itoa(i)
		switch {
		case !slices.Contains(allGrants, g):
			v.add(field, apperr.CodeInvalidValue, "Unknown grant type")
		case slices.Index(v.c.GrantTypes, g) != i:
			v.add(field, apperr.CodeInvalidValue, "Duplicate grant type")
		case g == GrantClientCredentials && v.c.Public():
			v.add(field, apperr.CodeInvalidValue,
				"client_credentials is for confidential clients only")
		}
	}
}

func (v *clientRules) redirects(field string, uris []string, required bool) {
	if required && len(uris) == 0 {
		v.add(field, apperr.CodeTooShort, "At least one redirect URI is required")
	}
	if len(uris) > maxURIs {
		v.add(field, apperr.CodeTooLong, "At most 20 entries")
		return
	}
	for i, u := range uris {
		v.problem(field+"."+strconv.Itoa(i), RedirectURIProblem(u, v.c.Public(),
			v.production))
	}
}

func (v *clientRules) list(field string, items []string, check func(string) string) {
	if len(items) > maxURIs {
		v.add(field, apperr.CodeTooLong, "At most 20 entries")
		return
	}
	for i, s := range items {
		v.problem(field+"."+strconv.Itoa(i), check(s))
	}
}

func (v *clientRules) scopes() {
	for i, s := range v.c.Scopes {
		if !ValidScope(s) {
			v.add("scopes."+strconv.Itoa(i), apperr.CodeInvalidValue, "Unknown scope")
		}
	}
}

func (v *clientRules) authMethod() {
	c := v.c
	ok := c.Public() && c.TokenEndpointAuthMethod == AuthNone ||
		!c.Public() && slices.Contains([]string{AuthSecretBasic, AuthSecretPost,
			AuthPrivateKeyJWT}, c.TokenEndpointAuthMethod)
	if !ok {
		v.add("tokenEndpointAuthMethod", apperr.CodeInvalidValue,
			"Not allowed for this client type")
	}
	keys := c.JWKS != nil
	uri := c.JWKSURI != nil
	switch {
	case c.TokenEndpointAuthMethod == AuthPrivateKeyJWT && keys == uri:
		v.add("jwks", apperr.CodeInvalidValue, "Exactly one of jwks and jwksUri is required")
	case c.TokenEndpointAuthMethod != AuthPrivateKeyJWT && (keys || uri):
		v.add("jwks", apperr.CodeInvalidValue, "Only for private_key_jwt")
	case uri:
		v.problem("jwksUri", httpsURLProblem(*c.JWKSURI))
	case keys:
		if msg := checkKeySet(*c.JWKS); msg != "" {
			v.add("jwks", apperr.CodeInvalidValue, msg)
		}
	}
}

func (v *clientRules) flags() {
	c := v.c
	if c.Public() && !c.RequirePKCE {
		v.add("requirePkce", apperr.CodeInvalidValue, "Public clients always require PKCE")
	}
	if c.RequireConsent == c.IsFirstParty {
		v.add("requireConsent", apperr.CodeInvalidValue,
			"Must be the opposite of isFirstParty")
	}
	if c.IDTokenSignedResponseAlg != AlgRS256 && c.IDTokenSignedResponseAlg != AlgEdDSA {
		v.add("idTokenSignedResponseAlg", apperr.CodeInvalidValue, "Must be RS256 or EdDSA")
	}
}

func (v *clientRules) lifetime(field string, n *int, lo, hi int) {
	switch {
	case n == nil:
	case *n < lo:
		v.add(field, apperr.CodeTooSmall, fmt.Sprintf("Must be at least %d", lo))
	case *n > hi:
		v.add(field, apperr.CodeTooLarge, fmt.Sprintf("Must be at most %d", hi))
	}
}
