package telemetry

import (
	"fmt"
	"log/slog"
	"strings"
)

// The two levels slog lacks. Together with slog's own levels they give the
// order trace < debug < info < warn < error < fatal.
const (
	// LevelTrace is for very detailed diagnostics, below debug.
	LevelTrace = slog.Level(-8)
	// LevelFatal is for errors after which the process stops, above error.
	LevelFatal = slog.Level(12)
)

// levelNames maps the configuration spelling of each level to its value.
var levelNames = map[string]slog.Level{
	"trace": LevelTrace,
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
	"fatal": LevelFatal,
}

// ParseLevel returns the level named s (trace, debug, info, warn, error or
// fatal, in any case). Any other name is an error.
func ParseLevel(s string) (slog.Level, error) {
	l, ok := levelNames[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("unknown log level %q: want one of "+
			"trace, debug, info, warn, error, fatal", s)
	}
	return l, nil
}

// levelName renders a level as the upper-case name an operator expects,
// including TRACE and FATAL, which slog would print as DEBUG-4 and ERROR+4.
func levelName(l slog.Level) string {
	switch l {
	case LevelTrace:
		return "TRACE"
	case LevelFatal:
		return "FATAL"
	}
	return l.String()
}

// renderLevel is a ReplaceAttr function for the built-in handlers that
// writes the level with [levelName].
func renderLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 || a.Key != slog.LevelKey {
		return a
	}
	if l, ok := a.Value.Any().(slog.Level); ok {
		a.Value = slog.StringValue(levelName(l))
	}
	return a
}
