package mail

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer(testOrigin + "/")
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

var expires = time.Date(2025, 3, 8, 9, 30, 0, 0, time.UTC)

const expiresText = "Saturday 8 March 2025 at 09:30 UTC"

func TestRenderEveryTemplate(t *testing.T) {
	r := newTestRenderer(t)
	cases := []struct {
		template string
		data     map[string]any
		subject  string
		link     string
		want     []string // in both bodies
	}{
		{TemplateVerifyEmail, map[string]any{"token": "tok-v", "expiresAt": expires},
			"Confirm your email address",
			testOrigin + "/verify-email?token=tok-v", []string{expiresText}},
		{TemplatePasswordReset, map[string]any{"token": "tok-r"},
			"Reset your password",
			testOrigin + "/reset-password?token=tok-r", []string{"one hour"}},
		{TemplatePasswordSetup, map[string]any{"token": "tok-s", "name": "Ada"},
			"Set up your password",
			testOrigin + "/reset-password?token=tok-s", []string{"Hello Ada", "7 days"}},
		{TemplateInvitation, map[string]any{"token": "tok-i", "organisationName": "Acme",
			"inviterName": "Grace Hopper", "expiresAt": expires},
			"You are invited to join Acme",
			testOrigin + "/invite/tok-i", []string{"Grace Hopper has invited you", expiresText}},
		{TemplateWelcome, map[string]any{"organisationName": "Acme"},
			"Welcome to Acme", testOrigin + "/", []string{"Acme"}},
		{TemplateSecurityNotice, map[string]any{"change": ChangePasswordChanged,
			"ip": "192.0.2.10", "time": expires},
			"Your password was changed", "",
			[]string{"password of your account was changed", "192.0.2.10", expiresText}},
	}
	for _, c := range cases {
		t.Run(c.template, func(t *testing.T) {
			m, err := r.Render(c.template, "ada@example.test", c.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.To != "ada@example.test" || m.Subject != c.subject {
				t.Errorf("to, subject = %q, %q; want ada@example.test, %q",
					m.To, m.Subject, c.subject)
			}
			checkBodies(t, m, c.link, c.want)
		})
	}
}

func checkBodies(t *testing.T, m Message, link string, want []string) {
	t.Helper()
	if link != "" {
		want = append(want, link)
		if !strings.Contains(m.HTML, `href="`+link+`"`) {
			t.Errorf("html has no href to %s:\n%s", link, m.HTML)
		}
	}
	for _, w := range want {
		if !strings.Contains(m.Text, w) {
			t.Errorf("text lacks %q:\n%s", w, m.Text)
		}
		if !strings.Contains(m.HTML, w) {
			t.Errorf("html lacks %q:\n%s", w, m.HTML)
		}
	}
}

func TestRenderEscapesUserDataInHTML(t *testing.T) {
	r := newTestRenderer(t)
	m, err := r.Render(TemplateInvitation, "x@example.test", map[string]any{
		"token":            "t",
		"organisationName": "<script>alert(1)</script> & Co\r\nBcc: eve@example.test",
		"inviterName":      `"Eve" <eve@example.test>`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", `"Eve" <eve`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("html holds unescaped %q", bad)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co") {
		t.Errorf("html lacks the escaped organisation name:\n%s", m.HTML)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject spans lines: %q", m.Subject)
	}
	if !strings.Contains(m.Text, "<script>alert(1)</script> & Co") {
		t.Errorf("text body altered the name:\n%s", m.Text)
	}
}

func TestRenderEscapesTokensInLinks(t *testing.T) {
	r := newTestRenderer(t)
	m, err := r.Render(TemplatePasswordReset, "x@example.test",
		map[string]any{"token": "a+b/c=&d"})
	if err != nil {
		t.Fatal(err)
	}
	want := testOrigin + "/reset-password?token=a%2Bb%2Fc%3D%26d"
	if !strings.Contains(m.Text, want) {
		t.Errorf("text lacks %s:\n%s", want, m.Text)
	}
}

func TestRenderReadsDataAfterJSONRoundTrip(t *testing.T) {
	r := newTestRenderer(t)
	raw, _ := json.Marshal(map[string]any{"token": "t", "expiresAt": expires})
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	m, err := r.Render(TemplateVerifyEmail, "x@example.test", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, expiresText) {
		t.Errorf("text lacks the expiry %q:\n%s", expiresText, m.Text)
	}
}

func TestRenderSecurityNoticeWithFreeText(t *testing.T) {
	r := newTestRenderer(t)
	m, err := r.Render(TemplateSecurityNotice, "x@example.test",
		map[string]any{"change": "Your backup codes were regenerated."})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Security notice for your account" ||
		!strings.Contains(m.Text, "backup codes were regenerated") {
		t.Errorf("got subject %q, text:\n%s", m.Subject, m.Text)
	}
	if strings.Contains(m.Text, "When:") || strings.Contains(m.HTML, "<ul>") {
		t.Errorf("notice without time or ip lists them:\n%s\n%s", m.Text, m.HTML)
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	r := newTestRenderer(t)
	if _, err := r.Render("newsletter", "x@example.test", nil); !errors.Is(err,
		ErrUnknownTemplate) {
		t.Errorf("unknown template: got %v, want ErrUnknownTemplate", err)
	}
	if _, err := r.Render(TemplateInvitation, "x@example.test",
		map[string]any{"token": "t"}); err == nil {
		t.Error("invitation without organisation name rendered")
	}
	if _, err := r.Render(TemplateVerifyEmail, "x@example.test",
		map[string]any{"token": "  "}); err == nil {
		t.Error("verification mail with a blank token rendered")
	}
}

func TestNewRendererRefusesBadOrigin(t *testing.T) {
	for _, o := range []string{"", "admin.example.test", "javascript:alert(1)",
		"ftp://admin.example.test"} {
		if _, err := NewRenderer(o); err == nil {
			t.Errorf("NewRenderer(%q) succeeded", o)
		}
	}
}

func TestTemplatesListsEveryTemplate(t *testing.T) {
	got := strings.Join(Templates(), ",")
	want := "invitation,password-reset,password-setup,security-notice," +
		"verify-email,welcome"
	if got != want {
		t.Errorf("Templates() = %s, want %s", got, want)
	}
}
