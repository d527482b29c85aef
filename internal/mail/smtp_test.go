package mail

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

var testMessage = Message{
	To:      "ada@example.test",
	Subject: "Réinitialiser: your password",
	Text:    "Open https://admin.example.test/reset-password?token=abc\n",
	HTML:    `<p><a href="https://admin.example.test/reset-password?token=abc">Go</a></p>`,
}

func send(t *testing.T, c SMTPConfig) error {
	t.Helper()
	if c.From == "" {
		c.From = "Cerberus IAM <no-reply@example.test>"
	}
	s, err := NewSMTPSender(c)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s.Send(context.Background(), testMessage)
}

func TestSMTPSenderDeliversTextAndHTML(t *testing.T) {
	srv := mailtest.Start(t)
	if err := send(t, SMTPConfig{Host: srv.Host(), Port: srv.Port()}); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.Last(t, "ada@example.test")
	if m.From != "no-reply@example.test" || m.Subject != testMessage.Subject {
		t.Errorf("from, subject = %q, %q", m.From, m.Subject)
	}
	if got := m.Header.Get("From"); !strings.Contains(got, "Cerberus IAM") {
		t.Errorf("From header = %q, want the EMAIL_FROM name", got)
	}
	if m.Text != testMessage.Text || m.HTML != testMessage.HTML {
		t.Errorf("bodies = %q / %q", m.Text, m.HTML)
	}
	if m.Token() != "abc" || m.TLS {
		t.Errorf("token %q, tls %v; want abc over a plain session", m.Token(), m.TLS)
	}
}

func TestSMTPSenderInProductionRequiresSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t)
	err := send(t, SMTPConfig{Host: srv.Host(), Port: srv.Port(), Production: true})
	if err == nil {
		t.Fatal("production sender used a server without STARTTLS")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSMTPSenderAuthenticatesOverSTARTTLS(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{STARTTLS: true,
		User: "mailer", Password: "pa55word"})
	err := send(t, SMTPConfig{Host: srv.Host(), Port: srv.Port(), Production: true,
		User: "mailer", Pass: "pa55word", RootCAs: srv.RootCAs()})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.Last(t, "ada@example.test")
	if !m.TLS || m.User != "mailer" {
		t.Errorf("tls %v, user %q; want an authenticated TLS session", m.TLS, m.User)
	}
}

func TestSMTPSenderVerifiesTheCertificate(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{STARTTLS: true})
	err := send(t, SMTPConfig{Host: srv.Host(), Port: srv.Port(), Production: true})
	if err == nil {
		t.Fatal("sender trusted an unknown certificate")
	}
}

func TestSMTPSenderNeverSendsThePasswordInClear(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{AllowInsecureAuth: true,
		User: "mailer", Password: "pa55word"})
	err := send(t, SMTPConfig{Host: srv.Host(), Port: srv.Port(),
		User: "mailer", Pass: "pa55word"})
	if err == nil {
		t.Fatal("sender authenticated with PLAIN over a clear session")
	}
	if strings.Contains(err.Error(), "pa55word") {
		t.Errorf("error repeats the password: %v", err)
	}
	if n := srv.AuthAttempts(); n != 0 {
		t.Errorf("server saw %d AUTH attempts, want none", n)
	}
}

func TestSMTPSenderUsesImplicitTLSOnPort465(t *testing.T) {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	addr := net.JoinHostPort(fmt.Sprintf("127.%d.%d.1", b[0]%250+1, b[1]), "465")
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Skipf("cannot listen on %s (port 465 needs privileges): %v", addr, err)
	} else {
		_ = ln.Close()
	}
	srv := mailtest.StartWith(t, mailtest.Options{Addr: addr, ImplicitTLS: true})
	err := send(t, SMTPConfig{Host: srv.Host(), Port: 465, Production: true,
		RootCAs: srv.RootCAs()})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if m := srv.Last(t, "ada@example.test"); !m.TLS {
		t.Error("message did not travel over TLS")
	}
}

func TestNewSMTPSenderChecksTheConfiguration(t *testing.T) {
	bad := []SMTPConfig{
		{Host: "", From: "no-reply@example.test"},
		{Host: "smtp.example.test", From: "not an address"},
	}
	for _, c := range bad {
		if _, err := NewSMTPSender(c); err == nil {
			t.Errorf("NewSMTPSender(%+v) succeeded", c)
		}
	}
}

func TestLogSenderLogsMailNotSent(t *testing.T) {
	logs := &logBuffer{}
	s := NewLogSender(slog.New(slog.NewTextHandler(logs, nil)))
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"level=INFO", "mail not sent", "ada@example.test",
		"reset-password?token=abc"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
