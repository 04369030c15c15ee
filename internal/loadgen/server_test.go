package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testServerEnv switches the test binary into a stand-in for the gatehouse server, so that spawn mode
// is tested without building cmd/gatehouse.
const testServerEnv = "GATEHOUSE_LOAD_TEST_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(testServerEnv) {
	case "":
		os.Exit(m.Run())
	case "fail":
		fmt.Fprintln(os.Stderr, "gatehouse: config: GATEHOUSE_ENV: must be development or production")
		os.Exit(2)
	default:
		os.Exit(fakeServer())
	}
}

// fakeServer behaves like gatehouse as the harness sees it: it listens on GATEHOUSE_HTTP_ADDR, uses
// GATEHOUSE_DATA_DIR, becomes ready after a few probes, and exits 0 on SIGTERM.
func fakeServer() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(os.Getenv("GATEHOUSE_DATA_DIR"), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var probes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		if probes.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		wd, _ := os.Getwd()
		_ = json.NewEncoder(w).Encode(map[string]any{"env": os.Environ(), "wd": wd})
	})
	srv := &http.Server{Addr: os.Getenv("GATEHOUSE_HTTP_ADDR"), Handler: mux}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Println("fake server listening on", srv.Addr)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, err)
		return 1
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return 1
	}
	return 0
}

func testSpec(t *testing.T, mode string) ServerSpec {
	t.Helper()
	return ServerSpec{
		Path: os.Args[0],
		BaseEnv: []string{
			"PATH=" + os.Getenv("PATH"),
			"KEEP_ME=1",
			"GATEHOUSE_DATABASE_URL=postgres://inherited", // must not reach the server
			"REDIS_URL=redis://inherited",
		},
		Env:          []string{testServerEnv + "=" + mode, "GATEHOUSE_ENV=production"},
		ReadyTimeout: 30 * time.Second,
	}
}

func TestStartServer(t *testing.T) {
	if _, err := ReadProcUsage(0); err != nil {
		t.Skipf("spawn mode is measured through /proc: %v", err)
	}
	srv, err := StartServer(context.Background(), testSpec(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_, _ = srv.Stop(5 * time.Second)
		}
	})
	if err := CheckTarget(srv.URL, false); err != nil {
		t.Errorf("server URL: %v", err)
	}
	if srv.StartupToReady <= 0 || srv.PID <= 0 {
		t.Errorf("startup %s, pid %d", srv.StartupToReady, srv.PID)
	}
	if fi, err := os.Stat(srv.DataDir); err != nil || !fi.IsDir() {
		t.Errorf("data dir %s: %v", srv.DataDir, err)
	}

	resp, err := http.Get(srv.URL.JoinPath("/env").String())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env []string
		WD  string
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(got.Env, "\n") + "\n"
	for _, want := range []string{"KEEP_ME=1\n", "GATEHOUSE_ENV=production\n", "GATEHOUSE_HTTP_ADDR=" + srv.URL.Host + "\n", "GATEHOUSE_DATA_DIR=" + srv.DataDir + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("server environment lacks %q:\n%s", want, env)
		}
	}
	for _, unwanted := range []string{"inherited"} {
		if strings.Contains(env, unwanted) {
			t.Errorf("server environment has an inherited gatehouse setting:\n%s", env)
		}
	}
	if !strings.HasPrefix(srv.DataDir, got.WD) {
		t.Errorf("server runs in %s, not in its own directory around %s", got.WD, srv.DataDir)
	}

	u, err := srv.Usage()
	if err != nil || u.RSS <= 0 {
		t.Errorf("usage %+v, %v", u, err)
	}
	res, err := Run(context.Background(), Options{
		Workload: Builtin()[0], BaseURL: srv.URL, Concurrency: 2, Duration: testWindow, ServerPID: srv.PID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Server == nil || res.Server.PeakRSS < u.RSS {
		t.Errorf("ok %d, server %+v (idle RSS %d)", res.OK, res.Server, u.RSS)
	}

	shutdown, err := srv.Stop(10 * time.Second)
	stopped = true
	if err != nil {
		t.Errorf("stop: %v", err)
	}
	if shutdown <= 0 {
		t.Errorf("shutdown took %s", shutdown)
	}
	if _, err := os.Stat(srv.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir left behind: %v", err)
	}
	if _, err := srv.Stop(time.Second); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestStartServerThatFails(t *testing.T) {
	_, err := StartServer(context.Background(), testSpec(t, "fail"))
	if err == nil {
		t.Fatal("a server that exits at once was reported ready")
	}
	for _, want := range []string{"exited before it was ready", "exit status 2", "GATEHOUSE_ENV: must be development or production"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestStartServerBadSpec(t *testing.T) {
	tests := []struct {
		name string
		spec ServerSpec
		want string
	}{
		{"missing binary", ServerSpec{Path: "/nonexistent/gatehouse"}, "no such file"},
		{"directory", ServerSpec{Path: os.TempDir()}, "is a directory"},
		{"listen address", ServerSpec{Path: os.Args[0], Env: []string{"GATEHOUSE_HTTP_ADDR=:80"}}, "picks the listen address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := StartServer(context.Background(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("StartServer = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckServerEnv(t *testing.T) {
	tests := []struct {
		kv   string
		want string
	}{
		{"GATEHOUSE_DATABASE_URL=postgres://x", ""},
		{"EMPTY=", ""},
		{"NOEQUALS", "want KEY=VALUE"},
		{"=value", "want KEY=VALUE"},
		{"BAD KEY=1", "white space"},
		{"GATEHOUSE_HTTP_ADDR=127.0.0.1:9", "GATEHOUSE_HTTP_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.kv, func(t *testing.T) {
			err := CheckServerEnv([]string{tt.kv})
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckServerEnv(%q) = %v, want %q", tt.kv, err, tt.want)
			}
		})
	}
}
