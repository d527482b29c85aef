package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cerberus-iam/cerberus/internal/e2e"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

// accountBrowser is an HTTP client with a cookie jar that sends back the CSRF
// token the server last gave it, as a front end would.
type accountBrowser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newAccountBrowser(t *testing.T, base string) *accountBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &accountBrowser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// answer is a decoded answer.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *answer) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// call sends a JSON request (body nil for none) with the CSRF token.
func (b *accountBrowser) call(method, path string, body any) *answer {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := &answer{status: resp.StatusCode, header: resp.Header}
	r.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(r.raw, &r.body)
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		b.csrf = tok
	}
	return r
}

// want fails unless the answer has status and, if given, detail.
func (r *answer) want(t *testing.T, status int, detail string) *answer {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if detail != "" && r.str("detail") != detail {
		t.Fatalf("detail %q, want %q: %s", r.str("detail"), detail, r.raw)
	}
	return r
}

// login signs the browser in, with an optional second factor.
func (b *accountBrowser) login(email, password, code string) *answer {
	b.t.Helper()
	body := map[string]any{"email": email, "password": password}
	if code != "" {
		body["mfaToken"] = code
	}
	return b.call("POST", "/v1/auth/login", body)
}

// codeAt returns the TOTP code of secret at now plus offset.
func codeAt(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// startWithMail runs the server with its mail going to a test SMTP server
// and the cheapest password hashing the configuration allows.
func startWithMail(t *testing.T, extra map[string]string) (*e2e.Server, *mailtest.Server) {
	t.Helper()
	smtp := mailtest.Start(t)
	env := map[string]string{
		"SMTP_HOST": smtp.Host(), "SMTP_PORT": strconv.Itoa(smtp.Port()),
		"EMAIL_FROM":               "Cerberus <no-answer@example.test>",
		"ADMIN_WEB_ORIGIN":         "https://admin.example.test",
		"PASSWORD_HASH_MEMORY_KIB": "19456", "PASSWORD_HASH_ITERATIONS": "1",
		"PASSWORD_HASH_PARALLELISM": "1",
	}
	for k, v := range extra {
		env[k] = v
	}
	return e2e.Start(t, e2e.Options{Env: env}), smtp
}
