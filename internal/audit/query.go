package audit

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Filter selects records; empty members select everything.
type Filter struct {
	UserID        string
	ClientID      string
	EventTypes    []string
	EventCategory string
	Action        string
	ResourceType  string
	ResourceID    string
	Success       *bool
	StartDate     *time.Time // inclusive
	EndDate       *time.Time // exclusive
}

// Query is a filter with paging: at most Limit records after the cursor.
type Query struct {
	Filter
	Limit int
	after *position
}

// Paging bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// position is where a cursor points: the last record of a page.
type position struct {
	createdAt time.Time
	id        string
}

// filterParams are the query parameters of the filter.
var filterParams = []string{"userId", "clientId", "eventType", "eventCategory", "action",
	"resourceType", "resourceId", "success", "startDate", "endDate"}

// ParseQuery reads the query string of a list: the filter, limit (1–100,
// default 50) and cursor. Unknown or repeated parameters and bad values
// are 400 "Invalid input" naming each parameter.
func ParseQuery(v url.Values) (Query, error) {
	var c fields
	c.only(v, append([]string{"limit", "cursor"}, filterParams...))
	q := Query{Filter: parseFilter(&c, v), Limit: DefaultLimit}
	if s, ok := c.one(v, "limit"); ok {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			c.add("limit", apperr.CodeInvalidType, "Expected an integer")
		case n < 1:
			c.add("limit", apperr.CodeTooSmall, "Must be at least 1")
		case n > MaxLimit:
			c.add("limit", apperr.CodeTooLarge, "Must be at most 100")
		}
		q.Limit = n
	}
	if s, ok := c.one(v, "cursor"); ok {
		p, err := decodeCursor(s)
		if err != nil {
			c.add("cursor", apperr.CodeInvalidFormat, "Invalid cursor")
		}
		q.after = p
	}
	return q, c.err()
}

// ParseExport reads the query string of an export: the filter and the
// required format (csv or ndjson).
func ParseExport(v url.Values) (Filter, Format, error) {
	var c fields
	c.only(v, append([]string{"format"}, filterParams...))
	f := parseFilter(&c, v)
	s, ok := c.one(v, "format")
	format := Format(s)
	switch {
	case !ok:
		c.add("format", apperr.CodeRequired, "Required: csv or ndjson")
	case format != CSV && format != NDJSON:
		c.add("format", apperr.CodeInvalidValue, "Must be csv or ndjson")
	}
	return f, format, c.err()
}

func parseFilter(c *fields, v url.Values) Filter {
	var f Filter
	f.UserID = c.id(v, "userId")
	f.ClientID = c.id(v, "clientId")
	f.EventCategory, _ = c.one(v, "eventCategory")
	f.Action, _ = c.one(v, "action")
	f.ResourceType, _ = c.one(v, "resourceType")
	f.ResourceID, _ = c.one(v, "resourceId")
	if s, ok := c.one(v, "eventType"); ok {
		for _, t := range strings.Split(s, ",") {
			t = strings.TrimSpace(t)
			if !event.IsAuditType(t) {
				c.add("eventType", apperr.CodeInvalidValue, "Unknown event type: "+t)
			} else if !slices.Contains(f.EventTypes, t) {
				f.EventTypes = append(f.EventTypes, t)
			}
		}
	}
	if s, ok := c.one(v, "success"); ok {
		if s != "true" && s != "false" {
			c.add("success", apperr.CodeInvalidValue, "Must be true or false")
		}
		b := s == "true"
		f.Success = &b
	}
	f.StartDate = c.time(v, "startDate")
	f.EndDate = c.time(v, "endDate")
	return f
}

// fields collects the problems of a query string.
type fields struct {
	list []apperr.FieldError
}

func (c *fields) add(field, code, msg string) {
	c.list = append(c.list, apperr.Field(field, code, msg))
}

func (c *fields) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return apperr.InvalidInput(c.list...)
}

// only refuses parameters not in allowed.
func (c *fields) only(v url.Values, allowed []string) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			c.add(k, apperr.CodeUnknownField, "Unknown query parameter")
		}
	}
}

// one returns the single non-empty value of a parameter.
func (c *fields) one(v url.Values, name string) (string, bool) {
	vals := v[name]
	switch {
	case len(vals) == 0 || len(vals) == 1 && vals[0] == "":
		return "", false
	case len(vals) > 1:
		c.add(name, apperr.CodeInvalidValue, "Must be given once")
		return "", false
	}
	return vals[0], true
}

func (c *fields) id(v url.Values, name string) string {
	s, ok := c.one(v, name)
	if ok && !db.ValidID(s) {
		c.add(name, apperr.CodeInvalidFormat, "Must be a UUID")
		return ""
	}
	return s
}

func (c *fields) time(v url.Values, name string) *time.Time {
	s, ok := c.one(v, name)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.add(name, apperr.CodeInvalidFormat, "Must be an RFC 3339 timestamp")
		return nil
	}
	t = t.UTC()
	return &t
}

// encodeCursor makes the opaque cursor of a record's position.
func encodeCursor(r Record) string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte(db.FormatTime(r.CreatedAt) + "|" + r.ID))
}

// decodeCursor reads a cursor made by encodeCursor.
func decodeCursor(s string) (*position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok || !db.ValidID(id) {
		return nil, errBadCursor
	}
	t, err := time.Parse(db.TimeLayout, ts)
	if err != nil {
		return nil, err
	}
	return &position{createdAt: t, id: id}, nil
}

var errBadCursor = apperr.New(apperr.Invalid, "Invalid cursor")
