package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// SecretPrefix starts every webhook secret.
const SecretPrefix = "whsec_"

// NewSecret returns a new endpoint secret: whsec_ and 32 random bytes in
// unpadded base64url (43 characters).
func NewSecret() string {
	return SecretPrefix + crypto.NewToken()
}

// Sign returns the X-Cerberus-Signature value of body sent at t:
// "t=<unix seconds>" followed by one "v1=<hex HMAC-SHA256>" per secret, each
// keyed with the secret string over "<t>.<body>". During a rotation the
// current and the previous secret both sign, current first.
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
		mac.Write(body)
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}
