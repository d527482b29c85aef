package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
)

// TestVerifyTLSCertificate checks the certificate row against a TLS
// server: trusted and far from expiry passes, close to expiry warns, an
// untrusted certificate fails, plain http warns.
func TestVerifyTLSCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	ctx := context.Background()

	v := newVerifier(srv.URL)
	v.roots = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	if c := v.tlsCertificate(ctx); c.Status != config.Pass ||
		!strings.Contains(c.Detail, "valid until") {
		t.Errorf("trusted certificate: %s %q", c.Status, c.Detail)
	}
	leaf := srv.Certificate()
	v.now = func() time.Time { return leaf.NotAfter.Add(-24 * time.Hour) }
	if c := v.tlsCertificate(ctx); c.Status != config.Warn || c.Fix == "" {
		t.Errorf("certificate expiring tomorrow: %s %q", c.Status, c.Detail)
	}

	if c := newVerifier(srv.URL).tlsCertificate(ctx); c.Status != config.Fail ||
		!strings.Contains(c.Detail, "certificate") {
		t.Errorf("untrusted certificate: %s %q", c.Status, c.Detail)
	}
	if c := newVerifier("http://127.0.0.1:1").tlsCertificate(ctx); c.Status != config.Warn {
		t.Errorf("plain http: %s %q", c.Status, c.Detail)
	}
}

// TestVerifySecurityHeaders checks the header row on answers with and
// without the hardening headers, over http and https.
func TestVerifySecurityHeaders(t *testing.T) {
	good := http.Header{}
	for _, h := range expectedHeaders {
		good.Set(h[0], h[1])
	}
	if c := securityHeaders(&http.Response{Header: good}, "http://x"); c.Status != config.Pass {
		t.Errorf("complete headers: %s %q", c.Status, c.Detail)
	}
	c := securityHeaders(&http.Response{Header: good}, "https://x")
	if c.Status != config.Fail || !strings.Contains(c.Detail, "Strict-Transport-Security") {
		t.Errorf("https without HSTS: %s %q", c.Status, c.Detail)
	}
	leaky := good.Clone()
	leaky.Set("Server", "nginx/1.22.1")
	leaky.Del("X-Frame-Options")
	c = securityHeaders(&http.Response{Header: leaky}, "http://x")
	if c.Status != config.Fail || !strings.Contains(c.Detail, "X-Frame-Options") ||
		!strings.Contains(c.Detail, "Server") {
		t.Errorf("leaky headers: %s %q", c.Status, c.Detail)
	}
}
