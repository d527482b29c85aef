package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"strings"
)

// Message is a message the server accepted.
type Message struct {
	From    string   // envelope sender
	To      []string // envelope recipients
	User    string   // the authenticated user, if any
	TLS     bool     // whether the session was encrypted
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain body, decoded, with LF line ends
	HTML    string // the text/html body, decoded, with LF line ends
	Raw     []byte
}

// Parse reads a raw RFC 5322 message into a Message, decoding the subject
// and the text and HTML bodies of a single or multipart message.
func Parse(raw []byte) (Message, error) {
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("read message: %w", err)
	}
	m := Message{Header: pm.Header, Raw: raw}
	m.Subject, err = new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
	if err != nil {
		return Message{}, fmt.Errorf("decode subject: %w", err)
	}
	err = m.walk(pm.Header.Get("Content-Type"),
		pm.Header.Get("Content-Transfer-Encoding"), pm.Body)
	if err != nil {
		return Message{}, err
	}
	if m.Text == "" && m.HTML == "" {
		return Message{}, errNoBody
	}
	return m, nil
}

// walk decodes one MIME entity, descending into multipart ones.
func (m *Message) walk(ctype, encoding string, body io.Reader) error {
	if ctype == "" {
		ctype = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		return m.walkParts(multipart.NewReader(body, params["boundary"]))
	}
	b, err := io.ReadAll(decoder(encoding, body))
	if err != nil {
		return fmt.Errorf("decode %s body: %w", media, err)
	}
	// Line ends travel as CRLF; tests compare with Go strings.
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch media {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

func (m *Message) walkParts(mr *multipart.Reader) error {
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read part: %w", err)
		}
		err = m.walk(p.Header.Get("Content-Type"),
			p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return err
		}
	}
}

func decoder(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// newlineStripper drops line breaks, which base64 bodies contain.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	out := p[:0]
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return len(out), err
}

// Links returns the http(s) URLs of the text body, in order.
func (m Message) Links() []string {
	var out []string
	for _, f := range strings.Fields(m.Text) {
		if strings.HasPrefix(f, "https://") || strings.HasPrefix(f, "http://") {
			out = append(out, strings.TrimRight(f, ".,;)"))
		}
	}
	return out
}

// Link returns the first link of the text body that starts with prefix,
// or "" when there is none.
func (m Message) Link(prefix string) string {
	for _, l := range m.Links() {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// Token returns the one-time token of the message's first link that
// carries one: the token query parameter (verification, reset and setup
// links) or the last path segment after /invite/ (invitations). It returns
// "" when no link carries a token.
func (m Message) Token() string {
	for _, l := range m.Links() {
		u, err := url.Parse(l)
		if err != nil {
			continue
		}
		if tok := u.Query().Get("token"); tok != "" {
			return tok
		}
		if rest, ok := strings.CutPrefix(u.Path, "/invite/"); ok && rest != "" {
			return rest
		}
	}
	return ""
}
