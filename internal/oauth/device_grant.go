package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

var errBadDeviceCode = ErrInvalidGrant("The device code is invalid or was already used")

// deviceGrant answers a device's poll (RFC 8628 §3.4–3.5): pending codes
// answer authorization_pending, or slow_down when polled faster than the
// code's interval (which then grows by five seconds); denied codes
// access_denied; expired codes expired_token; an approved code is
// exchanged for tokens exactly once.
func (p *Provider) deviceGrant(ctx context.Context, c *Client, form url.Values) (
	*TokenResponse, error) {
	raw := form.Get("device_code")
	if raw == "" {
		return nil, ErrInvalidRequest("device_code is required")
	}
	dc, err := readDeviceCode(ctx, p.db, `device_code_hash = $1`, crypto.HashToken(raw))
	if err != nil || dc == nil || dc.clientRef != c.ID {
		return nil, errOr(err, errBadDeviceCode)
	}
	now := p.clock()
	switch {
	case dc.consumedAt != nil:
		return nil, errBadDeviceCode
	case !now.Before(dc.expiresAt):
		return nil, protocolError(CodeExpiredToken, "The device code has expired")
	case dc.status == deviceDenied:
		return nil, protocolError(CodeAccessDenied, "The user denied the request")
	case dc.status == deviceApproved:
		return p.exchangeDevice(ctx, c, dc)
	}
	return nil, p.poll(ctx, dc, now)
}

// poll records a poll of a pending code. The update is conditional on the
// previous poll time read, so of concurrent polls one counts and the
// others are answered slow_down.
func (p *Provider) poll(ctx context.Context, dc *deviceCode, now time.Time) error {
	interval := time.Duration(dc.pollInterval) * time.Second
	tooFast := dc.lastPolledAt != nil && now.Sub(*dc.lastPolledAt) < interval
	set := `last_polled_at = $2, updated_at = $2`
	if tooFast {
		set += fmt.Sprintf(`, poll_interval = poll_interval + %d`, deviceSlowDownStep)
	}
	cond, args := `last_polled_at IS NULL`, []any{dc.id, now}
	if dc.lastPolledAt != nil {
		cond, args = `last_polled_at = $3`, append(args, *dc.lastPolledAt)
	}
	res, err := p.db.ExecContext(ctx, `UPDATE device_codes SET `+set+
		` WHERE id = $1 AND status = 'pending' AND `+cond, args...)
	if err != nil {
		return fmt.Errorf("record device poll: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 || tooFast {
		return protocolError(CodeSlowDown, "Poll less often")
	}
	return protocolError(CodeAuthorizationPending, "The user has not decided yet")
}

var errDeviceRaced = errors.New("device code exchanged concurrently")

// exchangeDevice consumes an approved code — exactly one exchange wins —
// and issues the tokens, starting a refresh family when the client has
// the refresh grant and offline_access was approved.
func (p *Provider) exchangeDevice(ctx context.Context, c *Client, dc *deviceCode) (
	*TokenResponse, error) {
	u, err := readUser(ctx, p.db, deref(dc.userID))
	if err != nil {
		return nil, err
	}
	if u == nil || !u.active {
		return nil, ErrInvalidGrant("The user is not active")
	}
	lt, err := lifetimesOf(ctx, p.db, c)
	if err != nil {
		return nil, err
	}
	g := &grant{grantType: GrantDeviceCode, client: c, userID: u.ID, scopes: dc.scopes,
		resources: dc.resources, sessionID: deref(dc.sessionID), amr: dc.amr}
	if dc.authTime != nil {
		g.authTime = *dc.authTime
	}
	var resp *TokenResponse
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		resp, err = p.consumeDevice(ctx, tx, g, dc, lt)
		return err
	})
	if errors.Is(err, errDeviceRaced) {
		return nil, errBadDeviceCode
	}
	return resp, err
}

func (p *Provider) consumeDevice(ctx context.Context, tx *sql.Tx, g *grant,
	dc *deviceCode, lt lifetimes) (*TokenResponse, error) {
	now := p.clock()
	res, err := tx.ExecContext(ctx, `UPDATE device_codes SET consumed_at = $2,
		updated_at = $2 WHERE id = $1 AND status = 'approved' AND consumed_at IS NULL`,
		dc.id, now)
	if err != nil {
		return nil, fmt.Errorf("consume device code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errDeviceRaced
	}
	return p.issueGranted(ctx, tx, g, lt, now)
}
