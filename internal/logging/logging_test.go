package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name   string
		format string
		env    string
		json   bool
	}{
		{"auto development", "", config.EnvDevelopment, false},
		{"auto production", "", config.EnvProduction, true},
		{"json in development", "json", config.EnvDevelopment, true},
		{"text in production", "text", config.EnvProduction, false},
		{"upper case", "JSON", config.EnvDevelopment, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			logger, closer, err := New(config.Log{Level: "info", Format: tt.format}, tt.env, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			logger.Info("hello", "request_id", "r1")
			var m map[string]any
			isJSON := json.Unmarshal(out.Bytes(), &m) == nil
			if isJSON != tt.json {
				t.Fatalf("JSON = %v, want %v: %s", isJSON, tt.json, out.String())
			}
			if isJSON && (m["msg"] != "hello" || m["request_id"] != "r1" || m["level"] != "INFO") {
				t.Errorf("line = %v", m)
			}
			if !isJSON && !strings.Contains(out.String(), "msg=hello request_id=r1") {
				t.Errorf("line = %q", out.String())
			}
		})
	}
}

func TestLevel(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  []string // messages that get through, of debug, info, warn, error
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"info", []string{"i", "w", "e"}},
		{"WARN", []string{"w", "e"}},
		{"error", []string{"e"}},
	} {
		t.Run(tt.level, func(t *testing.T) {
			var out bytes.Buffer
			logger, _, err := New(config.Log{Level: tt.level, Format: "json"}, "", &out)
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("d")
			logger.Info("i")
			logger.Warn("w")
			logger.Error("e")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatal(err)
				}
				got = append(got, m["msg"].(string))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	if _, _, err := New(config.Log{Level: "loud"}, "", &bytes.Buffer{}); err == nil || err.Error() != `log level "loud" is not one of debug, info, warn, error` {
		t.Errorf("bad level: %v", err)
	}
	if _, _, err := New(config.Log{Format: "xml"}, "", &bytes.Buffer{}); err == nil || err.Error() != `log format "xml" is not one of json, text` {
		t.Errorf("bad format: %v", err)
	}
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := New(config.Log{File: filepath.Join(blocker, "g.log")}, "", &bytes.Buffer{}); err == nil || !strings.HasPrefix(err.Error(), "log file: ") {
		t.Errorf("unwritable file: %v", err)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "nested", "gatehouse.log")
	var stdout bytes.Buffer
	cfg := config.Log{Level: "info", File: path, MaxSizeMB: 1, MaxAgeDays: 0, MaxBackups: 0, Compress: false}
	logger, closer, err := New(cfg, config.EnvProduction, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the log file is not created at start (mode 0600): %v %v", info, err)
	}
	logger.Info("first", "n", 1)

	// Past MaxSizeMB the file is rotated: the old one is renamed beside it.
	pad := strings.Repeat("x", 1024)
	for i := range 1100 {
		logger.Info("fill", "i", i, "pad", pad)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("logs went to stdout too: %q", stdout.String()[:min(stdout.Len(), 200)])
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("after 1.1 MB with a 1 MB limit the directory holds %d files, want the log and one backup", len(entries))
	}
	var all []byte
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 1<<20 {
			t.Errorf("%s holds %d bytes, more than the 1 MB limit", e.Name(), len(data))
		}
		all = append(all, data...)
	}
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	if len(lines) != 1101 {
		t.Errorf("%d lines in the files, want 1101", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Errorf("production logs to a file are not JSON: %q", lines[0])
	}
}

func TestStdoutCloser(t *testing.T) {
	_, closer, err := New(config.Log{}, "", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := closer.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestSecret(t *testing.T) {
	const value = "hunter2-correct-horse"
	s := Secret(value)

	type credentials struct {
		User     string
		Password Secret
	}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			logger, _, err := New(config.Log{Level: "debug", Format: format}, "", &out)
			if err != nil {
				t.Fatal(err)
			}
			logger.Info("sign in", "password", s)
			logger.Info("sign in", slog.Any("code", s), slog.Group("user", "token", s))
			logger.With("token", s).WithGroup("g").Info("with", "refresh", s)
			logger.Info("struct", "creds", credentials{User: "ann", Password: s})
			logger.Info("pointer", "creds", &credentials{User: "ann", Password: s})
			logger.Info("formatted", "msg", fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, credentials{Password: s}))
			if strings.Contains(out.String(), value) {
				t.Errorf("the secret appears in the %s output:\n%s", format, out.String())
			}
			if got := strings.Count(out.String(), "[redacted]"); got < 10 {
				t.Errorf("[redacted] appears %d times:\n%s", got, out.String())
			}
		})
	}
	data, err := json.Marshal(credentials{Password: s})
	if err != nil || strings.Contains(string(data), value) {
		t.Errorf("json.Marshal = %s, %v", data, err)
	}
	if string(s) != value {
		t.Errorf("string(s) = %q: the value must stay reachable on purpose", string(s))
	}
}
