package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ServerSpec says how to start a server process for a run.
type ServerSpec struct {
	Path string   // the server binary
	Args []string // its arguments (none starts gatehouse's serve)
	// BaseEnv is the environment the server inherits, normally os.Environ(). Variables that configure
	// gatehouse (GATEHOUSE_*, DATABASE_URL, REDIS_URL, SENTRY_DSN) are removed from it, so that the
	// command line alone decides what was measured.
	BaseEnv []string
	// Env holds KEY=VALUE settings applied on top (see CheckServerEnv).
	Env []string
	// LogPath receives the server's standard output and error. Empty means a file in the server's
	// temporary directory, removed by Stop.
	LogPath string
	// ReadyTimeout bounds the wait for /health/ready to answer 200.
	ReadyTimeout time.Duration
}

// Server is a running server process started by StartServer. It runs in a fresh temporary directory
// (its working directory, so no stray .env or config file is read) with GATEHOUSE_DATA_DIR inside it
// and GATEHOUSE_HTTP_ADDR on a free loopback port.
type Server struct {
	URL     *url.URL
	PID     int
	DataDir string
	// StartupToReady is the time from just before the process was started to the first 200 answer
	// from /health/ready.
	StartupToReady time.Duration

	proc    *os.Process
	dir     string
	logFile *os.File
	logPath string
	exited  chan struct{}
	waitErr error
}

// readyPoll is the pause between readiness probes: short, because start-up time is a measured figure.
const readyPoll = 2 * time.Millisecond

// CheckServerEnv checks KEY=VALUE settings for a spawned server. The listen address is the harness's
// to choose, so GATEHOUSE_HTTP_ADDR is refused.
func CheckServerEnv(settings []string) error {
	for _, kv := range settings {
		key, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || key == "":
			return fmt.Errorf("server setting %q: want KEY=VALUE", kv)
		case strings.ContainsAny(key, " \t\n"):
			return fmt.Errorf("server setting %q: the key has white space", kv)
		case key == "GATEHOUSE_HTTP_ADDR":
			return errors.New("server setting GATEHOUSE_HTTP_ADDR: the harness picks the listen address itself (a free loopback port)")
		}
	}
	return nil
}

// StartServer starts the server and waits until it is ready. On failure the process is stopped, its
// directory removed, and the error carries the end of its log.
func StartServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	if err := CheckServerEnv(spec.Env); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("server binary %s: %w", spec.Path, err)
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("server binary: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("server binary %s is a directory", path)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-load-*")
	if err != nil {
		return nil, fmt.Errorf("create server directory: %w", err)
	}
	s := &Server{
		URL:     &url.URL{Scheme: "http", Host: addr},
		DataDir: filepath.Join(dir, "data"),
		dir:     dir,
		logPath: spec.LogPath,
		exited:  make(chan struct{}),
	}
	if s.logPath == "" {
		s.logPath = filepath.Join(dir, "server.log")
	}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create server log: %w", err)
	}

	env := append(serverBaseEnv(spec.BaseEnv),
		"GATEHOUSE_HTTP_ADDR="+addr,
		"GATEHOUSE_DATA_DIR="+s.DataDir,
	)
	env = append(env, spec.Env...) // later entries win
	attr := &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []*os.File{nil, s.logFile, s.logFile},
		Sys:   sysProcAttr(),
	}
	start := time.Now()
	s.proc, err = os.StartProcess(path, append([]string{path}, spec.Args...), attr)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("start server %s: %w", path, err)
	}
	s.PID = s.proc.Pid
	go func() {
		st, err := s.proc.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		s.waitErr = err
		close(s.exited)
	}()

	if err := s.awaitReady(ctx, start, spec.ReadyTimeout); err != nil {
		_, _ = s.Stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

func (s *Server) awaitReady(ctx context.Context, start time.Time, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	readyURL := s.URL.JoinPath("/health/ready").String()
	deadline := start.Add(timeout)
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		if err != nil {
			return fmt.Errorf("probe readiness: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = drain(resp)
			if resp.StatusCode == http.StatusOK {
				s.StartupToReady = time.Since(start)
				return nil
			}
			last = "status " + resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready within %s (last probe: %s)%s", timeout, last, s.logTail())
		}
		t := time.NewTimer(readyPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the server to be ready: %w", ctx.Err())
		case <-s.exited:
			t.Stop()
			return fmt.Errorf("server exited before it was ready (%v)%s", s.waitErr, s.logTail())
		case <-t.C:
		}
	}
}

// Usage reads the server's CPU time and memory from /proc.
func (s *Server) Usage() (ProcUsage, error) {
	return ReadProcUsage(s.PID)
}

// Stop sends SIGTERM and waits up to timeout for the process to exit (then kills it), removes its
// temporary directory, and returns how long the graceful shutdown took. The error reports a
// non-zero exit or a kill.
func (s *Server) Stop(timeout time.Duration) (time.Duration, error) {
	defer s.cleanup()
	select {
	case <-s.exited:
		return 0, s.exitErr()
	default:
	}
	start := time.Now()
	if err := s.proc.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("signal server: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.exited:
		return time.Since(start), s.exitErr()
	case <-t.C:
		_ = s.proc.Kill()
		<-s.exited
		return time.Since(start), fmt.Errorf("server did not exit within %s of SIGTERM and was killed", timeout)
	}
}

func (s *Server) exitErr() error {
	if s.waitErr != nil {
		return fmt.Errorf("server exit: %w", s.waitErr)
	}
	return nil
}

func (s *Server) cleanup() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
	_ = os.RemoveAll(s.dir)
}

// logTail returns the last lines of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "; server log ends:\n" + strings.Join(lines, "\n")
}

// serverBaseEnv drops the variables that configure gatehouse from the inherited environment.
func serverBaseEnv(base []string) []string {
	out := make([]string, 0, len(base)+4)
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(key, "GATEHOUSE_"),
			key == "DATABASE_URL", key == "REDIS_URL", key == "SENTRY_DSN":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1. Another process could take it
// before the server binds it; the server then fails to start, which the caller reports.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}
