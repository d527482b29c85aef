package identity

import (
	"net/mail"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// maxEmailLength is the longest email address accepted, in characters.
const maxEmailLength = 254

// NormalizeEmail returns the stored form of an email address: trimmed,
// NFKC-normalised and lower-cased, so that "Alice@X.com" and its
// full-width spelling name the same account.
func NormalizeEmail(s string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(s)))
}

// validEmail reports whether a normalised address is a bare address
// (local@domain, no display name) with a dotted domain.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.ContainsAny(s, " \t\r\n")
}

// checker collects the field errors of one input.
type checker struct{ apperr.Checker }

// email checks a required email member and returns its normalised form.
func (c *checker) email(field, raw string) string { return CheckEmail(&c.Checker, field, raw) }

// phone checks an E.164 telephone number.
func (c *checker) phone(field, raw string) { CheckPhone(&c.Checker, field, raw) }

// fullName is how a user's name is made from its parts.
func fullName(first, last string) string {
	return first + " " + last
}
