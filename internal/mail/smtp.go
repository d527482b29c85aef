package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	netmail "net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultSMTPTimeout bounds one SMTP session: connecting, TLS, AUTH and the
// transfer.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	Host string // SMTP_HOST
	Port int    // SMTP_PORT; 0 means 587
	User string // SMTP_USER; empty for no SMTP AUTH
	Pass string // SMTP_PASS
	From string // EMAIL_FROM: an address or "Name <address>"
	// Production makes STARTTLS mandatory (see NewSMTPSender).
	Production bool
	// Timeout bounds one session; 0 means DefaultSMTPTimeout.
	Timeout time.Duration
	// RootCAs verifies the server's certificate; nil means the system
	// roots. For a private certificate authority.
	RootCAs *x509.CertPool
}

// smtpSender sends through one SMTP server, one session per message.
type smtpSender struct {
	client *gomail.Client
	from   string
}

// NewSMTPSender returns a Sender for the server of c.
//
// Port 465 speaks TLS from the first byte. Any other port starts in clear
// and upgrades with STARTTLS: in production the upgrade is mandatory and a
// server that does not offer it is refused; otherwise it is used when
// offered. The server certificate is always verified when TLS is used.
// With a user set, SMTP AUTH picks the best mechanism the server offers but
// never one that sends the password in clear over an unencrypted
// connection (PLAIN and LOGIN need TLS), so credentials never travel in
// clear. NewSMTPSender fails when the host is missing or From is not an
// address.
func NewSMTPSender(c SMTPConfig) (Sender, error) {
	if c.Host == "" {
		return nil, errors.New("smtp sender: SMTP_HOST is empty")
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("smtp sender: EMAIL_FROM: %w", err)
	}
	client, err := gomail.NewClient(c.Host, smtpOptions(c)...)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	return &smtpSender{client: client, from: c.From}, nil
}

func smtpOptions(c SMTPConfig) []gomail.Option {
	port, timeout := c.Port, c.Timeout
	if port == 0 {
		port = gomail.DefaultPortTLS
	}
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{
			ServerName: c.Host,
			RootCAs:    c.RootCAs,
			MinVersion: tls.VersionTLS12,
		}),
	}
	switch {
	case port == gomail.DefaultPortSSL:
		opts = append(opts, gomail.WithSSL())
	case c.Production:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if c.User != "" {
		// Discovery offers PLAIN and LOGIN only on an encrypted session.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(c.User), gomail.WithPassword(c.Pass))
	}
	return opts
}

// Send delivers m in its own SMTP session.
func (s *smtpSender) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

// build turns m into a multipart message with a text and an HTML body.
func (s *smtpSender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("smtp: sender address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("smtp: recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
