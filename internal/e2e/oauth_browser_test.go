package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// enableMFA turns on TOTP for the owner through /v1/me/mfa and returns
// the secret.
func (o *oauthEnv) enableMFA() string {
	o.t.Helper()
	resp, body := o.call(http.MethodPost, "/v1/me/mfa/enable", nil)
	if resp.StatusCode != http.StatusOK {
		o.t.Fatalf("mfa enable: %d %v", resp.StatusCode, body)
	}
	secret := body["secret"].(string)
	resp, body = o.call(http.MethodPost, "/v1/me/mfa/verify",
		map[string]any{"token": oauthTOTP(o.t, secret, time.Now())})
	if resp.StatusCode != http.StatusOK {
		o.t.Fatalf("mfa verify: %d %v", resp.StatusCode, body)
	}
	if csrf := resp.Header.Get("X-CSRF-Token"); csrf != "" {
		o.csrf = csrf
	}
	return secret
}

func oauthTOTP(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// artifactDir is test-artifacts/ at the repository root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for dir != "/" {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	out := filepath.Join(dir, "test-artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostedPagesInChromium signs a user with TOTP in through the hosted
// pages in headless Chromium: credentials, the code, consent, and the
// client's redirect URI with a code. Each page is saved as a screenshot
// under test-artifacts/.
func TestHostedPagesInChromium(t *testing.T) {
	chrome, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`<!doctype html><title>Client</title>` +
			`<p id="client-done">Signed in</p>`))
	}))
	defer rp.Close()
	o := newOAuthEnv(t, db.Postgres, nil)
	secret := o.enableMFA()
	c := o.createClient(map[string]any{"redirectUris": []string{rp.URL + "/cb"}})
	conf := oauth2.Config{ClientID: c.ClientID, RedirectURL: rp.URL + "/cb",
		Endpoint: oauth2.Endpoint{AuthURL: o.s.URL + "/oauth2/authorize"},
		Scopes:   []string{"openid", "profile", "email"}}
	authURL := conf.AuthCodeURL("browser-state",
		oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	ctx, cancel := chromedp.NewExecAllocator(context.Background(), append(
		chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun)...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	dir := artifactsDir(t)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
		})
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		shot("oauth-01-login.png"),
		chromedp.SendKeys(chromedp.CSS(`#email`), o.email),
		chromedp.SendKeys(chromedp.CSS(`#password`), o.password),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		shot("oauth-02-mfa.png"),
		// The next time step: the enrollment consumed the current one.
		chromedp.SendKeys(chromedp.CSS(`#code`),
			oauthTOTP(t, secret, time.Now().Add(30*time.Second))),
		chromedp.Submit(chromedp.CSS(`#code`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)),
		shot("oauth-03-consent.png"),
		chromedp.Click(chromedp.CSS(`button[value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-done`)),
		shot("oauth-04-client.png"),
	)
	if err != nil {
		t.Fatalf("browser flow: %v", err)
	}
	final, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(final)
	if err != nil || !strings.HasPrefix(final, rp.URL+"/cb") || u.Query().Get("code") == "" ||
		u.Query().Get("state") != "browser-state" || u.Query().Get("iss") != o.s.URL {
		t.Fatalf("browser ended at %q", final)
	}
}

// findChromium returns the Chromium binary of the machine.
func chromiumPath() (string, error) {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser",
		"/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}
