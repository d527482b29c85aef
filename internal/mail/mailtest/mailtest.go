// Package mailtest runs a real SMTP server inside a test and lets the test
// read what it received.
//
// The server listens on 127.0.0.1, keeps every accepted message parsed into
// its text and HTML bodies, and can be told to refuse mail with a temporary
// (4xx) error for a while. It can offer STARTTLS or implicit TLS with a
// certificate made for the test, and require SMTP AUTH PLAIN.
package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape a test server. The zero value is a plain server without
// TLS or authentication.
type Options struct {
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// STARTTLS offers STARTTLS with a certificate for the listen address
	// and localhost, trusted by RootCAs.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte, as on port 465.
	ImplicitTLS bool
	// User and Password, when set, make AUTH PLAIN mandatory.
	User, Password string
	// AllowInsecureAuth offers AUTH without TLS.
	AllowInsecureAuth bool
}

// Server is a running test SMTP server, closed when the test ends.
type Server struct {
	opts  Options
	addr  string
	roots *x509.CertPool
	srv   *smtp.Server

	mu        sync.Mutex
	refuse    bool
	messages  []Message
	authTries int
	changed   chan struct{} // closed and replaced on every new message
}

// Start runs a plain server (no TLS, no authentication).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a server shaped by o.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	s := &Server{opts: o, changed: make(chan struct{})}
	ln, err := s.listen(t)
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *Server) listen(t testing.TB) (net.Listener, error) {
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "mailtest.localhost"
	s.srv.AllowInsecureAuth = s.opts.AllowInsecureAuth
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	if !s.opts.STARTTLS && !s.opts.ImplicitTLS {
		return net.Listen("tcp", s.opts.Addr)
	}
	host, _, _ := net.SplitHostPort(s.opts.Addr)
	cfg, roots, err := selfSigned(host)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	s.roots = roots
	if s.opts.ImplicitTLS {
		return tls.Listen("tcp", s.opts.Addr, cfg)
	}
	s.srv.TLSConfig = cfg
	return net.Listen("tcp", s.opts.Addr)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Host is the server's IP address.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.addr)
	return h
}

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// RootCAs trusts the server's certificate; nil without TLS.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Refuse makes the server answer every new message with 451 (try again
// later) while on is true.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// AuthAttempts counts the AUTH exchanges clients started.
func (s *Server) AuthAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authTries
}

// Messages returns every message accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// To returns the accepted messages with addr among their recipients.
func (s *Server) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, rcpt := range m.To {
			if rcpt == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Last returns the most recent message to addr, failing the test when
// there is none.
func (s *Server) Last(t testing.TB, addr string) Message {
	t.Helper()
	msgs := s.To(addr)
	if len(msgs) == 0 {
		t.Fatalf("mailtest: no message to %s", addr)
	}
	return msgs[len(msgs)-1]
}

// Wait blocks until at least n messages have been accepted and returns
// them. It fails the test if they do not arrive within a minute, so that a
// broken sender cannot hang the test run.
func (s *Server) Wait(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.messages), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("mailtest: %d messages arrived, want %d", got, n)
		}
	}
}

func (s *Server) refusing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuse
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// errTryLater is the temporary refusal.
var errTryLater = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Mailbox temporarily unavailable, try again later",
}

// session is one SMTP connection.
type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

// AuthMechanisms offers PLAIN when the server has a user.
func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth checks PLAIN credentials against the server's user.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.srv.opts.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	ss.srv.mu.Lock()
	ss.srv.authTries++
	ss.srv.mu.Unlock()
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.srv.opts.User || pass != ss.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.User != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if ss.srv.refusing() {
		return errTryLater
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.srv.refusing() {
		return errTryLater
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.srv.refusing() {
		return errTryLater
	}
	m, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message: "mailtest cannot parse the message: " + err.Error()}
	}
	m.From, m.To, m.User = ss.from, append([]string(nil), ss.to...), ss.user
	_, m.TLS = ss.conn.TLSConnectionState()
	ss.srv.store(m)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// errNoBody reports a message without a text or HTML part.
var errNoBody = errors.New("no text or html body")

// compile-time check that sessions offer AUTH.
var _ smtp.AuthSession = (*session)(nil)
