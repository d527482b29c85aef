package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFS embed.FS

// Renderer turns a template name and its data into a Message. Each
// template has a text file defining "subject" and "text" and an HTML file
// defining "content", which the shared layout wraps. Links point at the
// admin web application.
type Renderer struct {
	origin string
	text   map[string]*texttemplate.Template
	html   map[string]*htmltemplate.Template
}

// NewRenderer parses the embedded templates. adminOrigin is
// ADMIN_WEB_ORIGIN, the base of every link; it must be an absolute http or
// https origin.
func NewRenderer(adminOrigin string) (*Renderer, error) {
	origin, err := checkOrigin(adminOrigin)
	if err != nil {
		return nil, err
	}
	r := &Renderer{
		origin: origin,
		text:   map[string]*texttemplate.Template{},
		html:   map[string]*htmltemplate.Template{},
	}
	for _, name := range Templates() {
		if err := r.parse(name); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func checkOrigin(origin string) (string, error) {
	origin = strings.TrimRight(origin, "/")
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("mail links: %q is not an http(s) origin", origin)
	}
	return origin, nil
}

func (r *Renderer) parse(name string) error {
	t, err := texttemplate.ParseFS(templateFS, "templates/"+name+".txt")
	if err != nil {
		return fmt.Errorf("parse %s text template: %w", name, err)
	}
	h, err := htmltemplate.ParseFS(templateFS,
		"templates/layout.html", "templates/"+name+".html")
	if err != nil {
		return fmt.Errorf("parse %s html template: %w", name, err)
	}
	r.text[name], r.html[name] = t, h
	return nil
}

// Render renders template name for recipient to with data. It fails for
// an unknown template or missing required data.
func (r *Renderer) Render(name, to string, data map[string]any) (Message, error) {
	t, ok := r.text[name]
	if !ok {
		return Message{}, fmt.Errorf("render: %w %q", ErrUnknownTemplate, name)
	}
	if err := checkData(name, data); err != nil {
		return Message{}, fmt.Errorf("render %s: %w", name, err)
	}
	v := r.view(name, data)
	subject, err := execText(t, "subject", v)
	if err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", name, err)
	}
	v.Subject = oneLine(subject)
	text, err := execText(t, "text", v)
	if err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", name, err)
	}
	var html bytes.Buffer
	if err := r.html[name].ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", name, err)
	}
	return Message{
		To:      to,
		Subject: v.Subject,
		Text:    text,
		HTML:    html.String(),
	}, nil
}

func execText(t *texttemplate.Template, name string, v view) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()) + "\n", nil
}

// oneLine keeps user data from breaking the Subject header into lines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkData reports the first required key of template name that data
// lacks or holds empty.
func checkData(name string, data map[string]any) error {
	for _, key := range required[name] {
		if str(data[key]) == "" {
			return fmt.Errorf("mail data %q is required", key)
		}
	}
	return nil
}

// view is what the templates see.
type view struct {
	Subject          string
	Name             string
	Link             string // the action link of the mail
	OrganisationName string
	InviterName      string
	ExpiresAt        string
	Change           string // a sentence saying what changed
	ChangeTitle      string // a short title for the subject line
	IP               string
	Time             string
}

func (r *Renderer) view(name string, data map[string]any) view {
	v := view{
		Name:             str(data[DataName]),
		OrganisationName: str(data[DataOrganisationName]),
		InviterName:      str(data[DataInviterName]),
		ExpiresAt:        when(data[DataExpiresAt]),
		IP:               str(data[DataIP]),
		Time:             when(data[DataTime]),
		Link:             r.link(name, str(data[DataToken])),
	}
	v.ChangeTitle, v.Change = describeChange(str(data[DataChange]))
	return v
}

// button is what the layout's "button" template shows: the mail's link
// under a call to action.
type button struct{ Link, Action string }

// WithAction pairs the view's link with the words of its button.
func (v view) WithAction(action string) button {
	return button{Link: v.Link, Action: action}
}

// link builds the action link of a template on the admin origin.
func (r *Renderer) link(name, token string) string {
	switch name {
	case TemplateVerifyEmail:
		return r.origin + "/verify-email?token=" + url.QueryEscape(token)
	case TemplatePasswordReset, TemplatePasswordSetup:
		return r.origin + "/reset-password?token=" + url.QueryEscape(token)
	case TemplateInvitation:
		return r.origin + "/invite/" + url.PathEscape(token)
	}
	// Welcome and notices link to the admin web, which asks for sign-in.
	return r.origin + "/"
}

// describeChange turns a DataChange value into a subject title and a
// sentence. A value that is not a known code is taken as the sentence.
func describeChange(change string) (title, sentence string) {
	switch change {
	case ChangePasswordChanged:
		return "Your password was changed", "The password of your account was changed."
	case ChangePasswordReset:
		return "Your password was reset", "The password of your account was reset."
	case ChangeMFADisabled:
		return "Two-step verification was turned off",
			"Two-step verification was turned off for your account."
	}
	return "Security notice for your account", change
}

// str renders a data value as text: JSON decoding turns every value the
// services enqueue into a string, a number or a bool.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// when renders a time value (time.Time or RFC 3339 text) for people, in
// UTC. Text that is not a time is shown as it is.
func when(v any) string {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case string:
		parsed, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return strings.TrimSpace(v)
		}
		t = parsed
	default:
		return str(v)
	}
	return t.UTC().Format("Monday 2 January 2006 at 15:04 UTC")
}

// ErrUnknownTemplate is wrapped by Enqueue and Render for a template name
// that is not one of Templates.
var ErrUnknownTemplate = errors.New("unknown mail template")
