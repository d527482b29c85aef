package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// LogoutPlan is what RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0) should do with a request.
type LogoutPlan struct {
	// Page is a 400 error: the hint or the client cannot be trusted.
	Page *Error
	// Confirm asks the user before signing out: a session exists and the
	// hint does not name it.
	Confirm bool
	// Redirect is where to send the browser after signing out, with
	// state; empty shows the signed-out page.
	Redirect string
	// ClientName names the client on the pages, when known.
	ClientName string
}

// PlanLogout validates an end-session request (query or form) against the
// current session principal (nil without one).
func (p *Provider) PlanLogout(ctx context.Context, v url.Values,
	session *access.Principal) (*LogoutPlan, error) {
	var claims *oidc.IDTokenClaims
	if hint := v.Get("id_token_hint"); hint != "" {
		verifier := op.NewIDTokenHintVerifier(p.cfg.Issuer, p.Keys,
			op.WithSupportedIDTokenHintSigningAlgorithms(AlgRS256, AlgEdDSA))
		c, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, hint, verifier)
		if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) || !isIDToken(hint) {
			return logoutPage("The id_token_hint is not valid"), nil
		}
		claims = c
	}
	clientID := v.Get("client_id")
	if claims != nil {
		aud := claims.GetAudience()
		if len(aud) == 0 || clientID != "" && !slices.Contains(aud, clientID) {
			return logoutPage("client_id does not match the id_token_hint"), nil
		}
		clientID = aud[0]
	}
	plan := &LogoutPlan{}
	var c *Client
	if clientID != "" {
		var err error
		if c, err = p.ClientByClientID(ctx, clientID); err != nil {
			return nil, err
		}
		if c == nil {
			return logoutPage("Unknown or inactive client"), nil
		}
		plan.ClientName = c.Name
	}
	redirect, err := p.logoutRedirect(ctx, v.Get("post_logout_redirect_uri"), c, session)
	if err != nil {
		return nil, err
	}
	if redirect != "" {
		plan.Redirect = withState(redirect, v.Get("state"))
	}
	plan.Confirm = session != nil && (claims == nil || claims.SessionID != session.SessionID)
	return plan, nil
}

// isIDToken reports whether a signed token has the typ of the ID tokens.
// The hint verifier does not look at typ, and access tokens, signed with
// the same keys, carry iss, aud and sid as well.
func isIDToken(raw string) bool {
	jws, err := jose.ParseSigned(raw, acceptedAlgs)
	return err == nil && typeIs(jws, typIDToken)
}

func logoutPage(desc string) *LogoutPlan {
	return &LogoutPlan{Page: &Error{Code: CodeInvalidRequest, Description: desc,
		Status: http.StatusBadRequest}}
}

// logoutRedirect returns uri when it is registered exactly: among the
// client's postLogoutRedirectUris, or without a client among the session
// organisation's allowedLogoutUrls.
func (p *Provider) logoutRedirect(ctx context.Context, uri string, c *Client,
	session *access.Principal) (string, error) {
	if uri == "" {
		return "", nil
	}
	if c != nil {
		if slices.Contains(c.PostLogoutRedirectURIs, uri) {
			return uri, nil
		}
		return "", nil
	}
	if session == nil {
		return "", nil
	}
	var allowed []string
	err := p.db.QueryRowContext(ctx, `SELECT allowed_logout_urls FROM organisations
		WHERE id = $1`, session.OrganisationID).Scan(db.JSON(&allowed))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read logout urls: %w", err)
	}
	if slices.Contains(allowed, uri) {
		return uri, nil
	}
	return "", nil
}

func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	return appendQuery(uri, url.Values{"state": {state}})
}
