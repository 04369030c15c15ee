// Package logging builds the process's structured logger (log/slog): JSON in production, text in
// development, to standard output or to a file rotated by size and age. It also owns Secret, the type
// that keeps passwords, tokens and codes out of log lines.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/gatehouse/gatehouse/internal/config"
)

// New returns the logger described by cfg. The format is cfg.Format, or when that is empty JSON in
// production and text otherwise. When cfg.File is set, lines go to that file (rotated at
// cfg.MaxSizeMB, old files compressed when cfg.Compress, deleted after cfg.MaxAgeDays or beyond
// cfg.MaxBackups) instead of stdout; New creates the file's directory and fails at once when the file
// cannot be written. The closer closes the file (it does nothing for stdout); close it last.
func New(cfg config.Log, env string, stdout io.Writer) (*slog.Logger, io.Closer, error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, nil, err
	}
	format := strings.ToLower(cfg.Format)
	if format == "" {
		format = "text"
		if env == config.EnvProduction {
			format = "json"
		}
	}

	var out io.Writer = stdout
	var closer io.Closer = nopCloser{}
	if cfg.File != "" {
		if err := checkWritable(cfg.File); err != nil {
			return nil, nil, err
		}
		lj := &lumberjack.Logger{
			Filename:   cfg.File,
			MaxSize:    cfg.MaxSizeMB,
			MaxAge:     cfg.MaxAgeDays,
			MaxBackups: cfg.MaxBackups,
			Compress:   cfg.Compress,
		}
		out, closer = lj, lj
	}

	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(out, opts)
	case "text":
		h = slog.NewTextHandler(out, opts)
	default:
		return nil, nil, fmt.Errorf("log format %q is not one of json, text", cfg.Format)
	}
	return slog.New(h), closer, nil
}

// ParseLevel reads debug, info, warn or error (any case); empty means info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
}

// checkWritable creates the log file's directory and opens the file for appending, so that a wrong
// path stops start-up with a clear error instead of losing the logs. The rotating writer opens the
// file lazily, on the first line, with the same mode.
func checkWritable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Secret is a password, token, one-time code or other credential. It logs, prints and formats as
// "[redacted]"; use string(s) where the value itself is needed.
type Secret string

// redacted is what a Secret shows instead of its value.
const redacted = "[redacted]"

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// String implements fmt.Stringer, so %s and %v print "[redacted]".
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, so %#v prints "[redacted]".
func (Secret) GoString() string { return redacted }

// MarshalText keeps the value out of JSON and other text encodings of structs that hold a Secret
// (slog encodes a struct attribute with encoding/json, which does not consult LogValue on fields).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var (
	_ slog.LogValuer = Secret("")
	_ fmt.Stringer   = Secret("")
)
