package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// device is the device side of the device grant: a public client that
// asks for codes and polls the token endpoint.
type device struct {
	t        *testing.T
	o        *oauthEnv
	clientID string
	interval time.Duration
	code     map[string]any
}

// startDevice asks for a device code as a new public device client.
func startDevice(t *testing.T, o *oauthEnv, clientID string) *device {
	t.Helper()
	resp, err := http.PostForm(o.s.URL+"/oauth2/device_authorization",
		url.Values{"client_id": {clientID}, "scope": {"openid profile offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	d := &device{t: t, o: o, clientID: clientID, code: map[string]any{}}
	_ = json.NewDecoder(resp.Body).Decode(&d.code)
	if resp.StatusCode != http.StatusOK || d.code["interval"] != 5.0 ||
		d.code["expires_in"] != 600.0 || !strings.HasPrefix(d.str("verification_uri_complete"),
		o.s.URL+"/device?user_code=") {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, d.code)
	}
	d.interval = 5 * time.Second
	return d
}

func (d *device) str(k string) string { s, _ := d.code[k].(string); return s }

// poll polls once and returns the status and answer.
func (d *device) poll() (int, map[string]any) {
	d.t.Helper()
	return clientFormStatus(d.t, d.o, rpClient{}, "/oauth2/token", url.Values{
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {d.str("device_code")}, "client_id": {d.clientID}})
}

// wantPoll polls once and fails unless the answer is the error code.
func (d *device) wantPoll(code string) {
	d.t.Helper()
	if st, body := d.poll(); st != http.StatusBadRequest || body["error"] != code {
		d.t.Fatalf("poll: %d %v, want %s", st, body, code)
	}
}

// waitTokens polls at the interval, slowing down when told, until the
// tokens come or the attempts run out.
func (d *device) waitTokens() map[string]any {
	d.t.Helper()
	for range 12 {
		time.Sleep(d.interval)
		st, body := d.poll()
		switch {
		case st == http.StatusOK:
			return body
		case body["error"] == "slow_down":
			d.interval += 5 * time.Second
		case body["error"] != "authorization_pending":
			d.t.Fatalf("poll: %d %v", st, body)
		}
	}
	d.t.Fatal("the device never received its tokens")
	return nil
}

// deviceClient creates a public client with the device grant.
func (o *oauthEnv) deviceClient() rpClient {
	o.t.Helper()
	return o.createClient(map[string]any{"clientType": "public",
		"tokenEndpointAuthMethod": "none", "redirectUris": []string{},
		"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code",
			"refresh_token"},
		"scopes": []string{"openid", "profile", "offline_access"}})
}

// newChromium starts headless Chromium and returns its context.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	chrome, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), append(
		chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun)...)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page as name under test-artifacts/.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	dir := artifactsDir(t)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
	})
}

// TestDeviceFlowInChromium plays both sides of the device grant: the
// device polls (too fast once, and is told to slow down) while the user
// signs in and approves the code on the hosted /device page in headless
// Chromium; the device then receives its tokens exactly once.
func TestDeviceFlowInChromium(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	c := o.deviceClient()
	d := startDevice(t, o, c.ClientID)
	d.wantPoll("authorization_pending")
	d.wantPoll("slow_down")
	d.interval += 5 * time.Second

	ctx := newChromium(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(d.str("verification_uri_complete")),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		screenshot(t, "device-01-login.png"),
		chromedp.SendKeys(chromedp.CSS(`#email`), o.email),
		chromedp.SendKeys(chromedp.CSS(`#password`), o.password),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)),
		screenshot(t, "device-02-confirm.png"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#user-code`)))
	if err != nil || strings.TrimSpace(shown) != d.str("user_code") {
		t.Fatalf("page showed %q for %q: %v", shown, d.str("user_code"), err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-done`)),
		screenshot(t, "device-03-done.png"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}

	tok := d.waitTokens()
	if tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("device tokens %v", tok)
	}
	d.wantPoll("invalid_grant")
	if st := bearerGet(t, o, "/oauth2/userinfo", tok["access_token"].(string), nil); st != 200 {
		t.Fatalf("userinfo with the device's token: %d", st)
	}
}

// decideOnPage signs b in from the verification URI and posts decision
// on the /device page, returning the answer's location.
func decideOnPage(t *testing.T, o *oauthEnv, b *pageBrowser, d *device,
	decision string) string {
	t.Helper()
	next := d.str("verification_uri_complete")
	for range 5 {
		resp, page := b.get(next)
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			next = redirectOf(t, o.s, resp)
		case strings.Contains(next, "/auth/login"):
			resp, _ = b.post(o.s.URL+"/auth/login", url.Values{
				"_csrf": {formField(t, csrfField, page)}, "email": {o.email},
				"password":     {o.password},
				"redirect_uri": {queryOf(next).Get("redirect_uri")}})
			next = redirectOf(t, o.s, resp)
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `value="allow"`):
			resp, _ = b.post(o.s.URL+"/device", url.Values{
				"_csrf":     {formField(t, csrfField, page)},
				"user_code": {d.str("user_code")}, "decision": {decision}})
			return redirectOf(t, o.s, resp)
		default:
			t.Fatalf("unexpected page %s (%d):\n%s", next, resp.StatusCode, page)
		}
	}
	t.Fatal("the device page was not reached")
	return ""
}

// TestDeviceFlowDeniedAndExpired covers a denial on the page and a code
// that expired (its expiry moved into the past in the database).
func TestDeviceFlowDeniedAndExpired(t *testing.T) {
	o := newOAuthEnv(t, db.SQLite, nil)
	c := o.deviceClient()
	b := newPageBrowser(t)

	denied := startDevice(t, o, c.ClientID)
	if loc := decideOnPage(t, o, b, denied, "deny"); loc != o.s.URL+"/device?result=denied" {
		t.Fatalf("deny went to %s", loc)
	}
	denied.wantPoll("access_denied")

	late := startDevice(t, o, c.ClientID)
	expireDeviceCode(t, o, late.str("user_code"))
	late.wantPoll("expired_token")
	resp, page := b.get(late.str("verification_uri_complete"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page,
		"Invalid or expired code") {
		t.Fatalf("expired code on the page: %d\n%s", resp.StatusCode, page)
	}
	resp, page = b.get(o.s.URL + "/device?user_code=BBBB-BBBB")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page,
		"Invalid or expired code") {
		t.Fatalf("unknown code on the page: %d", resp.StatusCode)
	}
}

// expireDeviceCode moves the expiry of a device code into the past.
func expireDeviceCode(t *testing.T, o *oauthEnv, userCode string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, o.s.Env["DATABASE_URL"], db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.ExecContext(ctx, `UPDATE device_codes SET expires_at = $1
		WHERE user_code = $2`, time.Now().Add(-time.Second).UTC(), userCode)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("expire device code: %v", err)
	}
}
