package oauth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Device authorization settings (RFC 8628).
const (
	deviceLifetime = 10 * time.Minute
	// devicePollInterval is the initial interval, in seconds; each
	// slow_down adds deviceSlowDownStep to it.
	devicePollInterval = 5
	deviceSlowDownStep = 5
	// userCodeAlphabet has no vowels (no words) and no look-alikes.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
	// userCodeAttempts bounds the retries on a user code collision.
	userCodeAttempts = 5
)

// Statuses of a device code.
const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

// DeviceAuthorization is the 200 body of the device authorization
// endpoint (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// newUserCode returns a random user code shown as XXXX-XXXX. Bytes that
// would bias the alphabet are drawn again.
func newUserCode() string {
	const n = len(userCodeAlphabet)
	limit := byte(256 - 256%n)
	out := make([]byte, 0, userCodeLength)
	buf := make([]byte, 1)
	for len(out) < userCodeLength {
		_, _ = rand.Read(buf)
		if buf[0] < limit {
			out = append(out, userCodeAlphabet[int(buf[0])%n])
		}
	}
	return string(out[:4]) + "-" + string(out[4:])
}

// NormalizeUserCode returns the stored form (XXXX-XXXX) of what a user
// typed, ignoring case, hyphens and spaces; ok is false when it cannot be
// a user code.
func NormalizeUserCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	c := b.String()
	if len(c) != userCodeLength {
		return "", false
	}
	return c[:4] + "-" + c[4:], true
}

// DeviceAuthorizationEndpoint serves POST /oauth2/device_authorization
// (RFC 8628 §3.1): an authenticated client holding the device grant gets
// a device code to poll with and a user code to show.
func (p *Provider) DeviceAuthorizationEndpoint(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(r)
	if err != nil {
		return err
	}
	c, err := p.authenticateClient(r.Context(), r, form, "/oauth2/device_authorization",
		false)
	if err != nil {
		return err
	}
	if !c.HasGrant(GrantDeviceCode) {
		return ErrUnauthorizedClient("The client may not use the device authorization grant")
	}
	var a authParams
	if perr := p.checkScopes(form, c, &a); perr != nil {
		return perr
	}
	res, perr := p.resources(form["resource"], c, a.Scopes)
	if perr != nil {
		return perr
	}
	out, err := p.startDevice(r.Context(), c, a.Scopes, orEmpty(res))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// startDevice stores a pending device code. A user code that collides
// with a stored one is drawn again.
func (p *Provider) startDevice(ctx context.Context, c *Client, scopes,
	resources []string) (*DeviceAuthorization, error) {
	device := crypto.NewToken()
	now := p.clock()
	for range userCodeAttempts {
		user := newUserCode()
		_, err := p.db.ExecContext(ctx, `INSERT INTO device_codes (id, device_code_hash,
			user_code, client_id, organisation_id, scopes, resources, status, poll_interval,
			expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
			$10, $11, $11)`, db.NewID(), crypto.HashToken(device), user, c.ID,
			c.OrganisationID, db.MustJSON(scopes), db.MustJSON(resources), devicePending,
			devicePollInterval, now.Add(deviceLifetime), now)
		if p.db.Dialect.IsUniqueViolation(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store device code: %w", err)
		}
		verify := p.cfg.Issuer + "/device"
		return &DeviceAuthorization{DeviceCode: device, UserCode: user,
			VerificationURI:         verify,
			VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(user),
			ExpiresIn:               int(deviceLifetime.Seconds()),
			Interval:                devicePollInterval}, nil
	}
	return nil, errors.New("store device code: no free user code after retries")
}

// deviceCode is a stored device code.
type deviceCode struct {
	id, clientRef, orgID, userCode, status string
	userID, sessionID                      *string
	scopes, resources, amr                 []string
	pollInterval                           int
	authTime, lastPolledAt, consumedAt     *time.Time
	expiresAt                              time.Time
}

// readDeviceCode loads the device code matching where (one condition on
// $1); nil when there is none.
func readDeviceCode(ctx context.Context, q db.Querier, where string, arg any) (*deviceCode,
	error) {
	d := &deviceCode{}
	err := q.QueryRowContext(ctx, `SELECT id, client_id, organisation_id, user_code,
		status, user_id, session_id, scopes, resources, amr, poll_interval, auth_time,
		last_polled_at, consumed_at, expires_at FROM device_codes WHERE `+where, arg).
		Scan(&d.id, &d.clientRef, &d.orgID, &d.userCode, &d.status, &d.userID, &d.sessionID,
			db.JSON(&d.scopes), db.JSON(&d.resources), db.JSON(&d.amr), &d.pollInterval,
			db.NullTime(&d.authTime), db.NullTime(&d.lastPolledAt),
			db.NullTime(&d.consumedAt), db.Time(&d.expiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device code: %w", err)
	}
	return d, nil
}
