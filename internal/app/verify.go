package app

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
)

const verifyUsage = `Usage: cerberus verify --url URL [--client-id ID --client-secret S]
                       [--email E --password P] [--json]

Checks a running instance after a deployment and prints one row per check,
PASS, WARN or FAIL; exits 1 when any check fails.

  --url            the public base URL, equal to the server's ISSUER_URL
  --client-id      with --client-secret: a confidential client allowed the
  --client-secret  client_credentials grant and introspection; a token is
                   issued, verified against the JWKS and introspected
  --email          with --password: a test account that signs in with
  --password       POST /v1/auth/login (and signs out again)
  --json           print the rows as a JSON array

Checks: /health, /health/ready, the discovery issuer equals --url, every
JWKS key is a usable public signing key, the security headers, and the TLS
certificate when the URL is https. Command-line values are visible to other
users of this host: use a dedicated test client and account.
`

var verifyCommand = command{
	summary: "check a running instance: health, discovery, JWKS, headers, TLS",
	usage:   verifyUsage,
	run:     runVerify,
}

// verifyTimeout bounds each request of verify.
const verifyTimeout = 10 * time.Second

// verifyArgs are the parsed flags of verify.
type verifyArgs struct {
	base, clientID, clientSecret, email, password string
	json                                          bool
}

func runVerify(ctx context.Context, e *Env, args []string) int {
	a, code := parseVerifyArgs(e, args)
	if code >= 0 {
		return code
	}
	v := newVerifier(a.base)
	checks := v.run(ctx, a)
	var err error
	if a.json {
		err = writeChecksJSON(e.Stdout, checks)
	} else {
		err = writeChecksTable(e.Stdout, checks)
	}
	if err != nil {
		return ExitFailure
	}
	for _, c := range checks {
		if c.Status == config.Fail {
			fmt.Fprintf(e.Stderr, "cerberus: verify failed: %s: %s\n", c.Name, c.Detail)
			return ExitFailure
		}
	}
	return ExitOK
}

func parseVerifyArgs(e *Env, args []string) (verifyArgs, int) {
	var a verifyArgs
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.StringVar(&a.base, "url", "", "base URL")
	fs.StringVar(&a.clientID, "client-id", "", "client id")
	fs.StringVar(&a.clientSecret, "client-secret", "", "client secret")
	fs.StringVar(&a.email, "email", "", "test account email")
	fs.StringVar(&a.password, "password", "", "test account password")
	fs.BoolVar(&a.json, "json", false, "JSON output")
	if code := parseFlags(fs, e, verifyUsage, args); code >= 0 {
		return a, code
	}
	switch {
	case fs.NArg() > 0:
		return a, usageError(e, verifyUsage, "unexpected argument %q", fs.Arg(0))
	case a.base == "":
		return a, usageError(e, verifyUsage, "verify needs --url")
	case (a.clientID == "") != (a.clientSecret == ""):
		return a, usageError(e, verifyUsage, "--client-id and --client-secret go together")
	case (a.email == "") != (a.password == ""):
		return a, usageError(e, verifyUsage, "--email and --password go together")
	}
	u, err := url.Parse(a.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return a, usageError(e, verifyUsage, "--url must be an absolute http(s) URL")
	}
	a.base = strings.TrimSuffix(a.base, "/")
	return a, -1
}

// verifier runs the checks against one base URL.
type verifier struct {
	base   string
	client *http.Client
	now    func() time.Time
	// discovery is the parsed discovery document, once fetched.
	discovery map[string]any
	// keys is the parsed JWKS, once fetched.
	keys *jwks
	// roots verifies server certificates; nil means the system roots.
	roots *x509.CertPool
}

func newVerifier(base string) *verifier {
	return &verifier{base: base, now: time.Now, client: &http.Client{
		Timeout: verifyTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// run performs every check in order; the optional ones only when their
// flags were given.
func (v *verifier) run(ctx context.Context, a verifyArgs) []config.Check {
	health, resp := v.health(ctx)
	checks := []config.Check{health, v.readiness(ctx), securityHeaders(resp, v.base)}
	checks = append(checks, v.tlsCertificate(ctx), v.discoveryIssuer(ctx), v.jwks(ctx))
	if a.clientID != "" {
		checks = append(checks, v.clientCredentials(ctx, a.clientID, a.clientSecret)...)
	}
	if a.email != "" {
		checks = append(checks, v.login(ctx, a.email, a.password))
	}
	return checks
}

// fetched is an HTTP answer read whole.
type fetched struct {
	resp *http.Response
	body []byte
}

// do sends req and reads the whole answer (at most 1 MiB).
func (v *verifier) do(req *http.Request) (*fetched, error) {
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", req.URL.Path, err)
	}
	return &fetched{resp: resp, body: body}, nil
}

func (v *verifier) get(ctx context.Context, target string) (*fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	return v.do(req)
}

// getJSON GETs target and decodes a 200 JSON answer into dst.
func (v *verifier) getJSON(ctx context.Context, target string, dst any) error {
	f, err := v.get(ctx, target)
	if err != nil {
		return err
	}
	if f.resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d", target, f.resp.StatusCode)
	}
	if err := json.Unmarshal(f.body, dst); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", target, err)
	}
	return nil
}

func pass(name, detail string) config.Check {
	return config.Check{Name: name, Status: config.Pass, Detail: detail}
}

func fail(name, detail, fix string) config.Check {
	return config.Check{Name: name, Status: config.Fail, Detail: detail, Fix: fix}
}
