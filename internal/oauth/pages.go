package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// IsResumeURL reports whether target continues a flow of this provider:
// it starts with {issuer}/oauth2/authorize? or {issuer}/device.
func (p *Provider) IsResumeURL(target string) bool {
	return strings.HasPrefix(target, p.cfg.Issuer+"/oauth2/authorize?") ||
		target == p.cfg.Issuer+"/device" || strings.HasPrefix(target, p.cfg.Issuer+"/device?")
}

// AllowedCallback reports whether target is one of the organisation's
// allowedCallbackUrls, exactly.
func (p *Provider) AllowedCallback(ctx context.Context, orgID, target string) (bool, error) {
	var urls []string
	err := p.db.QueryRowContext(ctx, `SELECT allowed_callback_urls FROM organisations
		WHERE id = $1`, orgID).Scan(db.JSON(&urls))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("read callback urls: %w", err)
	}
	return slices.Contains(urls, target), nil
}

// Flow describes the authorization request a hosted page continues.
type Flow struct {
	Branding Branding
	// RedirectOrigin is the origin of the client's redirect URI: the pages
	// of the flow allow it in their CSP form-action, because the browser
	// applies form-action to the redirects that follow a form submission.
	RedirectOrigin string
}

// FlowFor returns the flow of a resume URL; the zero Flow when the URL
// names no pending request or device code.
func (p *Provider) FlowFor(ctx context.Context, target string) (Flow, error) {
	if !p.IsResumeURL(target) {
		return Flow{}, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return Flow{}, nil
	}
	if strings.HasSuffix(u.Path, "/device") {
		return p.deviceFlow(ctx, u.Query().Get("user_code"))
	}
	req, err := p.loadRequest(ctx, u.Query().Get("request_id"))
	if err != nil || req == nil || req.client == nil {
		return Flow{}, err
	}
	b, err := p.Branding(ctx, req.client.OrganisationID)
	if err != nil {
		return Flow{}, err
	}
	return Flow{Branding: b, RedirectOrigin: origin(req.params.RedirectURI)}, nil
}

// origin returns scheme://host of uri, or "" for a URI without host
// (private-use schemes are not origins a CSP can name).
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// deviceFlow returns the branding of the organisation whose client asked
// for a device code; the zero Flow for any other code.
func (p *Provider) deviceFlow(ctx context.Context, typed string) (Flow, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return Flow{}, nil
	}
	dc, err := readDeviceCode(ctx, p.db, `user_code = $1`, code)
	if err != nil || dc == nil || dc.status != devicePending {
		return Flow{}, err
	}
	b, err := p.Branding(ctx, dc.orgID)
	return Flow{Branding: b}, err
}
