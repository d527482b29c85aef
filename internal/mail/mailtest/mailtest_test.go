package mailtest

import (
	"encoding/base64"
	"net/smtp"
	"strings"
	"testing"
)

const rawInvitation = "From: Cerberus <no-reply@example.test>\r\n" +
	"To: ada@example.test\r\n" +
	"Subject: =?UTF-8?q?Invitation_=C3=A0_Acme?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Join us: https://admin.example.test/invite/tok-123.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+Sm9pbiB1czwvcD4=\r\n" +
	"--b1--\r\n"

func TestServerRefusesThenAccepts(t *testing.T) {
	s := Start(t)
	s.Refuse(true)
	err := smtp.SendMail(s.Addr(), nil, "no-reply@example.test",
		[]string{"ada@example.test"}, []byte(rawInvitation))
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("refusing server answered %v, want 451", err)
	}
	s.Refuse(false)
	err = smtp.SendMail(s.Addr(), nil, "no-reply@example.test",
		[]string{"ada@example.test"}, []byte(rawInvitation))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := s.Wait(t, 1)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := s.Last(t, "ada@example.test")
	if m.Subject != "Invitation à Acme" || m.HTML != "<p>Join us</p>" {
		t.Errorf("subject %q, html %q", m.Subject, m.HTML)
	}
	if got := m.Link("https://admin.example.test/invite/"); got !=
		"https://admin.example.test/invite/tok-123" {
		t.Errorf("Link = %q", got)
	}
	if m.Token() != "tok-123" {
		t.Errorf("Token = %q, want tok-123", m.Token())
	}
}

func TestParseSinglePartQueryToken(t *testing.T) {
	body := base64.StdEncoding.EncodeToString([]byte(
		"Reset: https://a.example.test/reset-password?token=x%2By\n"))
	raw := "Subject: Reset\r\nContent-Type: text/plain\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + body[:10] + "\r\n" +
		body[10:] + "\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Token() != "x+y" {
		t.Errorf("Token = %q, want x+y (text %q)", m.Token(), m.Text)
	}
	if _, err := Parse([]byte("Subject: empty\r\nContent-Type: image/png\r\n\r\nxx")); err == nil {
		t.Error("message without a text body parsed")
	}
}
