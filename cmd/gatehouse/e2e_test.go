package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apitest"
)

// TestServeEndToEnd starts the real server on each backend and drives the operations endpoints and
// the error conventions through HTTP, validating every exchange against the OpenAPI document.
func TestServeEndToEnd(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			srv := startServer(t, be.env)
			c := apitest.NewClient(t, srv.URL)
			bad := c.AllowInvalidRequests()

			t.Run("liveness", func(t *testing.T) {
				r := c.Get("/health")
				if r.Status != http.StatusOK {
					t.Fatalf("GET /health = %d %s", r.Status, r.Body)
				}
				if id := r.Header.Get("X-Request-ID"); id == "" {
					t.Error("no X-Request-ID on the response")
				}
			})

			t.Run("readiness reports every dependency", func(t *testing.T) {
				r := c.Get("/health/ready")
				if r.Status != http.StatusOK {
					t.Fatalf("GET /health/ready = %d %s", r.Status, r.Body)
				}
				var body struct {
					Status string `json:"status"`
					Checks map[string]struct {
						Status string `json:"status"`
					} `json:"checks"`
				}
				r.JSON(t, &body)
				for _, name := range []string{"database", "ephemeral", "queue", "mail"} {
					if body.Checks[name].Status != "up" {
						t.Errorf("check %s = %q, want up; body %s", name, body.Checks[name].Status, r.Body)
					}
				}
			})

			t.Run("status names the backends", func(t *testing.T) {
				r := c.Get("/api/v1/status")
				if r.Status != http.StatusOK {
					t.Fatalf("GET /api/v1/status = %d %s", r.Status, r.Body)
				}
				var body struct {
					Environment string            `json:"environment"`
					Backends    map[string]string `json:"backends"`
				}
				r.JSON(t, &body)
				wantRecords, wantEphemeral := "sqlite", "memory"
				if be.name == "postgres+redis" {
					wantRecords, wantEphemeral = "postgres", "redis"
				}
				if body.Environment != "development" || body.Backends["records"] != wantRecords || body.Backends["ephemeral"] != wantEphemeral {
					t.Errorf("status = %s", r.Body)
				}
			})

			t.Run("unknown route is a 404 problem", func(t *testing.T) {
				r := bad.Get("/api/v1/no-such-thing")
				p := r.Problem(t)
				if r.Status != http.StatusNotFound || p.Code != "not_found" || p.RequestID == "" {
					t.Errorf("got %d %+v", r.Status, p)
				}
			})

			t.Run("wrong method is a 405 problem with Allow", func(t *testing.T) {
				r := bad.Do(http.MethodPost, "/api/v1/status", nil, nil)
				p := r.Problem(t)
				if r.Status != http.StatusMethodNotAllowed || p.Code != "method_not_allowed" {
					t.Errorf("got %d %+v", r.Status, p)
				}
				if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
					t.Errorf("Allow = %q", allow)
				}
			})

			t.Run("metrics count requests by route", func(t *testing.T) {
				r := c.Get("/metrics")
				if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`gatehouse_http_requests_total{code="200",method="GET",route="/health"}`)) {
					t.Errorf("GET /metrics = %d, missing the /health series:\n%.2000s", r.Status, r.Body)
				}
			})

			t.Run("openapi document and docs page", func(t *testing.T) {
				if r := c.Get("/api/openapi.json"); r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"openapi"`)) {
					t.Errorf("GET /api/openapi.json = %d", r.Status)
				}
				if r := c.Get("/api/docs"); r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("<html")) {
					t.Errorf("GET /api/docs = %d", r.Status)
				}
			})

			if err := srv.stop(t); err != nil {
				t.Fatalf("run returned %v after a clean shutdown", err)
			}
		})
	}
}

// slowSMTP is a mail server that accepts connections but does not greet them until released, so that
// a readiness request (which probes the mail server) stays in flight as long as the test wants.
type slowSMTP struct {
	addr      string
	connected chan struct{}
	release   chan struct{}
}

func startSlowSMTP(t *testing.T) *slowSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &slowSMTP{addr: ln.Addr().String(), connected: make(chan struct{}, 16), release: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s.connected <- struct{}{}
				<-s.release
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				io.WriteString(c, "220 slow ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.Fields(line + " x")[0]) {
					case "EHLO":
						io.WriteString(c, "250 slow\r\n")
					case "QUIT":
						io.WriteString(c, "221 bye\r\n")
						return
					default:
						io.WriteString(c, "502 no\r\n")
					}
				}
			}()
		}
	}()
	return s
}

// inFlightReadiness sends GET /health/ready and returns once the server is inside the handler
// (probing the slow mail server); wait returns the response status.
func inFlightReadiness(t *testing.T, base string, smtp *slowSMTP) (wait func() int) {
	t.Helper()
	status := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/health/ready")
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	select {
	case <-smtp.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the readiness request never reached the mail probe")
	}
	return func() int { return <-status }
}

// TestShutdownFinishesInFlightRequests cancels the run context (what SIGTERM does) while requests are
// in flight, and shows that every one of them completes and run returns cleanly.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			smtp := startSlowSMTP(t)
			env := map[string]string{"GATEHOUSE_SMTP_URL": "smtp://" + smtp.addr}
			for k, v := range be.env {
				env[k] = v
			}
			srv := startServer(t, env)
			addr := strings.TrimPrefix(srv.URL, "http://")
			var waits []func() int
			for range 3 {
				waits = append(waits, inFlightReadiness(t, srv.URL, smtp))
			}
			srv.cancel()
			waitListenerClosed(t, addr)
			close(smtp.release)
			for i, wait := range waits {
				// The requests began before shutdown and finish during it: they answer in full,
				// with the readiness that held when each check completed.
				if status := wait(); status != http.StatusOK && status != http.StatusServiceUnavailable {
					t.Errorf("in-flight request %d answered %d", i, status)
				}
			}
			if err := srv.stop(t); err != nil {
				t.Fatalf("run returned %v", err)
			}
		})
	}
}

// TestSIGTERM runs gatehouse as a real process, sends it SIGTERM while requests are in flight, and
// checks that they complete and the process exits 0.
func TestSIGTERM(t *testing.T) {
	smtp := startSlowSMTP(t)
	logs := &syncBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_TEST_RUN_MAIN=1",
		"GATEHOUSE_TEST_ARGS=serve",
		"GATEHOUSE_DATA_DIR="+t.TempDir(),
		"GATEHOUSE_HTTP_ADDR=127.0.0.1:0",
		"GATEHOUSE_LOG_FORMAT=json",
		"GATEHOUSE_DATABASE_URL=",
		"GATEHOUSE_REDIS_URL=",
		"GATEHOUSE_SMTP_URL=smtp://"+smtp.addr,
	)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); {
		addr = readyAddr(logs.String())
		select {
		case err := <-done:
			t.Fatalf("gatehouse exited early: %v\n%s", err, logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("gatehouse not ready:\n%s", logs)
	}
	wait1 := inFlightReadiness(t, "http://"+addr, smtp)
	wait2 := inFlightReadiness(t, "http://"+addr, smtp)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitListenerClosed(t, addr)
	close(smtp.release)
	for i, wait := range []func() int{wait1, wait2} {
		if status := wait(); status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("in-flight request %d answered %d", i, status)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gatehouse exited with %v after SIGTERM\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse did not exit after SIGTERM")
	}
	if !strings.Contains(logs.String(), "gatehouse stopped") {
		t.Errorf("no clean-stop log line:\n%s", logs)
	}
}

// TestStartupErrors: a configuration error or an unreachable configured database exits non-zero
// with one clear line.
func TestStartupErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad environment name", map[string]string{"GATEHOUSE_ENV": "prod"}, "GATEHOUSE_ENV"},
		{"unsupported database", map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://x"}, "GATEHOUSE_DATABASE_URL"},
		{"bad duration", map[string]string{"GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT": "soon"}, "GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT"},
		{"unreachable PostgreSQL", map[string]string{
			"GATEHOUSE_DATABASE_URL":             "postgres://gh:secret-pw@127.0.0.1:1/gatehouse?sslmode=disable",
			"GATEHOUSE_DATABASE_CONNECT_TIMEOUT": "2s",
		}, "database"},
		{"unreachable Redis", map[string]string{"GATEHOUSE_REDIS_URL": "redis://:secret-pw@127.0.0.1:1/0"}, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"gatehouse", "serve"}, envFunc(t, tt.env), &out, &out)
			if err == nil {
				t.Fatal("run succeeded; want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name %s", msg, tt.want)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg+out.String(), "secret-pw") {
				t.Errorf("a password leaked: %q %s", msg, out.String())
			}
		})
	}
}

// TestMigrateCommand applies and lists migrations through the migrate subcommand on each backend.
func TestMigrateCommand(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			getenv := envFunc(t, be.env)
			ctx := context.Background()
			var out bytes.Buffer
			if err := run(ctx, []string{"gatehouse", "migrate", "status"}, getenv, &out, &out); err != nil {
				t.Fatalf("migrate status: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "pending") {
				t.Errorf("a fresh database should list pending migrations:\n%s", out.String())
			}
			out.Reset()
			if err := run(ctx, []string{"gatehouse", "migrate"}, getenv, &out, &out); err != nil {
				t.Fatalf("migrate: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), ", 0 pending") {
				t.Errorf("after migrate nothing should be pending:\n%s", out.String())
			}
			out.Reset()
			if err := run(ctx, []string{"gatehouse", "migrate", "sideways"}, getenv, &out, &out); err == nil {
				t.Error("migrate sideways succeeded")
			}
		})
	}
}

// TestDoctor checks that doctor passes on a working set-up and reports broken parts in plain words.
func TestDoctor(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"gatehouse", "doctor"}, envFunc(t, be.env), &out, &out); err != nil {
				t.Fatalf("doctor: %v\n%s", err, out.String())
			}
			for _, want := range []string{"ok    database", "migrations are pending", "redis", "ok    mail", "public URL", "no problems found"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("doctor output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
	t.Run("broken mail server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var out bytes.Buffer
		err = run(context.Background(), []string{"gatehouse", "doctor"}, envFunc(t, map[string]string{"GATEHOUSE_SMTP_URL": "smtp://" + addr}), &out, &out)
		if err == nil {
			t.Fatalf("doctor passed with an unreachable SMTP server:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "FAIL  mail") {
			t.Errorf("doctor did not name the mail problem:\n%s", out.String())
		}
	})
}

// TestVersionAndUsage covers the small subcommands.
func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"gatehouse", "version"}, envFunc(t, nil), &out, &out); err != nil || !strings.HasPrefix(out.String(), "gatehouse ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"gatehouse", "frobnicate"}, envFunc(t, nil), &out, &out); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"gatehouse", "--bogus"}, envFunc(t, nil), &out, &out); err == nil {
		t.Error("unknown flag accepted")
	}
}

// TestReadinessWithMailDown: an unreachable mail server is reported, but the node stays in service
// (mail waits in the durable queue), while readiness still names the problem.
func TestReadinessWithMailDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := startServer(t, map[string]string{"GATEHOUSE_SMTP_URL": "smtp://" + addr})
	r := apitest.NewClient(t, srv.URL).Get("/health/ready")
	var body struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status   string `json:"status"`
			Optional bool   `json:"optional"`
		} `json:"checks"`
	}
	r.JSON(t, &body)
	if r.Status != http.StatusOK || body.Status != "degraded" || body.Checks["mail"].Status != "down" || !body.Checks["mail"].Optional {
		t.Fatalf("GET /health/ready = %d %s; want 200 degraded with mail down", r.Status, r.Body)
	}
}

// TestKeysCommand: `keys rotate` publishes a second key at once; the JWKS served afterwards lists
// both, and `keys list` shows them.
func TestKeysCommand(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			getenv := envFunc(t, be.env)
			env := map[string]string{}
			for _, k := range []string{"GATEHOUSE_DATA_DIR", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_REDIS_URL", "GATEHOUSE_REDIS_KEY_PREFIX"} {
				if v := getenv(k); v != "" {
					env[k] = v
				}
			}
			var out bytes.Buffer
			if err := run(context.Background(), []string{"gatehouse", "keys", "list"}, getenv, &out, &out); err != nil {
				t.Fatalf("keys list: %v\n%s", err, out.String())
			}
			if n := strings.Count(out.String(), "EdDSA"); n != 1 {
				t.Fatalf("a first key should be created on first use; got:\n%s", out.String())
			}
			out.Reset()
			if err := run(context.Background(), []string{"gatehouse", "keys", "rotate"}, getenv, &out, &out); err != nil {
				t.Fatalf("keys rotate: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "new signing key") || strings.Count(out.String(), "EdDSA") != 3 {
				t.Fatalf("keys rotate output:\n%s", out.String())
			}
			srv := startServer(t, env)
			var jwks struct {
				Keys []map[string]any `json:"keys"`
			}
			apitest.NewClient(t, srv.URL).Get("/.well-known/jwks.json").JSON(t, &jwks)
			if len(jwks.Keys) != 2 {
				t.Fatalf("JWKS after rotation has %d keys, want 2", len(jwks.Keys))
			}
			if err := run(context.Background(), []string{"gatehouse", "keys", "sideways"}, getenv, &out, &out); err == nil {
				t.Error("keys sideways succeeded")
			}
		})
	}
}
