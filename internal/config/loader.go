package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxInt32 bounds the variables the contract only bounds from below, so
// that durations built from them cannot overflow.
const maxInt32 = math.MaxInt32

// loader reads variables and collects problems and warnings. Its helpers
// never stop on a bad value: they record it and return the default, so one
// pass reports everything.
type loader struct {
	vars     map[string]string
	prod     bool
	read     map[string]bool // variables looked up, for the package tests
	failed   map[string]bool // variables with a problem already
	problems []Problem
	warnings []Warning
}

func newLoader() *loader {
	return &loader{read: map[string]bool{}, failed: map[string]bool{}}
}

// load reads the sources and every group of variables in turn.
func (l *loader) load(environ []string, dir string) (*Config, error) {
	if err := l.readSources(environ, dir); err != nil {
		return nil, err
	}
	c := &Config{}
	l.loadEnv(c)
	l.loadHTTP(c)
	l.loadStorage(c, dir)
	if err := l.loadSecrets(c, dir); err != nil {
		return nil, err
	}
	l.loadAuth(c)
	l.loadMail(c)
	l.loadTelemetry(c)
	l.loadLimits(c)
	return c, nil
}

// lookup returns the trimmed value of name and whether it is set. An empty
// value counts as unset.
func (l *loader) lookup(name string) (string, bool) {
	l.read[name] = true
	v := strings.TrimSpace(l.vars[name])
	return v, v != ""
}

// fail records a problem with name.
func (l *loader) fail(name, reason string) {
	l.failed[name] = true
	l.problems = append(l.problems, Problem{Name: name, Reason: reason})
}

// warn records a warning about name.
func (l *loader) warn(name, reason, fix string) {
	l.warnings = append(l.warnings, Warning{Name: name, Reason: reason, Fix: fix})
}

// refuse records a problem in production only, and only when name has no
// problem yet (a value that does not parse is reported once).
func (l *loader) refuse(name, reason string) {
	if l.prod && !l.failed[name] {
		l.fail(name, reason)
	}
}

// advise records a preflight warning; preflight advice applies to
// production only.
func (l *loader) advise(name, reason, fix string) {
	if l.prod && !l.failed[name] {
		l.warn(name, reason, fix)
	}
}

// required returns the value of a variable that has a default outside
// production only. In production an unset variable is refused; the second
// result reports whether the variable was set.
func (l *loader) required(name string) (string, bool) {
	v, ok := l.lookup(name)
	if !ok {
		l.refuse(name, "must be set in production")
	}
	return v, ok
}

// str returns the value of name, or def when it is unset.
func (l *loader) str(name, def string) string {
	if v, ok := l.lookup(name); ok {
		return v
	}
	return def
}

// flag parses a boolean: true/false, 1/0 or yes/no in any case.
func (l *loader) flag(name string, def bool) bool {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	l.fail(name, "must be true or false (1/0 and yes/no are accepted too)")
	return def
}

// integer parses a decimal integer within [lo, hi].
func (l *loader) integer(name string, def, lo, hi int) int {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

// oneOf matches the value of name against allowed, ignoring case, and
// returns the allowed spelling. An unset or invalid value yields def.
func (l *loader) oneOf(name, def string, allowed ...string) string {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	l.fail(name, "must be "+orList(allowed))
	return def
}

// orList renders ["a","b","c"] as "a, b or c".
func orList(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	last := len(values) - 1
	return strings.Join(values[:last], ", ") + " or " + values[last]
}

// list splits a comma-separated value into its non-empty, trimmed entries.
func list(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
