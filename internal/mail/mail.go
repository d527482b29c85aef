// Package mail queues, renders and sends the emails of Cerberus IAM.
//
// A service that causes a mail calls Outbox.Enqueue inside the transaction
// of the change, so the mail is queued if and only if the change commits.
// The row holds the recipient, the template name and the template data
// sealed with the key ring (the data carries one-time tokens). A Worker
// claims due rows, renders them with a Renderer, hands them to a Sender and
// records the outcome; a failed delivery is retried after 1 m, 5 m, 15 m,
// 1 h and 6 h, then the row is marked failed.
//
// Delivery is at least once. Claiming a row leases it to one worker, and a
// row recorded as sent is never claimed again, so several workers and
// instances do not send the same row twice. The one exception is a crash (or
// a lost database connection) between the SMTP server accepting a message
// and the worker recording it as sent: the lease then expires and another
// worker sends the message again. SMTP offers no way to close that window.
//
// NewSMTPSender sends through an SMTP server with TLS rules fit for
// production; NewLogSender, for development without an SMTP server, logs
// each message instead of sending it.
package mail

import (
	"context"
	"slices"
)

// Message is a rendered mail, ready to send.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers a rendered message. An error means the message was not
// accepted and may be retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Template names.
const (
	TemplateVerifyEmail    = "verify-email"
	TemplatePasswordReset  = "password-reset"
	TemplatePasswordSetup  = "password-setup"
	TemplateInvitation     = "invitation"
	TemplateWelcome        = "welcome"
	TemplateSecurityNotice = "security-notice"
)

// Keys of Mail.Data that the templates read. Values are strings, except
// ExpiresAt and Time, which may also be time.Time.
const (
	DataToken            = "token"            // one-time token put in the link
	DataName             = "name"             // the recipient's name, optional
	DataOrganisationName = "organisationName" // invitation, welcome
	DataInviterName      = "inviterName"      // invitation, optional
	DataExpiresAt        = "expiresAt"        // when the link stops working
	DataChange           = "change"           // security-notice: a Change* code or a sentence
	DataIP               = "ip"               // security-notice: client IP, optional
	DataTime             = "time"             // security-notice: when, optional
)

// Changes a security notice reports, as DataChange values.
const (
	ChangePasswordChanged = "password_changed"
	ChangePasswordReset   = "password_reset"
	ChangeMFADisabled     = "mfa_disabled"
)

// required lists, per template, the data keys that must be present.
var required = map[string][]string{
	TemplateVerifyEmail:    {DataToken},
	TemplatePasswordReset:  {DataToken},
	TemplatePasswordSetup:  {DataToken},
	TemplateInvitation:     {DataToken, DataOrganisationName},
	TemplateWelcome:        {DataOrganisationName},
	TemplateSecurityNotice: {DataChange},
}

// Templates returns the names of every template, sorted.
func Templates() []string {
	names := make([]string, 0, len(required))
	for name := range required {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Mail is a message to queue: a template, its data and the recipient.
// OrganisationID is the tenant the mail belongs to, empty for none.
type Mail struct {
	OrganisationID string
	To             string
	Template       string
	Data           map[string]any
}

// Sealer encrypts the queued template data at rest and opens it again. The
// key ring of the crypto package implements it.
type Sealer interface {
	SealString(plaintext string) (string, error)
	OpenString(sealed string) (string, error)
}
