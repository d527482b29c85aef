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

// BrandingFor returns the branding of the organisation whose client a
// resume URL belongs to; ok is false when the URL names no pending
// request.
func (p *Provider) BrandingFor(ctx context.Context, target string) (Branding, bool, error) {
	if !p.IsResumeURL(target) {
		return Branding{}, false, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return Branding{}, false, nil
	}
	req, err := p.loadRequest(ctx, u.Query().Get("request_id"))
	if err != nil || req == nil || req.client == nil {
		return Branding{}, false, err
	}
	b, err := p.Branding(ctx, req.client.OrganisationID)
	return b, err == nil, err
}
