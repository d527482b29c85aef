package access

import (
	"encoding/json"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Timestamp is a time that encodes in JSON as RFC 3339 UTC with
// milliseconds (2025-03-01T09:30:00.000Z), the form of every /v1 answer.
type Timestamp time.Time

// MarshalJSON writes the quoted timestamp.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + db.FormatTime(time.Time(t)) + `"`), nil
}

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// Stamp converts a stored time for an answer.
func Stamp(t time.Time) Timestamp { return Timestamp(t) }

// StampPtr converts a nullable stored time; nil encodes as null.
func StampPtr(t *time.Time) *Timestamp {
	if t == nil {
		return nil
	}
	v := Timestamp(*t)
	return &v
}

// MarshalJSON writes the permission with its times in the /v1 format.
func (p Permission) MarshalJSON() ([]byte, error) {
	type plain Permission
	return json.Marshal(struct {
		plain
		CreatedAt Timestamp `json:"createdAt"`
		UpdatedAt Timestamp `json:"updatedAt"`
	}{plain(p), Stamp(p.CreatedAt), Stamp(p.UpdatedAt)})
}
