package identity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

const origin = "https://admin.example.test"

// TestMailOutageDeliversEveryMessageOnce queues account mails while the
// SMTP server refuses, lets the worker retry on its schedule (driven by the
// test clock), then lets the server recover: every message arrives exactly
// once, with the newest reset link.
func TestMailOutageDeliversEveryMessageOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil, func(o *identity.Options) { o.OnboardAutoVerify = false })
		smtp := mailtest.Start(t)
		worker := r.worker(t, smtp)
		smtp.Refuse(true)

		const n = 3
		ctx := context.Background()
		for i := range n {
			email := fmt.Sprintf("user%d@example.com", i)
			r.onboard(t, email)
			if err := r.svc.ForgotPassword(ctx, email); err != nil {
				t.Fatal(err)
			}
		}
		runOnce(t, worker, 2*n)
		runOnce(t, worker, 0)
		r.clock.Add(time.Minute)
		runOnce(t, worker, 2*n)

		smtp.Refuse(false)
		r.clock.Add(5 * time.Minute)
		runOnce(t, worker, 2*n)
		for i := range n {
			checkInbox(t, r, smtp, fmt.Sprintf("user%d@example.com", i))
		}

		// Nothing is sent again later; the resets queued notices only.
		r.clock.Add(24 * time.Hour)
		runOnce(t, worker, n)
		if got := len(smtp.Messages()); got != 3*n {
			t.Fatalf("server received %d messages, want %d", got, 3*n)
		}
	})
}

func (r *rig) worker(t *testing.T, smtp *mailtest.Server) *mail.Worker {
	t.Helper()
	renderer, err := mail.NewRenderer(origin)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{Host: smtp.Host(), Port: smtp.Port(),
		From: "Cerberus <no-reply@example.test>"})
	if err != nil {
		t.Fatal(err)
	}
	return mail.NewWorker(r.d, r.keys, renderer, sender, r.clock.Now, discardLogger(),
		mail.WorkerOptions{})
}

func runOnce(t *testing.T, w *mail.Worker, want int) {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if n != want {
		t.Fatalf("RunOnce made %d attempts, want %d", n, want)
	}
}

// checkInbox checks that an address got one verification and one reset
// mail, and that the reset link works.
func checkInbox(t *testing.T, r *rig, smtp *mailtest.Server, to string) {
	t.Helper()
	msgs := smtp.To(to)
	if len(msgs) != 2 {
		t.Fatalf("%s received %d messages, want 2", to, len(msgs))
	}
	var reset string
	for _, m := range msgs {
		if link := m.Link(origin + "/reset-password?token="); link != "" {
			reset = m.Token()
		} else if !strings.HasPrefix(m.Link(origin), origin+"/verify-email?token=") {
			t.Errorf("%s: unexpected message %q", to, m.Subject)
		}
	}
	err := r.svc.ResetPassword(context.Background(), identity.ResetInput{Token: reset,
		Password: "N3w$ecret!"})
	if err != nil {
		t.Errorf("%s: reset with the mailed token: %v", to, err)
	}
}
