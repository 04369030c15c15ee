package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMain lets the test binary act as the gatehouse program itself, so that the signal tests can
// start a real process without building a separate binary.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"gatehouse"}, strings.Fields(os.Getenv("GATEHOUSE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is an io.Writer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// backend is one way to run the server in tests: its settings.
type backend struct {
	name string
	env  map[string]string
}

// backends returns the embedded default and, when enabled, PostgreSQL + Redis, each in fresh
// isolation (a temporary data dir; a new schema and key prefix).
func backends(t *testing.T) []backend {
	t.Helper()
	list := []backend{{name: "sqlite+memory", env: map[string]string{}}}
	pgURL, redisURL := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"), os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if pgURL == "" || redisURL == "" {
		t.Log("PostgreSQL+Redis run skipped: set GATEHOUSE_TEST_POSTGRES_URL and GATEHOUSE_TEST_REDIS_URL to enable it (see docs/development.md)")
		return list
	}
	list = append(list, backend{name: "postgres+redis", env: map[string]string{
		"GATEHOUSE_DATABASE_URL":     freshSchemaURL(t, pgURL),
		"GATEHOUSE_REDIS_URL":        redisURL,
		"GATEHOUSE_REDIS_KEY_PREFIX": fmt.Sprintf("gh_e2e_%d:", time.Now().UnixNano()),
	}})
	return list
}

// freshSchemaURL creates a schema that is dropped when the test ends and returns a URL whose
// connections use it.
func freshSchemaURL(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to GATEHOUSE_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("gh_e2e_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// envFunc turns a map into a getenv function, with test defaults underneath.
func envFunc(t *testing.T, env map[string]string) func(string) string {
	t.Helper()
	full := map[string]string{
		"GATEHOUSE_DATA_DIR":           t.TempDir(),
		"GATEHOUSE_HTTP_ADDR":          "127.0.0.1:0",
		"GATEHOUSE_LOG_FORMAT":         "json",
		"GATEHOUSE_LOG_LEVEL":          "info",
		"GATEHOUSE_JOBS_POLL_INTERVAL": "100ms",
	}
	for k, v := range env {
		full[k] = v
	}
	return func(k string) string { return full[k] }
}

// testServer is a gatehouse started in-process with run().
type testServer struct {
	URL    string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer runs `gatehouse serve` in-process and waits until it listens.
func startServer(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	getenv := envFunc(t, env)
	go func() { s.done <- run(ctx, []string{"gatehouse", "serve"}, getenv, s.logs, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if addr := readyAddr(s.logs.String()); addr != "" {
			s.URL = "http://" + addr
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err // for the cleanup
			t.Fatalf("server exited before it was ready: %v\nlogs:\n%s", err, s.logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("server not ready after 30s; logs:\n%s", s.logs)
	return nil
}

// stop cancels the server's context (as SIGTERM does) and returns run's result.
func (s *testServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop within 30s")
		return nil
	}
}

// readyAddr finds the listening address in the JSON log line "gatehouse ready".
func readyAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gatehouse ready" {
			return line.Addr
		}
	}
	return ""
}

// waitListenerClosed polls until nothing accepts connections at addr any more.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("listener at %s still open", addr)
}
