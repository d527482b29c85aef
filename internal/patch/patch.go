// Package patch holds the type of a member of a PATCH body, where an absent
// member means "unchanged", null clears a nullable member and a value sets
// it.
package patch

import (
	"encoding/json"
	"reflect"
)

// Field is one member of a PATCH body.
type Field[T any] struct {
	Set   bool // the member was present
	Null  bool // the member was present and null
	Value T    // the value when present and not null
}

// UnmarshalJSON records presence, null and value.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if string(b) == "null" {
		f.Null = true
		var zero T
		f.Value = zero
		return nil
	}
	return json.Unmarshal(b, &f.Value)
}

// MarshalJSON writes the value, or null when unset or null.
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if !f.Set || f.Null {
		return []byte("null"), nil
	}
	return json.Marshal(f.Value)
}

// ValueType tells body validators the type a present, non-null member must
// have.
func (f Field[T]) ValueType() reflect.Type {
	return reflect.TypeFor[T]()
}

// Ptr returns the value as a pointer: nil when null, &Value when set.
// Callers check Set first.
func (f Field[T]) Ptr() *T {
	if f.Null {
		return nil
	}
	v := f.Value
	return &v
}

// Of returns a set, non-null field holding v (for tests and internal
// callers).
func Of[T any](v T) Field[T] {
	return Field[T]{Set: true, Value: v}
}

// Null returns a set, null field.
func Null[T any]() Field[T] {
	return Field[T]{Set: true, Null: true}
}
