package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse/gatehouse/internal/loadgen"
)

// With GATEHOUSE_LOAD_TEST_SERVER=1 the test binary stands in for the gatehouse server, so that
// -server is tested end to end without building cmd/gatehouse.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_LOAD_TEST_SERVER") == "1" {
		os.Exit(fakeServer())
	}
	os.Exit(m.Run())
}

func fakeServer() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {})
	srv := &http.Server{Addr: os.Getenv("GATEHOUSE_HTTP_ADDR"), Handler: mux}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
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

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-c", "abc"}, `invalid value "abc" for flag -c`},
		{[]string{"-c", "0"}, "-c 0: must be between 1 and 4096"},
		{[]string{"-c", "5000"}, "-c 5000: must be between 1 and 4096"},
		{[]string{"-rate", "-5"}, "-rate -5: must be between 0"},
		{[]string{"-rate", "NaN"}, "-rate NaN"},
		{[]string{"-rate", "fast"}, `invalid value "fast" for flag -rate`},
		{[]string{"-d", "10"}, `invalid value "10" for flag -d`},
		{[]string{"-d", "0s"}, "-d 0s: must be positive"},
		{[]string{"-d", "11m"}, "-d 11m0s: must be positive and at most 10m0s"},
		{[]string{"-warmup", "-1s"}, "-warmup -1s"},
		{[]string{"-timeout", "0s"}, "-timeout 0s: must be positive"},
		{[]string{"-workload", "signup2"}, `-workload: unknown workload "signup2" (known: ` + strings.Join(loadgen.Names(loadgen.Builtin()), ", ") + ")"},
		{[]string{"-url", "http://example.com"}, "not a loopback address"},
		{[]string{"-url", "http://192.168.1.10:8080"}, "-allow-remote"},
		{[]string{"-url", "127.0.0.1:8080"}, "-url"},
		{[]string{"-url", "http://127.0.0.1:1", "-server", "./gatehouse"}, "-url and -server exclude each other"},
		{[]string{"-server-env", "A=1"}, "-server-env needs -server"},
		{[]string{"-server", "./gatehouse", "-server-env", "NOEQUALS"}, "want KEY=VALUE"},
		{[]string{"-server", "./gatehouse", "-server-env", "GATEHOUSE_HTTP_ADDR=:9"}, "picks the listen address"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"health"}, `unexpected argument "health"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var usage strings.Builder
			_, err := parseFlags(tt.args, loadgen.Builtin(), &usage)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if usage.Len() != 0 {
				t.Errorf("usage printed for a mistake:\n%s", usage.String())
			}
		})
	}
}

func TestParseFlagsGood(t *testing.T) {
	cfg, err := parseFlags([]string{"-workload", "notfound", "-rate", "2000", "-c", "128", "-d", "3s", "-warmup", "0s", "-json"},
		loadgen.Builtin(), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.workload.Name != "notfound" || cfg.rate != 2000 || cfg.concurrency != 128 || !cfg.json ||
		cfg.target.String() != "http://127.0.0.1:8080" || cfg.server != "" {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-url", "http://example.com", "-allow-remote"}, loadgen.Builtin(), &strings.Builder{})
	if err != nil || cfg.target.Host != "example.com" {
		t.Errorf("-allow-remote: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-server", "./bin/gatehouse", "-server-env", "A=1", "-server-env", "B=2", "-server-arg", "serve"},
		loadgen.Builtin(), &strings.Builder{})
	if err != nil || strings.Join(cfg.serverEnv, ",") != "A=1,B=2" || strings.Join(cfg.serverArgs, ",") != "serve" || cfg.target != nil {
		t.Errorf("-server: %+v, %v", cfg, err)
	}
}

func TestRunHelpAndList(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"gatehouse-load", "-h"}, nil, &out, &out); err != nil {
		t.Errorf("-h: %v", err)
	}
	if !strings.Contains(out.String(), "usage: gatehouse-load") || !strings.Contains(out.String(), "-allow-remote") {
		t.Errorf("-h printed:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"gatehouse-load", "-list"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"health ", "ready ", "notfound ", "status "} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("-list lacks %s:\n%s", name, out.String())
		}
	}
	if _, err := parseFlags([]string{"-h"}, loadgen.Builtin(), &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseFlags(-h) = %v, want flag.ErrHelp", err)
	}
}

func TestRunAgainstURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	var out strings.Builder
	err := run(context.Background(), []string{"gatehouse-load", "-url", srv.URL, "-workload", "notfound", "-c", "2", "-d", "200ms", "-warmup", "0s"}, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"workload        notfound\n", "errors          none\n", "-workload notfound -c 2 -d 200ms -warmup 0s\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "server CPU") {
		t.Errorf("server figures for a server the harness did not start:\n%s", out.String())
	}

	// Nothing answering as expected fails the command, after the report.
	out.Reset()
	err = run(context.Background(), []string{"gatehouse-load", "-url", srv.URL, "-workload", "health", "-c", "1", "-d", "200ms", "-warmup", "0s"}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "no request in the measured window got the expected status") {
		t.Errorf("run = %v, want a failure", err)
	}
	if !strings.Contains(out.String(), "unexpected status 404") {
		t.Errorf("report lacks the 404s:\n%s", out.String())
	}
}

func TestRunSpawnsServer(t *testing.T) {
	if _, err := loadgen.ReadProcUsage(0); err != nil {
		t.Skipf("spawn mode is measured through /proc: %v", err)
	}
	var out, progress strings.Builder
	args := []string{"gatehouse-load", "-server", os.Args[0], "-server-env", "GATEHOUSE_LOAD_TEST_SERVER=1",
		"-c", "2", "-d", "200ms", "-warmup", "50ms", "-json"}
	if err := run(context.Background(), args, []string{"PATH=" + os.Getenv("PATH")}, &out, &progress); err != nil {
		t.Fatalf("run: %v\n%s%s", err, progress.String(), out.String())
	}
	if !strings.Contains(progress.String(), "ready at http://127.0.0.1:") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var rep struct {
		Command  string
		Target   string
		Requests int64
		OK       int64
		Server   struct {
			Command          string
			PID              int
			StartupToReadyNS int64   `json:"startup_to_ready_ns"`
			IdleRSSBytes     int64   `json:"idle_rss_bytes"`
			PeakRSSBytes     int64   `json:"peak_rss_bytes"`
			CPUSeconds       float64 `json:"cpu_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, out.String())
	}
	if rep.OK == 0 || rep.OK != rep.Requests {
		t.Errorf("requests %d, ok %d", rep.Requests, rep.OK)
	}
	s := rep.Server
	if s.Command != os.Args[0] || s.PID <= 0 || s.StartupToReadyNS <= 0 || s.IdleRSSBytes <= 0 || s.PeakRSSBytes < s.IdleRSSBytes {
		t.Errorf("server figures %+v", s)
	}
	if !strings.HasPrefix(rep.Target, "http://127.0.0.1:") || !strings.Contains(rep.Command, "-server-env GATEHOUSE_LOAD_TEST_SERVER=1") {
		t.Errorf("target %s, command %s", rep.Target, rep.Command)
	}
}

func TestCommandLineQuotes(t *testing.T) {
	got := commandLine([]string{"/usr/local/bin/gatehouse-load", "-server-env", "GATEHOUSE_DATABASE_URL=postgres://u@h/db?sslmode=disable", "-server-log", "it's here", ""})
	want := `gatehouse-load -server-env 'GATEHOUSE_DATABASE_URL=postgres://u@h/db?sslmode=disable' -server-log 'it'\''s here' ''`
	if got != want {
		t.Errorf("commandLine = %s\nwant           %s", got, want)
	}
	got = commandLine([]string{"gatehouse-load", "-server-env", "GATEHOUSE_DATABASE_URL=postgres://gh:s3cret@127.0.0.1/db", "-server-env", "GATEHOUSE_REDIS_URL=redis://:pw@127.0.0.1:6379/0"})
	want = `gatehouse-load -server-env GATEHOUSE_DATABASE_URL=postgres://gh:xxxxx@127.0.0.1/db -server-env GATEHOUSE_REDIS_URL=redis://:xxxxx@127.0.0.1:6379/0`
	if got != want {
		t.Errorf("commandLine = %s\nwant           %s", got, want)
	}
}

func TestCheckOutcome(t *testing.T) {
	tests := []struct {
		name string
		res  loadgen.Result
		want string // empty: success
	}{
		{"all good", loadgen.Result{Requests: 10, OK: 10}, ""},
		{"some errors are a finding", loadgen.Result{Requests: 10, OK: 1}, ""},
		{"nothing as expected", loadgen.Result{Requests: 10}, "no request in the measured window"},
		{"interrupted", loadgen.Result{Requests: 10, OK: 10, Interrupted: true}, "interrupted after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOutcome(&tt.res)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("checkOutcome = %v, want %q", err, tt.want)
			}
		})
	}
}
