package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
)

// redacted replaces every secret the handler finds.
const redacted = "[REDACTED]"

// secretKeys are attribute keys whose values are always secret, written in
// the normalised form of [normaliseKey]: lower case without '-', '_' or '.'.
var secretKeys = map[string]bool{
	"password": true, "newpassword": true, "currentpassword": true,
	"token": true, "mfatoken": true, "secret": true, "clientsecret": true,
	"authorization": true, "proxyauthorization": true,
	"cookie": true, "setcookie": true, "xcsrftoken": true,
	"clientassertion": true, "code": true, "codeverifier": true,
	"refreshtoken": true, "accesstoken": true, "idtoken": true,
	"key": true, "apikey": true, "privatekey": true, "smtppass": true,
	"devicecode": true, "usercode": true, "backupcode": true,
	"authorizationcode": true, "totpsecret": true,
}

// secretSuffixes catch the many spellings of the same secrets
// (sessionToken, webhook_secret, db_password, signingPrivateKey…).
var secretSuffixes = []string{
	"password", "passwd", "token", "secret", "cookie",
	"apikey", "privatekey", "assertion", "codeverifier",
}

// secretSuffixBytes holds secretSuffixes as byte slices for matching.
var secretSuffixBytes = func() [][]byte {
	out := make([][]byte, len(secretSuffixes))
	for i, s := range secretSuffixes {
		out[i] = []byte(s)
	}
	return out
}()

// normaliseKey folds the spellings of a key (clientSecret, client_secret,
// Client-Secret) into one, appending it to buf: ASCII lower case without
// '-', '_' or '.'. Keys are almost always ASCII; other bytes are kept.
func normaliseKey(buf []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-' || c == '_' || c == '.':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// isSecretKey reports whether values under key k must never be logged. It
// runs for every attribute, so it avoids allocating for ordinary keys.
func isSecretKey(k string) bool {
	var arr [64]byte
	n := normaliseKey(arr[:0], k)
	if len(n) == 0 {
		return false
	}
	if secretKeys[string(n)] {
		return true
	}
	for _, s := range secretSuffixBytes {
		if bytes.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// secretPattern matches secrets recognisable by their shape wherever they
// appear in text: bearer credentials, API keys, webhook secrets and JWTs.
var secretPattern = regexp.MustCompile(
	`(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]+` +
		`|\bck_(?:live|test)_[A-Za-z0-9_-]+` +
		`|\bwhsec_[A-Za-z0-9_+/=-]+` +
		`|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// queryParam matches one name=value pair of a URL query string or of free
// text ("password=…" in a driver's error message).
var queryParam = regexp.MustCompile(`(^|[?&;,\s(])([A-Za-z0-9_.-]+)=([^&#;,\s"')]*)`)

// urlPassword matches the password of URL user information
// (scheme://user:password@host).
var urlPassword = regexp.MustCompile(`(://[^/\s:@]*:)[^/\s@]+@`)

// scrub removes every recognisable secret from text.
func scrub(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	s = secretPattern.ReplaceAllString(s, redacted)
	s = urlPassword.ReplaceAllString(s, "${1}"+redacted+"@")
	return queryParam.ReplaceAllStringFunc(s, scrubQueryParam)
}

// mayHoldSecret is a cheap test that lets most text skip the expressions:
// every pattern needs one of these substrings.
func mayHoldSecret(s string) bool {
	return strings.ContainsAny(s, "=@") ||
		strings.Contains(s, "earer") || strings.Contains(s, "EARER") ||
		strings.Contains(s, "ck_") || strings.Contains(s, "whsec_") ||
		strings.Contains(s, "eyJ")
}

// scrubQueryParam redacts the value of a query parameter with a secret name.
func scrubQueryParam(m string) string {
	parts := queryParam.FindStringSubmatch(m)
	if !isSecretKey(parts[2]) {
		return m
	}
	return parts[1] + parts[2] + "=" + redacted
}

// redactAttr returns a with every secret it holds replaced.
func redactAttr(a slog.Attr) slog.Attr {
	if isSecretKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	a.Value = redactValue(a.Value)
	return a
}

// redactAttrs applies [redactAttr] to each attribute.
func redactAttrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a)
	}
	return out
}

// redactValue returns v with every secret it holds replaced. LogValuers are
// resolved first, so a type cannot smuggle a secret past the handler.
func redactValue(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(scrub(v.String()))
	case slog.KindGroup:
		return slog.GroupValue(redactAttrs(v.Group())...)
	case slog.KindAny:
		return redactAny(v.Any())
	}
	return v
}

// redactAny handles values of arbitrary type. Errors and Stringers become
// their scrubbed text; maps, slices and structs (an http.Header, a request
// body) are rendered as JSON and walked, so a secret under any key at any
// depth is caught; other values pass unchanged.
func redactAny(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(scrub(t.Error()))
	}
	rv := reflect.ValueOf(x)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return redactJSON(x)
	case reflect.String:
		return slog.StringValue(scrub(rv.String()))
	}
	if s, ok := x.(fmt.Stringer); ok {
		return slog.StringValue(scrub(s.String()))
	}
	if rv.Kind() == reflect.Struct {
		return redactJSON(x)
	}
	return slog.AnyValue(x)
}

// redactJSON renders x as JSON and returns the decoded tree with secrets
// replaced. A value JSON cannot render falls back to its scrubbed text.
func redactJSON(x any) slog.Value {
	b, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(scrub(fmt.Sprintf("%+v", x)))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return slog.StringValue(scrub(string(b)))
	}
	return slog.AnyValue(redactTree(tree))
}

// redactTree replaces secrets in a decoded JSON tree, in place.
func redactTree(n any) any {
	switch t := n.(type) {
	case map[string]any:
		for k, v := range t {
			if isSecretKey(k) {
				t[k] = redacted
			} else {
				t[k] = redactTree(v)
			}
		}
	case []any:
		for i, v := range t {
			t[i] = redactTree(v)
		}
	case string:
		return scrub(t)
	}
	return n
}

// redactHandler removes secrets from records before its next handler sees
// them: attributes under secret keys (at any depth, including inside groups
// and maps), and bearer tokens, API keys, webhook secrets, JWTs, secret
// query parameters and URL passwords anywhere in text or in the message.
type redactHandler struct {
	next slog.Handler
	// sensitive is set under a group whose name is itself a secret key:
	// every attribute inside it is redacted.
	sensitive bool
}

// Enabled reports whether the next handler wants records at level l.
func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle passes a redacted copy of r to the next handler.
func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts as once, when they are attached.
func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.redact(a)
	}
	return &redactHandler{next: h.next.WithAttrs(out), sensitive: h.sensitive}
}

// WithGroup opens a group; a group named like a secret hides its content.
func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{
		next:      h.next.WithGroup(name),
		sensitive: h.sensitive || isSecretKey(name),
	}
}

// redact applies the handler's rules to one attribute.
func (h *redactHandler) redact(a slog.Attr) slog.Attr {
	if h.sensitive {
		return redactAll(a)
	}
	return redactAttr(a)
}

// redactAll replaces every value in a, keeping the keys of inlined groups
// (those with an empty key) so the record keeps its shape.
func redactAll(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if a.Key != "" || v.Kind() != slog.KindGroup {
		return slog.String(a.Key, redacted)
	}
	inner := v.Group()
	out := make([]slog.Attr, len(inner))
	for i, g := range inner {
		out[i] = redactAll(g)
	}
	return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
}
