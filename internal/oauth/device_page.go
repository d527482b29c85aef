package oauth

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// DeviceView is what the /device page shows before the user decides.
type DeviceView struct {
	UserCode   string
	ClientName string
	LogoURI    string
	PolicyURI  string
	TosURI     string
	Scopes     []ScopeDescription
	Branding   Branding
}

// DeviceLoginURL is where /device sends a browser without a full session:
// the login page (or LOGIN_UI_URL), returning to /device with the code.
func (p *Provider) DeviceLoginURL(userCode string) string {
	base := p.cfg.LoginUIURL
	if base == "" {
		base = p.cfg.Issuer + "/auth/login"
	}
	return base + "?" + url.Values{"redirect_uri": {p.deviceURL(userCode)}}.Encode()
}

func (p *Provider) deviceURL(userCode string) string {
	if userCode == "" {
		return p.cfg.Issuer + "/device"
	}
	return p.cfg.Issuer + "/device?" + url.Values{"user_code": {userCode}}.Encode()
}

// pendingDevice returns the pending, unexpired device code a user typed
// with its client, when the session's user may decide on it (same
// organisation, usable client); nil otherwise.
func (p *Provider) pendingDevice(ctx context.Context, typed string,
	sess *sessionInfo) (*deviceCode, *Client, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok || sess == nil {
		return nil, nil, nil
	}
	dc, err := readDeviceCode(ctx, p.db, `user_code = $1`, code)
	if err != nil || dc == nil || dc.status != devicePending ||
		!p.now().Before(dc.expiresAt) || dc.orgID != sess.orgID {
		return nil, nil, err
	}
	c, err := clientByRef(ctx, p.db, dc.clientRef)
	if err != nil || c == nil || !c.usable() {
		return nil, nil, err
	}
	return dc, c, nil
}

// DevicePage returns the view of the code a user typed for the session's
// user; nil when the code is unknown, expired, decided, of another
// organisation, or session is not a full session.
func (p *Provider) DevicePage(ctx context.Context, typed string,
	session *access.Principal) (*DeviceView, error) {
	sess, err := p.sessionOf(ctx, session)
	if err != nil {
		return nil, err
	}
	dc, c, err := p.pendingDevice(ctx, typed, sess)
	if err != nil || dc == nil {
		return nil, err
	}
	scopes, err := describeScopes(ctx, p.db, dc.scopes)
	if err != nil {
		return nil, err
	}
	b, err := p.Branding(ctx, c.OrganisationID)
	if err != nil {
		return nil, err
	}
	return &DeviceView{UserCode: dc.userCode, ClientName: c.Name, LogoURI: deref(c.LogoURI),
		PolicyURI: deref(c.PolicyURI), TosURI: deref(c.TosURI), Scopes: scopes,
		Branding: b}, nil
}

// DecideDevice records the user's decision on the code they typed. Allow
// binds the session's user and sign-in to the code, stores the consent
// (unless the client is first party) and records oauth2.authorize; deny
// makes the device's next poll answer access_denied. It reports false,
// changing nothing, when DevicePage would show nothing.
func (p *Provider) DecideDevice(ctx context.Context, typed string,
	session *access.Principal, allow bool) (bool, error) {
	sess, err := p.sessionOf(ctx, session)
	if err != nil {
		return false, err
	}
	dc, c, err := p.pendingDevice(ctx, typed, sess)
	if err != nil || dc == nil {
		return false, err
	}
	decided := false
	err = p.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if decided, err = p.decideDevice(ctx, tx, dc, sess, allow); err != nil || !decided ||
			!allow {
			return err
		}
		if !c.IsFirstParty {
			if err := p.grantConsent(ctx, tx, sess.userID, c, dc.scopes); err != nil {
				return err
			}
		}
		return p.events.Record(ctx, tx, event.Event{Type: "oauth2.authorize",
			OrganisationID: c.OrganisationID, UserID: sess.userID, ClientID: c.ID,
			ResourceType: "client", ResourceID: c.ID,
			Metadata: map[string]any{"scopes": dc.scopes, "grantType": GrantDeviceCode}})
	})
	return decided, err
}

// decideDevice moves a pending, unexpired code to its decision; false
// when another decision or the expiry came first.
func (p *Provider) decideDevice(ctx context.Context, tx *sql.Tx, dc *deviceCode,
	sess *sessionInfo, allow bool) (bool, error) {
	now := p.clock()
	status := deviceDenied
	if allow {
		status = deviceApproved
	}
	res, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $2, user_id = $3,
		session_id = $4, auth_time = $5, amr = $6, updated_at = $7
		WHERE id = $1 AND status = 'pending' AND expires_at > $7`, dc.id, status,
		sess.userID, sess.id, sess.authTime, db.MustJSON(sess.amr), now)
	if err != nil {
		return false, fmt.Errorf("decide device code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
