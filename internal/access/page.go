package access

import (
	"strings"
)

// Page selects one page of a sorted administration list: page Number
// (from 1) of Limit items, ordered by the whitelisted field Sort,
// descending when Desc.
type Page struct {
	Number int
	Limit  int
	Sort   string
	Desc   bool
}

// maxOffset bounds Offset: a page that far is past the end of any list,
// and a larger value would overflow.
const maxOffset = 1 << 62

// Offset is the number of items before the page, at most maxOffset, so a
// page number of any size is a page past the end rather than an overflow.
func (p Page) Offset() int {
	if p.Limit > 0 && p.Number-1 > maxOffset/p.Limit {
		return maxOffset
	}
	return (p.Number - 1) * p.Limit
}

// Pages is how many pages total items fill.
func (p Page) Pages(total int) int {
	if p.Limit <= 0 {
		return 0
	}
	return (total + p.Limit - 1) / p.Limit
}

// OrderBy returns the ORDER BY clause of the page: the column columns maps
// the sort field to, in the page's direction, then idColumn so that equal
// values keep a stable order. NULLs sort last in both directions on both
// engines. An unknown field falls back to idColumn alone; callers pass
// fields their whitelist accepted.
func (p Page) OrderBy(columns map[string]string, idColumn string) string {
	dir := " ASC"
	if p.Desc {
		dir = " DESC"
	}
	col, ok := columns[p.Sort]
	if !ok {
		return " ORDER BY " + idColumn + dir
	}
	var b strings.Builder
	b.WriteString(" ORDER BY ")
	b.WriteString(col + " IS NULL, ")
	b.WriteString(col + dir + ", " + idColumn + dir)
	return b.String()
}

// Like returns a LIKE pattern matching values that contain s, with the
// wildcards of s escaped (use with ESCAPE '\'), lower-cased for a
// case-insensitive match against LOWER(column).
func Like(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}
