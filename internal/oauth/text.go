package oauth

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// plainText reports whether s is valid UTF-8 without control characters.
// Only such text from a request may be stored, used as a lookup key in a
// query, or sent back: PostgreSQL refuses NUL in text and JSON values,
// and a JSON round trip turns invalid UTF-8 into U+FFFD, so the client
// would not get back what it sent.
func plainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
