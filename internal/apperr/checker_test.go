package apperr

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckerReportsEveryField(t *testing.T) {
	var c Checker
	if c.Err() != nil {
		t.Fatal("an empty checker reports an error")
	}
	if v := c.Text("name", "  Ada  ", 5); v != "Ada" {
		t.Fatalf("Text returned %q, want the trimmed value", v)
	}
	c.Text("first", "   ", 5)
	c.Text("last", "Lovelace", 5)
	c.Secret("password", " ", 5)
	c.Secret("token", strings.Repeat("é", 6), 5)
	var e *Error
	if !errors.As(c.Err(), &e) || e.Kind != Invalid || e.Detail != "Invalid input" {
		t.Fatalf("Err() = %v", c.Err())
	}
	want := []FieldError{
		{"first", CodeRequired, "Required"},
		{"last", CodeTooLong, "Must be at most 5 characters"},
		{"token", CodeTooLong, "Must be at most 5 characters"},
	}
	if len(e.Fields) != len(want) {
		t.Fatalf("fields = %v, want %v", e.Fields, want)
	}
	for i := range want {
		if e.Fields[i] != want[i] {
			t.Fatalf("field %d = %v, want %v", i, e.Fields[i], want[i])
		}
	}
}
