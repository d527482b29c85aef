package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// UserinfoEndpoint serves GET and POST /oauth2/userinfo (OpenID Connect
// Core §5.3) for a user's bearer access token holding openid.
func (p *Provider) UserinfoEndpoint(w http.ResponseWriter, r *http.Request) error {
	raw, ok := bearerToken(r)
	if !ok {
		return bearerError(w, ErrInvalidToken("A bearer access token is required"))
	}
	c, _, err := p.verifyAccess(r.Context(), raw)
	if errors.Is(err, errTokenInvalid) {
		return bearerError(w, ErrInvalidToken("The access token is invalid or expired"))
	}
	if err != nil {
		return err
	}
	scopes := strings.Fields(c.Scope)
	if c.Subject == c.ClientID || !slices.Contains(scopes, ScopeOpenID) {
		return bearerError(w, ErrInsufficientScope("The token lacks the openid scope"))
	}
	u, err := readUser(r.Context(), p.db, c.Subject)
	if err != nil {
		return err
	}
	if u == nil || !u.active {
		return bearerError(w, ErrInvalidToken("The access token is invalid or expired"))
	}
	claims := u.scopeClaims(scopes)
	claims["sub"] = u.ID
	writeJSON(w, http.StatusOK, claims)
	return nil
}

// bearerToken reads the access token from the Authorization header, or
// from the access_token form member of a POST (RFC 6750 §2.2).
func bearerToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, raw, ok := strings.Cut(h, " ")
		raw = strings.TrimSpace(raw)
		return raw, ok && strings.EqualFold(scheme, "Bearer") && raw != ""
	}
	if r.Method == http.MethodPost {
		if form, err := readForm(r); err == nil && form.Get("access_token") != "" {
			return form.Get("access_token"), true
		}
	}
	return "", false
}

// BearerChallenge sets the RFC 6750 WWW-Authenticate challenge of e (an
// invalid_token or insufficient_scope error) on w and returns e, for the
// guards of bearer-protected endpoints.
func BearerChallenge(w http.ResponseWriter, e *Error) error { return bearerError(w, e) }

// bearerError sets the RFC 6750 challenge for e and returns it.
func bearerError(w http.ResponseWriter, e *Error) error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="cerberus", error="`+e.Code+`", `+
		`error_description="`+e.Description+`"`)
	return e
}

// JWKSEndpoint serves GET /oauth2/jwks.json: the published keys.
func (p *Provider) JWKSEndpoint(w http.ResponseWriter, r *http.Request) error {
	set, err := p.Keys.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	return json.NewEncoder(w).Encode(set)
}

// Discovery is the provider metadata (OpenID Connect Discovery 1.0 and
// RFC 8414).
type Discovery struct {
	Issuer            string   `json:"issuer"`
	Authorization     string   `json:"authorization_endpoint"`
	Token             string   `json:"token_endpoint"`
	Userinfo          string   `json:"userinfo_endpoint"`
	JWKSURI           string   `json:"jwks_uri"`
	Revocation        string   `json:"revocation_endpoint"`
	Introspection     string   `json:"introspection_endpoint"`
	EndSession        string   `json:"end_session_endpoint"`
	Registration      string   `json:"registration_endpoint"`
	DeviceAuth        string   `json:"device_authorization_endpoint"`
	Scopes            []string `json:"scopes_supported"`
	ResponseTypes     []string `json:"response_types_supported"`
	ResponseModes     []string `json:"response_modes_supported"`
	GrantTypes        []string `json:"grant_types_supported"`
	SubjectTypes      []string `json:"subject_types_supported"`
	IDTokenAlgs       []string `json:"id_token_signing_alg_values_supported"`
	CodeChallenges    []string `json:"code_challenge_methods_supported"`
	Prompts           []string `json:"prompt_values_supported"`
	ACRs              []string `json:"acr_values_supported"`
	TokenAuth         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuth    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuth []string `json:"introspection_endpoint_auth_methods_supported"`
	TokenAuthAlgs     []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	Claims            []string `json:"claims_supported"`
	ISSParameter      bool     `json:"authorization_response_iss_parameter_supported"`
	RequestParameter  bool     `json:"request_parameter_supported"`
	RequestURI        bool     `json:"request_uri_parameter_supported"`
	ClaimsParameter   bool     `json:"claims_parameter_supported"`
}

// clientAuthMethods are the client authentication methods of the token,
// revocation and device authorization endpoints.
var clientAuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT,
	AuthNone}

// Metadata returns the discovery document. It lists only what the
// provider implements.
func (p *Provider) Metadata() Discovery {
	iss := p.cfg.Issuer
	return Discovery{Issuer: iss,
		Authorization: iss + "/oauth2/authorize", Token: iss + "/oauth2/token",
		Userinfo: iss + "/oauth2/userinfo", JWKSURI: iss + "/oauth2/jwks.json",
		Revocation: iss + "/oauth2/revoke", Introspection: iss + "/oauth2/introspect",
		EndSession: iss + "/oauth2/logout", Registration: iss + "/oauth2/register",
		DeviceAuth: iss + "/oauth2/device_authorization", Scopes: OIDCScopes,
		ResponseTypes: []string{"code"}, ResponseModes: []string{ModeQuery, ModeFormPost},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken,
			GrantClientCredentials, GrantDeviceCode},
		SubjectTypes: []string{"public"}, IDTokenAlgs: []string{AlgEdDSA, AlgRS256},
		CodeChallenges:    []string{"S256"},
		Prompts:           []string{PromptNone, PromptLogin, PromptConsent},
		ACRs:              []string{ACRPassword, ACRMFA},
		TokenAuth:         clientAuthMethods,
		RevocationAuth:    clientAuthMethods,
		IntrospectionAuth: []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT},
		TokenAuthAlgs:     AssertionAlgs,
		Claims: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
			"azp", "at_hash", "amr", "acr", "sid", "name", "given_name", "family_name",
			"updated_at", "email", "email_verified", "phone_number", "phone_number_verified"},
		ISSParameter: true,
	}
}

// DiscoveryEndpoint serves both well-known metadata paths.
func (p *Provider) DiscoveryEndpoint(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	return json.NewEncoder(w).Encode(p.Metadata())
}
