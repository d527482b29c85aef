package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// knownVars lists every variable Load reads. A .env key outside this list
// is most likely a misspelling, which in an IAM server could silently leave
// a security setting at its default; it draws a warning.
var knownVars = []string{
	"NODE_ENV", "PORT", "ISSUER_URL", "DATABASE_URL", "DB_SSL_MODE",
	"REDIS_URL", "SECRET_ENCRYPTION_KEY", "SECRET_ENCRYPTION_KEY_PREVIOUS",
	"JWT_ALG", "JWKS_ROTATE_DAYS", "LOGIN_UI_URL", "ADMIN_WEB_ORIGIN",
	"ADMIN_WEB_INTERNAL_ORIGIN", "SESSION_COOKIE_NAME",
	"SESSION_COOKIE_SECURE", "SESSION_COOKIE_DOMAIN", "ONBOARD_AUTO_VERIFY",
	"MIGRATE_ON_START", "EMAIL_FROM", "SMTP_HOST", "SMTP_PORT", "SMTP_USER",
	"SMTP_PASS", "SERVICE_NAME", "LOG_LEVEL", "LOG_REMOTE_URL",
	"LOG_REMOTE_API_KEY", "LOG_REMOTE_BATCH_SIZE",
	"LOG_REMOTE_FLUSH_INTERVAL_MS", "METRICS_ENABLED",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "TRUST_PROXY", "BODY_LIMIT_BYTES",
	"SHUTDOWN_TIMEOUT_SEC", "RATE_WINDOW_SEC", "RATE_MAX",
	"AUTH_RATE_WINDOW_SEC", "AUTH_RATE_MAX", "TOKEN_RATE_WINDOW_SEC",
	"TOKEN_RATE_MAX", "LOGIN_LOCKOUT_THRESHOLD", "LOGIN_LOCKOUT_MINUTES",
	"PASSWORD_HASH_MEMORY_KIB", "PASSWORD_HASH_ITERATIONS",
	"PASSWORD_HASH_PARALLELISM", "PASSWORD_HASH_CONCURRENCY",
	"WEBHOOK_ALLOW_PRIVATE_TARGETS", "AUDIT_RETENTION_DAYS",
}

// readSources fills l.vars from environ and dir/.env. A variable present
// in environ wins over the file, even when it is empty.
func (l *loader) readSources(environ []string, dir string) error {
	l.vars = parseEnviron(environ)
	file, err := readDotEnv(filepath.Join(dir, ".env"))
	if err != nil {
		return err
	}
	if file == nil {
		return nil
	}
	if !file.ok {
		l.fail(".env", file.reason)
		return nil
	}
	for key, value := range file.vars {
		if _, inEnv := l.vars[key]; !inEnv {
			l.vars[key] = value
		}
	}
	l.warnUnknown(file.vars)
	return nil
}

// parseEnviron turns KEY=VALUE entries into a map; the last entry of a
// repeated key wins, as it does for os.Getenv.
func parseEnviron(environ []string) map[string]string {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		key, value, ok := strings.Cut(kv, "=")
		if ok && key != "" {
			vars[key] = value
		}
	}
	return vars
}

// dotEnv is the outcome of reading a .env file: its variables, or the
// reason it cannot be used.
type dotEnv struct {
	vars   map[string]string
	ok     bool
	reason string
}

// readDotEnv parses the file at path. A missing file yields nil; a file
// that cannot be read is an error. Syntax errors are reported without the
// parser's message, which can quote a value.
func readDotEnv(path string) (*dotEnv, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	vars, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		return &dotEnv{reason: "cannot be parsed: check for an unterminated " +
			"quote (values follow dotenv syntax, one NAME=value per line)"}, nil
	}
	for key := range vars {
		if !validVarName(key) {
			return &dotEnv{reason: "has a line that is not NAME=value " +
				"(names are letters, digits and underscores)"}, nil
		}
	}
	return &dotEnv{vars: vars, ok: true}, nil
}

// validVarName reports whether s is a portable environment variable name.
func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch != '_' && !isAlnum(ch) {
			return false
		}
	}
	return true
}

func isAlnum(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' ||
		ch >= '0' && ch <= '9'
}

// warnUnknown warns about every .env key that is not a known variable,
// suggesting the nearest known name when one is close.
func (l *loader) warnUnknown(file map[string]string) {
	known := make(map[string]bool, len(knownVars))
	for _, name := range knownVars {
		known[name] = true
	}
	keys := make([]string, 0, len(file))
	for key := range file {
		if !known[key] {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		fix := "remove it from .env"
		if near := nearestVar(key); near != "" {
			fix = "did you mean " + near + "? rename it, or remove it from .env"
		}
		l.warn(key, "is set in .env but is not a Cerberus IAM variable, "+
			"so it has no effect", fix)
	}
}

// nearestVar returns the known variable closest to key by edit distance,
// or "" when none is within three edits.
func nearestVar(key string) string {
	best, bestDist := "", 4
	upper := strings.ToUpper(key)
	for _, name := range knownVars {
		if d := editDistance(upper, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
