package mail

import (
	"context"
	"log/slog"
)

// logSender writes messages to the log instead of sending them.
type logSender struct{ log *slog.Logger }

// NewLogSender returns the Sender of development and test setups without
// an SMTP server: each message is logged at info level, marked "mail not
// sent", with its text body. The body holds the one-time links, which is
// the point (it is how a developer follows them) and why configuration
// refuses this sender in production.
func NewLogSender(l *slog.Logger) Sender { return logSender{log: l} }

// Send logs m and never fails.
func (s logSender) Send(ctx context.Context, m Message) error {
	s.log.InfoContext(ctx, "mail not sent (no SMTP server configured)",
		"to", m.To, "subject", m.Subject, "body", m.Text)
	return nil
}
