package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
)

// smtpProbe connects to the configured mail server and checks that the
// connection can be encrypted with a certificate this host trusts:
// implicit TLS on port 465, STARTTLS elsewhere, as the mail sender does.
type smtpProbe struct {
	timeout time.Duration
	// roots verifies the server certificate; nil means the system roots.
	roots *x509.CertPool
}

// certExpiryWarning is how close to expiry a certificate starts to warn.
const certExpiryWarning = 14 * 24 * time.Hour

func (p smtpProbe) check(ctx context.Context, cfg *config.Config, now time.Time) config.Check {
	if cfg.SMTPHost == "" {
		return config.Check{Name: rowSMTPTLS, Status: config.Warn,
			Detail: "not checked: SMTP_HOST is not set (see the Mail row)",
			Fix:    "set SMTP_HOST and SMTP_PORT"}
	}
	addr := net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort))
	state, mode, err := p.handshake(ctx, cfg.SMTPHost, addr, cfg.SMTPPort == 465)
	if err != nil {
		return config.Check{Name: rowSMTPTLS, Status: config.Fail,
			Detail: addr + ": " + err.Error(),
			Fix: "check SMTP_HOST and SMTP_PORT, that this host may reach the " +
				"server, and that it offers TLS (465) or STARTTLS (587) with a valid " +
				"certificate"}
	}
	return judgeCertificate(addr, mode, state, now)
}

// handshake connects to addr and completes a TLS handshake, directly
// (implicit) or after STARTTLS, and returns the connection state.
func (p smtpProbe) handshake(ctx context.Context, host, addr string,
	implicit bool) (tls.ConnectionState, string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cfg := &tls.Config{ServerName: host, RootCAs: p.roots, MinVersion: tls.VersionTLS12}
	if implicit {
		d := &tls.Dialer{Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return tls.ConnectionState{}, "", fmt.Errorf("TLS connection failed: %w", err)
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState(), "implicit TLS", nil
	}
	state, err := startTLS(ctx, host, addr, cfg)
	return state, "STARTTLS", err
}

// startTLS greets the server, requires the STARTTLS extension and
// upgrades the connection.
func startTLS(ctx context.Context, host, addr string,
	cfg *tls.Config) (tls.ConnectionState, error) {
	var none tls.ConnectionState
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return none, fmt.Errorf("connection failed: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return none, fmt.Errorf("no SMTP greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return none, fmt.Errorf("EHLO refused: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return none, fmt.Errorf("the server does not offer STARTTLS: " +
			"mail would travel unencrypted")
	}
	if err := c.StartTLS(cfg); err != nil {
		return none, fmt.Errorf("STARTTLS failed: %w", err)
	}
	state, _ := c.TLSConnectionState()
	_ = c.Quit()
	return state, nil
}

// judgeCertificate passes a verified certificate and warns when it
// expires within two weeks.
func judgeCertificate(addr, mode string, st tls.ConnectionState, now time.Time) config.Check {
	ck := config.Check{Name: rowSMTPTLS, Status: config.Pass}
	detail := addr + " " + mode + ", " + tls.VersionName(st.Version)
	if len(st.PeerCertificates) == 0 {
		ck.Detail = detail
		return ck
	}
	until := st.PeerCertificates[0].NotAfter
	ck.Detail = detail + ", certificate valid until " + until.UTC().Format(time.DateOnly)
	if until.Sub(now) < certExpiryWarning {
		ck.Status, ck.Fix = config.Warn, "renew the mail server's certificate"
	}
	return ck
}
