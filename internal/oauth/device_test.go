package oauth

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// deviceClient creates a public client holding the device and refresh
// grants.
func (e *env) deviceClient(t *testing.T, mod func(*ClientCreate)) *Client {
	t.Helper()
	c, _ := e.confidential(t, func(in *ClientCreate) {
		in.ClientType = ptr(ClientPublic)
		in.GrantTypes = ptr([]string{GrantDeviceCode, GrantRefreshToken})
		in.RedirectURIs = nil
		if mod != nil {
			mod(in)
		}
	})
	return c
}

// startDevice asks for a device code as c and returns the answer.
func (e *env) startDevice(t *testing.T, c *Client, scope string) map[string]any {
	t.Helper()
	st, body := e.post(t, e.p.DeviceAuthorizationEndpoint, c, "",
		url.Values{"scope": {scope}})
	if st != http.StatusOK {
		t.Fatalf("device authorization: %d %v", st, body)
	}
	return body
}

// pollDevice polls the token endpoint with a device code.
func (e *env) pollDevice(t *testing.T, c *Client, deviceCode string) (int,
	map[string]any) {
	t.Helper()
	return e.token(t, c, "", url.Values{"grant_type": {GrantDeviceCode},
		"device_code": {deviceCode}})
}

func (e *env) wantPoll(t *testing.T, c *Client, deviceCode, code string) {
	t.Helper()
	if st, body := e.pollDevice(t, c, deviceCode); st != 400 || body["error"] != code {
		t.Fatalf("poll: %d %v, want %s", st, body, code)
	}
}

func (e *env) auditCount(t *testing.T, typ string) int {
	t.Helper()
	var n int
	err := e.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_logs
		WHERE event_type = $1`, typ).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var shownUserCode = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceFlowApproved(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		c := e.deviceClient(t, nil)
		start := e.startDevice(t, c, "openid profile offline_access")
		userCode := start["user_code"].(string)
		dc := start["device_code"].(string)
		if !shownUserCode.MatchString(userCode) || start["expires_in"] != 600.0 ||
			start["interval"] != 5.0 ||
			start["verification_uri"] != testIssuer+"/device" ||
			start["verification_uri_complete"] != testIssuer+"/device?user_code="+userCode {
			t.Fatalf("device authorization answer %v", start)
		}

		e.wantPoll(t, c, dc, CodeAuthorizationPending)
		e.wantPoll(t, c, dc, CodeSlowDown)
		var interval int
		_ = d.QueryRowContext(ctx, `SELECT poll_interval FROM device_codes`).Scan(&interval)
		if interval != 10 {
			t.Fatalf("interval after slow_down %d, want 10", interval)
		}
		e.clk.advance(6 * time.Second)
		e.wantPoll(t, c, dc, CodeSlowDown) // 6 s < 10 s: slower still
		e.clk.advance(16 * time.Second)
		e.wantPoll(t, c, dc, CodeAuthorizationPending)

		// Another organisation's user sees nothing.
		other := e.addOrg(t, "other")
		stranger := e.sessionPrincipal(t, e.addUser(t, other, "x@other.test", "owner"), other)
		if v, err := e.p.DevicePage(ctx, userCode, stranger); err != nil || v != nil {
			t.Fatalf("other organisation sees the code: %v %v", v, err)
		}
		if ok, err := e.p.DecideDevice(ctx, userCode, stranger, true); err != nil || ok {
			t.Fatalf("other organisation decided: %v %v", ok, err)
		}

		s := e.sessionPrincipal(t, e.user, e.org)
		typed := strings.ToLower(strings.ReplaceAll(userCode, "-", ""))
		v, err := e.p.DevicePage(ctx, typed, s)
		if err != nil || v == nil || v.ClientName != c.Name || len(v.Scopes) != 3 ||
			v.UserCode != userCode {
			t.Fatalf("device page for %q: %+v %v", typed, v, err)
		}
		if ok, err := e.p.DecideDevice(ctx, typed, s, true); err != nil || !ok {
			t.Fatalf("approve: %v %v", ok, err)
		}
		if e.auditCount(t, "oauth2.authorize") != 1 ||
			e.auditCount(t, "oauth2.consent.granted") != 1 {
			t.Fatal("approval did not record oauth2.authorize and oauth2.consent.granted")
		}
		if v, _ := e.p.DevicePage(ctx, userCode, s); v != nil {
			t.Fatal("a decided code is still shown")
		}

		st, body := e.pollDevice(t, c, dc)
		if st != 200 || body["refresh_token"] == nil || body["id_token"] == nil {
			t.Fatalf("exchange: %d %v", st, body)
		}
		e.wantPoll(t, c, dc, CodeInvalidGrant)
		st, body = e.token(t, c, "", url.Values{"grant_type": {GrantRefreshToken},
			"refresh_token": {body["refresh_token"].(string)}})
		if st != 200 {
			t.Fatalf("refresh of a device family: %d %v", st, body)
		}
	})
}

func TestDeviceFlowDeniedAndExpired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		c := e.deviceClient(t, nil)
		s := e.sessionPrincipal(t, e.user, e.org)

		denied := e.startDevice(t, c, "openid")
		ok, err := e.p.DecideDevice(ctx, denied["user_code"].(string), s, false)
		if err != nil || !ok {
			t.Fatalf("deny: %v %v", ok, err)
		}
		e.wantPoll(t, c, denied["device_code"].(string), CodeAccessDenied)

		late := e.startDevice(t, c, "openid")
		e.clk.advance(deviceLifetime)
		e.wantPoll(t, c, late["device_code"].(string), CodeExpiredToken)
		if v, _ := e.p.DevicePage(ctx, late["user_code"].(string), s); v != nil {
			t.Fatal("an expired code is shown")
		}
		if ok, _ := e.p.DecideDevice(ctx, late["user_code"].(string), s, true); ok {
			t.Fatal("an expired code was approved")
		}
		if e.auditCount(t, "oauth2.authorize") != 0 {
			t.Fatal("a denial recorded oauth2.authorize")
		}
	})
}

func TestDeviceExchangeHasOneWinner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c := e.deviceClient(t, func(in *ClientCreate) { in.IsFirstParty = ptr(true) })
		start := e.startDevice(t, c, "openid")
		s := e.sessionPrincipal(t, e.user, e.org)
		ok, err := e.p.DecideDevice(context.Background(), start["user_code"].(string), s, true)
		if err != nil || !ok {
			t.Fatalf("approve: %v %v", ok, err)
		}
		if e.auditCount(t, "oauth2.consent.granted") != 0 {
			t.Fatal("a first-party approval stored a consent")
		}
		// More exchanges than pooled connections, with a stale key cache,
		// so the winner reloads the signing keys inside its transaction
		// while the others wait on its row lock.
		const n = 6
		e.p.Keys.invalidate()
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for range n {
			wg.Go(func() {
				st, _ := e.pollDevice(t, c, start["device_code"].(string))
				statuses <- st
			})
		}
		wg.Wait()
		close(statuses)
		wins := 0
		for st := range statuses {
			if st == 200 {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d exchanges won, want 1", wins)
		}
	})
}

func TestDeviceAuthorizationRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		plain, secret := e.confidential(t, nil)
		st, body := e.post(t, e.p.DeviceAuthorizationEndpoint, plain, secret, url.Values{})
		if st != 400 || body["error"] != CodeUnauthorizedClient {
			t.Fatalf("client without the device grant: %d %v", st, body)
		}
		c := e.deviceClient(t, nil)
		st, body = e.post(t, e.p.DeviceAuthorizationEndpoint, c, "",
			url.Values{"scope": {"orders.write"}})
		if st != 400 || body["error"] != CodeInvalidScope {
			t.Fatalf("scope outside the client's: %d %v", st, body)
		}
		// Another client cannot poll with this client's code.
		start := e.startDevice(t, c, "openid")
		other := e.deviceClient(t, nil)
		e.wantPoll(t, other, start["device_code"].(string), CodeInvalidGrant)
		e.wantPoll(t, c, "not-a-code", CodeInvalidGrant)
		var none *access.Principal
		if v, err := e.p.DevicePage(context.Background(), start["user_code"].(string),
			none); err != nil || v != nil {
			t.Fatalf("page without a session: %v %v", v, err)
		}
	})
}

func TestNormalizeUserCode(t *testing.T) {
	cases := map[string]string{"BCDF-GHJK": "BCDF-GHJK", "bcdfghjk": "BCDF-GHJK",
		" bcdf - ghjk ": "BCDF-GHJK", "BCDF-GHJ": "", "BCDF-GHJA": "", "BCDF-GHJKL": ""}
	for in, want := range cases {
		got, ok := NormalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for range 200 {
		if c := newUserCode(); !shownUserCode.MatchString(c) {
			t.Fatalf("user code %q", c)
		}
	}
}
