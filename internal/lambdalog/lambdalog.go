// Package lambdalog builds the logger a Lambda's main passes down: slog's
// JSON handler on stdout, at the level Lambda's advanced logging controls
// set for the function's application logs.
//
// Lambda passes that level in AWS_LAMBDA_LOG_LEVEL, one of TRACE, DEBUG,
// INFO, WARN, ERROR or FATAL, and with it JSON logs, which it filters by
// their "level" key. Filtering here as well spares the function the
// records Lambda would drop, and honours DEBUG, which slog's default of
// INFO would otherwise hide. TRACE and FATAL, which slog has no names for,
// are the levels four below DEBUG and four above ERROR, and are written
// under Lambda's names so that Lambda reads them right.
//
// Records at INFO, the embedded-metric-format lines among them, are
// dropped at WARN and above, by Lambda as by this logger.
package lambdalog

import (
	"io"
	"log/slog"
	"strings"
)

// EnvLevel is the variable in which Lambda passes the application log level.
const EnvLevel = "AWS_LAMBDA_LOG_LEVEL"

// Levels Lambda has and slog does not name.
const (
	LevelTrace = slog.LevelDebug - 4
	LevelFatal = slog.LevelError + 4
)

// Level returns the level AWS_LAMBDA_LOG_LEVEL names, in any case, and
// INFO, Lambda's default, when it is unset or names no level Lambda has.
func Level(getenv func(string) string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(getenv(EnvLevel))) {
	case "TRACE":
		return LevelTrace
	case "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	case "FATAL":
		return LevelFatal
	}
	return slog.LevelInfo
}

// New returns a JSON logger writing to w at the level getenv's
// AWS_LAMBDA_LOG_LEVEL names (see Level).
func New(w io.Writer, getenv func(string) string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       Level(getenv),
		ReplaceAttr: lambdaLevelNames,
	}))
}

// lambdaLevelNames writes TRACE and FATAL records under Lambda's names,
// where slog would write DEBUG-4 and ERROR+4, which Lambda reads as INFO.
func lambdaLevelNames(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 || a.Key != slog.LevelKey {
		return a
	}
	switch l, _ := a.Value.Any().(slog.Level); l {
	case LevelTrace:
		a.Value = slog.StringValue("TRACE")
	case LevelFatal:
		a.Value = slog.StringValue("FATAL")
	}
	return a
}
