package oauth

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// TestUnreadableKeysDoNotInvalidateTokens checks that a valid access token
// is not called invalid when the key set cannot be read: the caller must
// see a failure of the server, not a reason to discard a good token.
func TestUnreadableKeysDoNotInvalidateTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, nil)
		status, body := e.token(t, c, secret, url.Values{
			"grant_type": {GrantClientCredentials}})
		if status != 200 {
			t.Fatalf("client credentials: %d %v", status, body)
		}
		at := body["access_token"].(string)
		e.p.Keys.invalidate()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.p.verifyAccess(context.Background(), at)
		if err == nil || errors.Is(err, errTokenInvalid) {
			t.Fatalf("verify with an unreadable key set: %v, want a load failure", err)
		}
		_, err = e.p.AuthenticateToken(context.Background(), at)
		if err == nil || errors.Is(err, ErrInvalidBearer) {
			t.Fatalf("authenticate with an unreadable key set: %v, want a load failure", err)
		}
	})
}
