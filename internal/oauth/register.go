package oauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// registeredName is the name of a client registered without client_name.
const registeredName = "Registered client"

// ClientMetadata is the body of a dynamic client registration (RFC 7591
// §2). Members it does not name are ignored, as the RFC asks.
type ClientMetadata struct {
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	ClientName               *string         `json:"client_name"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	TokenEndpointAuthMethod  *string         `json:"token_endpoint_auth_method"`
	Scope                    *string         `json:"scope"`
	JWKS                     *map[string]any `json:"jwks"`
	JWKSURI                  *string         `json:"jwks_uri"`
	LogoURI                  *string         `json:"logo_uri"`
	PolicyURI                *string         `json:"policy_uri"`
	TosURI                   *string         `json:"tos_uri"`
	IDTokenSignedResponseAlg *string         `json:"id_token_signed_response_alg"`
}

// Registration is the 201 body of a registration (RFC 7591 §3.2.1): the
// credentials and the metadata as registered.
type Registration struct {
	ClientID                 string          `json:"client_id"`
	ClientSecret             string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt         int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt    int64           `json:"client_secret_expires_at"`
	ClientName               string          `json:"client_name"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	Scope                    string          `json:"scope"`
	JWKS                     *map[string]any `json:"jwks,omitempty"`
	JWKSURI                  *string         `json:"jwks_uri,omitempty"`
	LogoURI                  *string         `json:"logo_uri,omitempty"`
	PolicyURI                *string         `json:"policy_uri,omitempty"`
	TosURI                   *string         `json:"tos_uri,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
}

// RegisterEndpoint serves POST /oauth2/register (RFC 7591 §3). The route
// guard has authenticated the bearer credential and checked
// clients:create; the client is created in the credential's organisation.
func (p *Provider) RegisterEndpoint(w http.ResponseWriter, r *http.Request) error {
	actor := access.PrincipalFrom(r.Context())
	if actor == nil {
		return bearerError(w, ErrInvalidToken("A bearer credential is required"))
	}
	meta, err := readMetadata(r)
	if err != nil {
		return err
	}
	reg, err := p.RegisterClient(r.Context(), actor, meta)
	if e := AsError(err); e != nil && e.Code == CodeInsufficientScope {
		return bearerError(w, e)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, reg)
	return nil
}

var errBadMetadata = protocolError(CodeInvalidClientMetadata,
	"The body is not a JSON object of client metadata")

// readMetadata decodes a JSON registration body.
func readMetadata(r *http.Request) (ClientMetadata, error) {
	var m ClientMetadata
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return m, ErrInvalidRequest("Content-Type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&m); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return m, apperr.New(apperr.TooLarge, "Request body too large")
		}
		return m, errBadMetadata
	}
	if dec.More() {
		return m, errBadMetadata
	}
	return m, nil
}

// RegisterClient creates a client from registration metadata in the
// actor's organisation: never first party, always requiring PKCE, with
// permission scopes passing the no-escalation guard. It records
// client.created (audit and webhook) and returns the registration with
// the secret, shown only now.
func (p *Provider) RegisterClient(ctx context.Context, actor *access.Principal,
	m ClientMetadata) (*Registration, error) {
	in, perr := createFromMetadata(m)
	if perr != nil {
		return nil, perr
	}
	now := p.clock()
	c := clientFromCreate(actor.OrganisationID, in, now)
	if errs := validateClient(c, p.cfg.Production); len(errs) > 0 {
		return nil, metadataError(errs)
	}
	err := p.checkScopeGrant(ctx, actor, nil, c.Scopes)
	if errors.Is(err, access.ErrCannotGrant) {
		return nil, ErrInsufficientScope(access.ErrCannotGrant.Detail)
	}
	if err != nil {
		return nil, err
	}
	secret := p.newSecret(c)
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertClient(ctx, tx, c, actor.UserID); err != nil {
			return err
		}
		return p.clientEvent(ctx, tx, "client.created", "client.created", c, nil)
	})
	if err != nil {
		return nil, err
	}
	return registrationOf(c, secret), nil
}

// createFromMetadata maps registration metadata to a client creation with
// the defaults of registration: authorization_code, client_secret_basic
// (none makes a public client), response type code.
func createFromMetadata(m ClientMetadata) (ClientCreate, *Error) {
	method := or(m.TokenEndpointAuthMethod, AuthSecretBasic)
	typ := ClientConfidential
	if method == AuthNone {
		typ = ClientPublic
	}
	grants := m.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode}
	}
	if perr := checkResponseTypes(m.ResponseTypes, grants); perr != nil {
		return ClientCreate{}, perr
	}
	in := ClientCreate{Name: ptrTo(or(m.ClientName, registeredName)),
		ClientType: &typ, GrantTypes: &grants, RedirectURIs: orNil(m.RedirectURIs),
		PostLogoutRedirectURIs:  orNil(m.PostLogoutRedirectURIs),
		TokenEndpointAuthMethod: &method, JWKS: m.JWKS, JWKSURI: m.JWKSURI,
		RequirePKCE: ptrTo(true), IsFirstParty: ptrTo(false), LogoURI: m.LogoURI,
		PolicyURI: m.PolicyURI, TosURI: m.TosURI,
		IDTokenSignedResponseAlg: m.IDTokenSignedResponseAlg}
	if m.Scope != nil {
		scopes := orEmpty(splitScope(*m.Scope))
		in.Scopes = &scopes
	}
	return in, nil
}

// checkResponseTypes allows only code, present exactly when the
// authorization_code grant is.
func checkResponseTypes(types, grants []string) *Error {
	if len(types) == 0 {
		return nil
	}
	code := slices.Contains(grants, GrantAuthorizationCode)
	if slices.ContainsFunc(types, func(t string) bool { return t != "code" }) ||
		!code {
		return protocolError(CodeInvalidClientMetadata,
			"response_types: only code, with the authorization_code grant")
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

func orNil(s []string) *[]string {
	if s == nil {
		return nil
	}
	return &s
}

// metadataNames are the registration names of the client fields.
var metadataNames = map[string]string{
	"name": "client_name", "clientType": "token_endpoint_auth_method",
	"grantTypes": "grant_types", "redirectUris": "redirect_uris",
	"postLogoutRedirectUris": "post_logout_redirect_uris", "scopes": "scope",
	"tokenEndpointAuthMethod": "token_endpoint_auth_method", "jwks": "jwks",
	"jwksUri": "jwks_uri", "logoUri": "logo_uri", "policyUri": "policy_uri",
	"tosUri": "tos_uri", "idTokenSignedResponseAlg": "id_token_signed_response_alg",
}

// metadataError turns field problems into the registration error: a bad
// redirect URI is invalid_redirect_uri, anything else
// invalid_client_metadata, described with the registration names.
func metadataError(errs []apperr.FieldError) *Error {
	pick := errs[0]
	for _, f := range errs {
		if strings.HasPrefix(f.Field, "redirectUris") ||
			strings.HasPrefix(f.Field, "postLogoutRedirectUris") {
			pick = f
			break
		}
	}
	head, index, _ := strings.Cut(pick.Field, ".")
	name, ok := metadataNames[head]
	if !ok {
		name = head
	}
	if index != "" {
		name += "[" + index + "]"
	}
	code := CodeInvalidClientMetadata
	if head == "redirectUris" || head == "postLogoutRedirectUris" {
		code = CodeInvalidRedirectURI
	}
	return protocolError(code, name+": "+pick.Message)
}

// registrationOf is the answer of a registration.
func registrationOf(c *Client, secret string) *Registration {
	types := []string{}
	if c.HasGrant(GrantAuthorizationCode) {
		types = []string{"code"}
	}
	return &Registration{ClientID: c.ClientID, ClientSecret: secret,
		ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: types,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, Scope: joinScopes(c.Scopes),
		JWKS: c.JWKS, JWKSURI: c.JWKSURI, LogoURI: c.LogoURI, PolicyURI: c.PolicyURI,
		TosURI: c.TosURI, IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg}
}
