package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// ListSpec is what the query string of one administration list accepts:
// page, limit, sort among Sorts (with a "-" prefix for descending), and
// the named filters.
type ListSpec struct {
	// Sorts holds the sortable fields (its keys); values are not read here.
	Sorts map[string]string
	// DefaultSort applies without a sort parameter, such as "-createdAt".
	DefaultSort string
	// Filters names the filter parameters.
	Filters []string
}

// ListQuery is a parsed list query: the page and the filters given.
type ListQuery struct {
	Page    access.Page
	Filters map[string]string
}

// Paging bounds of the lists.
const (
	DefaultListLimit = 50
	MaxListLimit     = 100
)

// ParseList reads a list's query string: page ≥ 1 (default 1), limit 1–100
// (default 50), sort one whitelisted field with an optional "-" prefix,
// the filters of spec. Unknown or repeated parameters and bad values are
// 400 "Invalid input" with one item per parameter; a sort field outside
// the whitelist is named in its message. Empty filters are ignored.
func ParseList(v url.Values, spec ListSpec) (ListQuery, error) {
	p := listParser{v: v}
	p.rejectUnknown(spec.Filters)
	q := ListQuery{Filters: map[string]string{}}
	q.Page.Number = p.int("page", 1, 1, 0)
	q.Page.Limit = p.int("limit", DefaultListLimit, 1, MaxListLimit)
	q.Page.Sort, q.Page.Desc = p.sort(spec)
	for _, f := range spec.Filters {
		if s, ok := p.one(f); ok && s != "" {
			q.Filters[f] = s
		}
	}
	if len(p.errs) > 0 {
		return q, apperr.InvalidInput(p.errs...)
	}
	return q, nil
}

type listParser struct {
	v    url.Values
	errs []apperr.FieldError
}

func (p *listParser) add(field, code, msg string) {
	p.errs = append(p.errs, apperr.Field(field, code, msg))
}

func (p *listParser) rejectUnknown(filters []string) {
	keys := make([]string, 0, len(p.v))
	for k := range p.v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		known := k == "page" || k == "limit" || k == "sort" || slices.Contains(filters, k)
		if !known {
			p.add(k, apperr.CodeUnknownField, "Unknown query parameter")
		}
	}
}

// one returns the single value of a parameter.
func (p *listParser) one(name string) (string, bool) {
	vals := p.v[name]
	switch len(vals) {
	case 0:
		return "", false
	case 1:
		return vals[0], true
	}
	p.add(name, apperr.CodeInvalidValue, "Must be given once")
	return "", false
}

// int reads an integer parameter of at least min and, when max > 0, at
// most max.
func (p *listParser) int(name string, def, min, max int) int {
	s, ok := p.one(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		p.add(name, apperr.CodeInvalidType, "Expected an integer")
	case n < min:
		p.add(name, apperr.CodeTooSmall, "Must be at least "+strconv.Itoa(min))
	case max > 0 && n > max:
		p.add(name, apperr.CodeTooLarge, "Must be at most "+strconv.Itoa(max))
	default:
		return n
	}
	return def
}

func (p *listParser) sort(spec ListSpec) (string, bool) {
	s, ok := p.one("sort")
	if !ok {
		s = spec.DefaultSort
	}
	field, desc := strings.CutPrefix(s, "-")
	if _, known := spec.Sorts[field]; !known {
		p.add("sort", apperr.CodeInvalidValue, "Cannot sort by "+strconv.Quote(field))
	}
	return field, desc
}

// listPage is the body of a list answer.
type listPage[T any] struct {
	Data  []T `json:"data"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Limit int `json:"limit"`
	Pages int `json:"pages"`
}

// writeList answers one page of a list.
func writeList[T any](w http.ResponseWriter, p access.Page, items []T, total int) {
	if items == nil {
		items = []T{}
	}
	WriteJSON(w, http.StatusOK, listPage[T]{Data: items, Total: total, Page: p.Number,
		Limit: p.Limit, Pages: p.Pages(total)})
}
