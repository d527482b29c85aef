package db

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is how SQLite stores times: RFC 3339 UTC with milliseconds. It
// sorts as text in time order.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeLayout)
}

// Time returns a scanner that stores a non-null time column in dst,
// whichever engine produced it.
func Time(dst *time.Time) sql.Scanner { return timeScanner{dst: dst} }

// NullTime returns a scanner that stores a nullable time column in dst, nil
// for NULL.
func NullTime(dst **time.Time) sql.Scanner { return nullTimeScanner{dst: dst} }

type timeScanner struct{ dst *time.Time }

func (s timeScanner) Scan(src any) error {
	if src == nil {
		return fmt.Errorf("scan time: unexpected NULL")
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*s.dst = t
	return nil
}

type nullTimeScanner struct{ dst **time.Time }

func (s nullTimeScanner) Scan(src any) error {
	if src == nil {
		*s.dst = nil
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*s.dst = &t
	return nil
}

func parseTime(src any) (time.Time, error) {
	switch v := src.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	}
	return time.Time{}, fmt.Errorf("scan time: unsupported type %T", src)
}

func parseTimeText(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("scan time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// JSON returns a scanner that decodes a JSON column into dst. NULL leaves
// dst unchanged.
func JSON(dst any) sql.Scanner { return jsonScanner{dst: dst} }

type jsonScanner struct{ dst any }

func (s jsonScanner) Scan(src any) error {
	var raw []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	if err := json.Unmarshal(raw, s.dst); err != nil {
		return fmt.Errorf("scan json: %w", err)
	}
	return nil
}

// JSONValue encodes v for a JSON column; a nil v is stored as NULL.
func JSONValue(v any) (driver.Value, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// MustJSON encodes v, which must be a value json.Marshal cannot fail on
// (strings, slices of strings, maps of plain values), for a JSON column.
func MustJSON(v any) driver.Value {
	out, err := JSONValue(v)
	if err != nil {
		panic(err)
	}
	return out
}
