package apperr

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Checker collects the field problems of one input so that a caller learns
// every invalid field at once. The zero value is ready to use.
type Checker struct {
	fields []FieldError
}

// Add records a problem with field.
func (c *Checker) Add(field, code, msg string) {
	c.fields = append(c.fields, Field(field, code, msg))
}

// Err returns an Invalid error listing the recorded problems, or nil when
// there are none.
func (c *Checker) Err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return InvalidInput(c.fields...)
}

// Text checks a required string of 1 to max characters after trimming
// white space and returns the trimmed value.
func (c *Checker) Text(field, raw string, max int) string {
	v := strings.TrimSpace(raw)
	c.length(field, v, max)
	return v
}

// Secret checks a required string of 1 to max characters kept exactly as
// given (passwords, tokens): white space is part of a secret.
func (c *Checker) Secret(field, raw string, max int) {
	c.length(field, raw, max)
}

func (c *Checker) length(field, v string, max int) {
	switch n := utf8.RuneCountInString(v); {
	case n == 0:
		c.Add(field, CodeRequired, "Required")
	case n > max:
		c.Add(field, CodeTooLong, "Must be at most "+strconv.Itoa(max)+" characters")
	}
}
