package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
)

// health checks GET /health and returns its response for the header check.
func (v *verifier) health(ctx context.Context) (config.Check, *http.Response) {
	const name = "Health"
	f, err := v.get(ctx, v.base+"/health")
	if err != nil {
		return fail(name, "GET /health: "+err.Error(),
			"check that the server runs and --url reaches it"), nil
	}
	var body struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(f.body, &body)
	if f.resp.StatusCode != http.StatusOK || body.Status != "ok" {
		return fail(name, fmt.Sprintf("GET /health answered %d %q", f.resp.StatusCode,
			body.Status), "check the server's log; 503 means it is shutting down"), f.resp
	}
	return pass(name, "GET /health 200 ok"), f.resp
}

// readiness checks GET /health/ready and names the failing checks.
func (v *verifier) readiness(ctx context.Context) config.Check {
	const name = "Readiness"
	f, err := v.get(ctx, v.base+"/health/ready")
	if err != nil {
		return fail(name, "GET /health/ready: "+err.Error(), "check that the server runs")
	}
	var body struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	_ = json.Unmarshal(f.body, &body)
	if f.resp.StatusCode == http.StatusOK && body.Status == "ok" {
		return pass(name, fmt.Sprintf("GET /health/ready 200, %d checks ok", len(body.Checks)))
	}
	var bad []string
	for k, c := range body.Checks {
		if c.Status != "ok" {
			bad = append(bad, k+": "+c.Error)
		}
	}
	return fail(name, fmt.Sprintf("GET /health/ready answered %d: %s", f.resp.StatusCode,
		strings.Join(bad, "; ")), "see docs/runbooks/database-connections.md; "+
		"run `cerberus preflight` on the server")
}

// expectedHeaders are the headers every response carries.
var expectedHeaders = [][2]string{
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
	{"X-XSS-Protection", "0"},
	{"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; " +
		"base-uri 'none'; object-src 'none'"},
}

// hsts is the Strict-Transport-Security value of production.
const hsts = "max-age=15552000; includeSubDomains"

// securityHeaders checks the hardening headers of a response; over https
// HSTS is required too, and no Server or X-Powered-By header may leak.
func securityHeaders(resp *http.Response, base string) config.Check {
	const name = "Security headers"
	if resp == nil {
		return fail(name, "not checked: /health did not answer", "fix the Health row")
	}
	want := expectedHeaders
	if strings.HasPrefix(base, "https://") {
		want = append(want, [2]string{"Strict-Transport-Security", hsts})
	}
	var wrong []string
	for _, h := range want {
		if got := resp.Header.Get(h[0]); got != h[1] {
			wrong = append(wrong, fmt.Sprintf("%s is %q, want %q", h[0], got, h[1]))
		}
	}
	if got := resp.Header.Get("X-Powered-By"); got != "" {
		wrong = append(wrong, fmt.Sprintf("X-Powered-By %q is present", got))
	}
	// Cerberus sends no Server header; a proxy may name itself, but not
	// its version.
	if got := resp.Header.Get("Server"); strings.Contains(got, "/") {
		wrong = append(wrong, fmt.Sprintf("Server %q discloses a version", got))
	}
	if len(wrong) > 0 {
		return fail(name, strings.Join(wrong, "; "), "let the server's headers through "+
			"the proxy unchanged and hide its version (nginx: server_tokens off)")
	}
	return pass(name, fmt.Sprintf("%d headers as expected", len(want)))
}

// tlsCertificate verifies the server certificate of an https URL and
// warns when it expires within two weeks.
func (v *verifier) tlsCertificate(ctx context.Context) config.Check {
	const name = "TLS certificate"
	u, _ := url.Parse(v.base)
	if u.Scheme != "https" {
		return config.Check{Name: name, Status: config.Warn,
			Detail: "not checked: " + v.base + " is plain http",
			Fix:    "serve Cerberus over https in production (ISSUER_URL=https://…)"}
	}
	host := u.Hostname()
	addr := net.JoinHostPort(host, portOr(u, "443"))
	d := &tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: v.roots,
		MinVersion: tls.VersionTLS12}}
	dctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fail(name, addr+": "+err.Error(), "install a certificate valid for "+host+
			" from a trusted authority (cert-manager issues one for the Ingress)")
	}
	defer conn.Close()
	return judgeServerCertificate(name, conn.(*tls.Conn).ConnectionState(), v.now())
}

func portOr(u *url.URL, def string) string {
	if p := u.Port(); p != "" {
		return p
	}
	return def
}

func judgeServerCertificate(name string, st tls.ConnectionState, now time.Time) config.Check {
	leaf := st.PeerCertificates[0]
	left := leaf.NotAfter.Sub(now)
	detail := fmt.Sprintf("%s, valid until %s (%d days), issued by %s",
		tls.VersionName(st.Version), leaf.NotAfter.UTC().Format(time.DateOnly),
		int(left.Hours()/24), leaf.Issuer.CommonName)
	if left < certExpiryWarning {
		return config.Check{Name: name, Status: config.Warn, Detail: detail,
			Fix: "renew the certificate now (check cert-manager's Certificate status)"}
	}
	return pass(name, detail)
}

// discoveryIssuer checks that the discovery document names --url as its
// issuer.
func (v *verifier) discoveryIssuer(ctx context.Context) config.Check {
	const name = "Discovery issuer"
	var doc map[string]any
	err := v.getJSON(ctx, v.base+"/.well-known/openid-configuration", &doc)
	if err != nil {
		return fail(name, err.Error(), "check that --url is the server's ISSUER_URL")
	}
	v.discovery = doc
	issuer, _ := doc["issuer"].(string)
	if issuer != v.base {
		return fail(name, fmt.Sprintf("discovery issuer %s does not match --url %s",
			issuer, v.base), "set ISSUER_URL to the public URL clients use, or pass "+
			"that URL as --url")
	}
	return pass(name, "issuer "+issuer)
}

// endpoint returns a discovery endpoint, or the default path under base.
func (v *verifier) endpoint(key, path string) string {
	if s, ok := v.discovery[key].(string); ok && s != "" {
		return s
	}
	return v.base + path
}
