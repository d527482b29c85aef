package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Each validator returns the reason a value is unacceptable, or "" when it
// is fine. Reasons never quote the value.

// checkHTTPURL accepts an absolute http or https URL without credentials
// or fragment.
func checkHTTPURL(raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.Opaque != "" {
		return nil, "must be an absolute http or https URL"
	}
	if u.User != nil {
		return nil, "must not contain credentials"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, "must not have a fragment"
	}
	return u, ""
}

// checkIssuer adds the issuer's own rules to checkHTTPURL: no query and no
// trailing slash, because every endpoint URL is the issuer plus a path.
func checkIssuer(raw string) (*url.URL, string) {
	u, reason := checkHTTPURL(raw)
	switch {
	case reason != "":
		return nil, reason
	case u.RawQuery != "" || u.ForceQuery:
		return nil, "must not have a query"
	case strings.HasSuffix(u.Path, "/"):
		return nil, "must not end with a slash"
	}
	return u, ""
}

// checkOrigin accepts scheme://host[:port] with an http or https scheme and
// returns it with a lower-case host, the form browsers send.
func checkOrigin(raw string) (string, string) {
	if strings.Contains(raw, "*") {
		return "", "must be an exact origin: wildcard patterns are not supported"
	}
	const shape = "must be an origin of the form scheme://host[:port] " +
		"with no path, query or credentials"
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.Opaque != "" {
		return "", shape
	}
	if u.Path != "" || u.User != nil || strings.ContainsAny(raw, "?#") {
		return "", shape
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), ""
}

// checkHost accepts a DNS host name or an IP address, without scheme or
// port.
func checkHost(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return ""
	}
	if !validHostname(s) {
		return "must be a host name or IP address, without scheme or port"
	}
	return ""
}

// validHostname reports whether s is a DNS name of letters, digits and
// hyphens in labels of 1 to 63 characters.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 ||
			label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if label[i] != '-' && !isAlnum(label[i]) {
				return false
			}
		}
	}
	return true
}

// checkCookieName accepts [A-Za-z0-9_-]+.
func checkCookieName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '_' && s[i] != '-' && !isAlnum(s[i]) {
			return "must contain only letters, digits, '_' and '-'"
		}
	}
	return ""
}

// parsePrefix reads an IP address or CIDR prefix. A single address becomes
// a full-length prefix; IPv4-mapped IPv6 addresses are unmapped so that
// they match the peer addresses the HTTP server sees.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// sslModes are the sslmode values a PostgreSQL URL may carry, weakest
// first.
var sslModes = []string{
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full",
}

// sslModeEncrypts reports whether mode refuses unencrypted connections.
func sslModeEncrypts(mode string) bool {
	return mode == "require" || mode == "verify-ca" || mode == "verify-full"
}

// isPostgresURL and isSQLiteURL recognise the DATABASE_URL forms.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") ||
		strings.HasPrefix(s, "postgresql://")
}

func isSQLiteURL(s string) bool {
	return strings.HasPrefix(s, "sqlite:") || strings.HasPrefix(s, "file:")
}

// sqlitePath extracts the file path of a sqlite: or file: URL.
func sqlitePath(s string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "file:")
	p = strings.TrimPrefix(p, "//")
	p, _, _ = strings.Cut(p, "?")
	return p
}

// checkDatabaseURL validates the DATABASE_URL forms, including the pool
// parameters and sslmode of a PostgreSQL URL.
func checkDatabaseURL(raw string) string {
	switch {
	case isSQLiteURL(raw):
		if sqlitePath(raw) == "" {
			return "names no SQLite file"
		}
		return ""
	case isPostgresURL(raw):
		return checkPostgresURL(raw)
	}
	return "must start with postgres://, postgresql://, sqlite: or file:"
}

func checkPostgresURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid PostgreSQL URL"
	}
	q := u.Query()
	if u.Host == "" && q.Get("host") == "" {
		return "names no PostgreSQL host"
	}
	if v := q.Get("sslmode"); v != "" && !slices.Contains(sslModes, v) {
		return "has an sslmode that is not " + orList(sslModes)
	}
	if v := q.Get("connection_limit"); v != "" && !intAtLeast(v, 2) {
		return "has a connection_limit that is not an integer of at least 2 (a background " +
			"job holds a lock connection while it works on another)"
	}
	if v := q.Get("pool_timeout"); v != "" && !intAtLeast(v, 0) {
		return "has a pool_timeout that is not a non-negative integer"
	}
	return ""
}

// checkRedisHost requires a host in a redis:// or rediss:// URL.
func checkRedisHost(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "is not a valid Redis URL"
	}
	if u.Host == "" {
		return "", "names no Redis host"
	}
	return raw, ""
}

// urlSSLMode returns the sslmode parameter of a PostgreSQL URL, if any.
func urlSSLMode(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get("sslmode")
}

// databaseHost returns the host of a PostgreSQL URL, for messages.
func databaseHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Host != "" {
		return u.Host
	}
	return u.Query().Get("host")
}

func intAtLeast(s string, lo int) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= lo && n <= maxInt32
}

// entryReason names the 1-based position of a bad list entry.
func entryReason(i int, what string) string {
	return fmt.Sprintf("entry %d is not %s", i+1, what)
}
