package identity

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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
type checker struct {
	fields []apperr.FieldError
}

func (c *checker) add(field, code, msg string) {
	c.fields = append(c.fields, apperr.Field(field, code, msg))
}

// err returns 400 "Invalid input" with the collected fields, or nil.
func (c *checker) err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return apperr.InvalidInput(c.fields...)
}

// email checks a required email member and returns its normalised form.
func (c *checker) email(field, raw string) string {
	e := NormalizeEmail(raw)
	switch {
	case e == "":
		c.add(field, apperr.CodeRequired, "Required")
	case utf8.RuneCountInString(e) > maxEmailLength:
		c.add(field, apperr.CodeTooLong, "Must be at most 254 characters")
	case !validEmail(e):
		c.add(field, apperr.CodeInvalidFormat, "Invalid email address")
	}
	return e
}

// text checks a required string of min..max characters after trimming and
// returns the trimmed value.
func (c *checker) text(field, raw string, min, max int) string {
	v := strings.TrimSpace(raw)
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && min > 0:
		c.add(field, apperr.CodeRequired, "Required")
	case n < min:
		c.add(field, apperr.CodeTooShort, "Must be at least "+strconv.Itoa(min)+
			" characters")
	case n > max:
		c.add(field, apperr.CodeTooLong, "Must be at most "+strconv.Itoa(max)+
			" characters")
	}
	return v
}

// secret checks a required string of 1..max characters kept as given
// (passwords, tokens): no trimming.
func (c *checker) secret(field, raw string, max int) {
	switch n := utf8.RuneCountInString(raw); {
	case n == 0:
		c.add(field, apperr.CodeRequired, "Required")
	case n > max:
		c.add(field, apperr.CodeTooLong, "Must be at most "+strconv.Itoa(max)+
			" characters")
	}
}

var e164 = regexp.MustCompile(`^\+[0-9]{7,15}$`)

// phone checks an E.164 telephone number.
func (c *checker) phone(field, raw string) {
	if !e164.MatchString(raw) {
		c.add(field, apperr.CodeInvalidFormat,
			"Must be an E.164 number: + and 7 to 15 digits")
	}
}

// fullName is how a user's name is made from its parts.
func fullName(first, last string) string {
	return first + " " + last
}
