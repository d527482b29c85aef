package oauth

import (
	"encoding/json"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// MarshalJSON writes the client as the admin API shows it, with times in
// RFC 3339 UTC with milliseconds.
func (c Client) MarshalJSON() ([]byte, error) {
	type plain Client
	return json.Marshal(struct {
		plain
		RevokedAt *string `json:"revokedAt"`
		CreatedAt string  `json:"createdAt"`
		UpdatedAt string  `json:"updatedAt"`
	}{plain(c), formatPtr(c.RevokedAt), db.FormatTime(c.CreatedAt), db.FormatTime(c.UpdatedAt)})
}

// MarshalJSON writes the consent with times in RFC 3339 UTC with
// milliseconds.
func (ci ConsentInfo) MarshalJSON() ([]byte, error) {
	type plain ConsentInfo
	return json.Marshal(struct {
		plain
		GrantedAt string `json:"grantedAt"`
		UpdatedAt string `json:"updatedAt"`
	}{plain(ci), db.FormatTime(ci.GrantedAt), db.FormatTime(ci.UpdatedAt)})
}

func formatPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := db.FormatTime(*t)
	return &s
}
