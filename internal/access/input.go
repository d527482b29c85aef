package access

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// Limits of names and descriptions of roles, teams and keys.
const (
	maxName        = 100
	maxDescription = 500
	maxSlug        = 63
)

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// checker collects the field errors of one input.
type checker struct{ apperr.Checker }

// optional checks a nullable string of at most max characters; an empty
// or null value is stored as NULL.
func (c *checker) optional(field string, raw *string, max int) *string {
	if raw == nil {
		return nil
	}
	v := strings.TrimSpace(*raw)
	if utf8.RuneCountInString(v) > max {
		c.Add(field, apperr.CodeTooLong, "Must be at most "+strconv.Itoa(max)+
			" characters")
	}
	if v == "" {
		return nil
	}
	return &v
}

// slug checks a required slug (lower-case letters and digits in
// hyphen-separated runs, 1–63 characters).
func (c *checker) slug(field, raw string) string {
	switch {
	case raw == "":
		c.Add(field, apperr.CodeRequired, "Required")
	case len(raw) > maxSlug:
		c.Add(field, apperr.CodeTooLong, "Must be at most 63 characters")
	case !slugPattern.MatchString(raw):
		c.Add(field, apperr.CodeInvalidFormat,
			"Must be lower-case letters and digits separated by single hyphens")
	}
	return raw
}

// notNull refuses null for a PATCH member that cannot be cleared.
func notNull[T any](c *checker, field string, f patch.Field[T]) bool {
	if f.Set && f.Null {
		c.Add(field, apperr.CodeInvalidType, "Must not be null")
		return false
	}
	return f.Set
}
