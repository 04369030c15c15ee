package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apitest"
	"github.com/gatehouse/gatehouse/internal/config"
)

// logBuffer collects the JSON log lines the server writes, safely for its concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Bytes())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func testConfig() *config.Config {
	return &config.Config{
		Env:       config.EnvDevelopment,
		PublicURL: "http://localhost:8080",
		HTTP:      config.HTTP{MaxBodyBytes: 64 << 10},
		Metrics:   config.Metrics{Enabled: true},
	}
}

// fixedClock is a clock tests move by hand.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a Server behind a real HTTP listener, with its logs.
type testEnv struct {
	srv  *Server
	ts   *httptest.Server
	logs *logBuffer
	api  *apitest.Client
}

// newTestEnv starts the real Server built from deps (Logger and Config filled in when unset) on a
// loopback listener. edit, when set, may add test-only routes before the listener starts.
func newTestEnv(t *testing.T, deps Deps, edit func(s *Server)) *testEnv {
	t.Helper()
	logs := &logBuffer{}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if deps.Config == nil {
		deps.Config = testConfig()
	}
	s := New(deps)
	if edit != nil {
		edit(s)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &testEnv{srv: s, ts: ts, logs: logs, api: apitest.NewClient(t, ts.URL)}
}

// serve runs one request through the Server in process.
func serve(s *Server, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Result()
}

func newTestServer(t *testing.T, cfg *config.Config) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg == nil {
		cfg = testConfig()
	}
	s := New(Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Config: cfg,
	})
	return s, logs
}
