package db

import (
	"github.com/google/uuid"
)

// NewID returns a new resource id: a lowercase canonical UUIDv7 string, so
// ids sort roughly by creation time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s is a lowercase canonical UUID. A path id that is
// not one is answered like an unknown id, and never reaches a query (the
// PostgreSQL uuid type would refuse it with an error).
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return false
		}
	}
	return true
}
