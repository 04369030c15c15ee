package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/loadgen"
)

// config is the parsed command line.
type config struct {
	workload     loadgen.Workload
	target       *url.URL // nil when the harness starts the server
	server       string
	serverEnv    []string
	serverArgs   []string
	serverLog    string
	readyTimeout time.Duration
	stopTimeout  time.Duration
	concurrency  int
	rate         float64
	duration     time.Duration
	warmup       time.Duration
	timeout      time.Duration
	json         bool
	allowRemote  bool
	list         bool
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

const usageText = `usage: gatehouse-load [flags]

Runs a workload against a gatehouse server and reports throughput, latency and errors.
Either give -server (the harness starts the binary on a free loopback port with a fresh data
directory, and also reports start-up time, memory and CPU) or -url (a server already running).

Examples:
  gatehouse-load -server ./bin/gatehouse -workload health -c 64 -d 10s
  gatehouse-load -url http://127.0.0.1:8080 -workload notfound -rate 2000 -c 128 -d 10s -json
  gatehouse-load -list

Flags:
`

// parseFlags parses and checks the command line; every error names the flag and what it accepts.
func parseFlags(args []string, workloads []loadgen.Workload, usage io.Writer) (*config, error) {
	fs := flag.NewFlagSet("gatehouse-load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		cfg       config
		workload  = fs.String("workload", "health", "workload to run (see -list)")
		rawURL    = fs.String("url", "http://127.0.0.1:8080", "base URL of a running server (loopback only unless -allow-remote)")
		serverEnv stringList
		serverArg stringList
	)
	fs.StringVar(&cfg.server, "server", "", "start this gatehouse binary and measure it (instead of -url)")
	fs.Var(&serverEnv, "server-env", "KEY=VALUE setting for the started server (repeatable)")
	fs.Var(&serverArg, "server-arg", "argument for the started server (repeatable; none runs serve)")
	fs.StringVar(&cfg.serverLog, "server-log", "", "keep the started server's output in this file (default: discarded)")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 30*time.Second, "how long the started server may take to become ready")
	fs.DurationVar(&cfg.stopTimeout, "stop-timeout", 30*time.Second, "how long the started server may take to exit after SIGTERM")
	fs.IntVar(&cfg.concurrency, "c", 64, "concurrent connections (closed loop), or with -rate the most requests outstanding")
	fs.Float64Var(&cfg.rate, "rate", 0, "requests per second (open loop); 0 for a closed loop at -c")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before measuring, not counted")
	fs.DurationVar(&cfg.timeout, "timeout", loadgen.DefaultTimeout, "timeout of each request")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow a target outside loopback (only a server you are entitled to load)")
	fs.BoolVar(&cfg.list, "list", false, "list the workloads and exit")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(usage, usageText)
			fs.SetOutput(usage)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if cfg.list {
		return &cfg, nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.serverEnv, cfg.serverArgs = serverEnv, serverArg

	var err error
	if cfg.workload, err = loadgen.Find(workloads, *workload); err != nil {
		return nil, fmt.Errorf("-workload: %w", err)
	}
	switch {
	case cfg.concurrency < 1 || cfg.concurrency > loadgen.MaxConcurrency:
		return nil, fmt.Errorf("-c %d: must be between 1 and %d", cfg.concurrency, loadgen.MaxConcurrency)
	case cfg.rate != cfg.rate || cfg.rate < 0 || cfg.rate > loadgen.MaxRate: // cfg.rate != cfg.rate: NaN
		return nil, fmt.Errorf("-rate %g: must be between 0 (closed loop) and %d", cfg.rate, loadgen.MaxRate)
	case cfg.duration <= 0 || cfg.duration > loadgen.MaxDuration:
		return nil, fmt.Errorf("-d %s: must be positive and at most %s", cfg.duration, loadgen.MaxDuration)
	case cfg.warmup < 0 || cfg.warmup > loadgen.MaxDuration:
		return nil, fmt.Errorf("-warmup %s: must be between 0 and %s", cfg.warmup, loadgen.MaxDuration)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("-timeout %s: must be positive", cfg.timeout)
	case cfg.readyTimeout <= 0:
		return nil, fmt.Errorf("-ready-timeout %s: must be positive", cfg.readyTimeout)
	case cfg.stopTimeout <= 0:
		return nil, fmt.Errorf("-stop-timeout %s: must be positive", cfg.stopTimeout)
	}

	if cfg.server == "" {
		for _, name := range []string{"server-env", "server-arg", "server-log"} {
			if set[name] {
				return nil, fmt.Errorf("-%s needs -server", name)
			}
		}
		u, err := url.Parse(*rawURL)
		if err != nil {
			return nil, fmt.Errorf("-url: %w", err)
		}
		if err := loadgen.CheckTarget(u, cfg.allowRemote); err != nil {
			return nil, fmt.Errorf("-url: %w", err)
		}
		cfg.target = u
		return &cfg, nil
	}
	if set["url"] {
		return nil, errors.New("-url and -server exclude each other: -server starts its own server on a free loopback port")
	}
	if err := loadgen.CheckServerEnv(cfg.serverEnv); err != nil {
		return nil, fmt.Errorf("-server-env: %w", err)
	}
	return &cfg, nil
}

// run parses the command line, starts the server if asked, runs the workload and prints the report.
// environ is the environment the started server inherits (after removing gatehouse's settings).
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	workloads := loadgen.Builtin()
	cfg, err := parseFlags(args[1:], workloads, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.list {
		for _, name := range loadgen.Names(workloads) {
			w, _ := loadgen.Find(workloads, name)
			fmt.Fprintf(stdout, "%-10s %s\n", w.Name, w.Description)
		}
		return nil
	}

	if cfg.server != "" {
		return runWithServer(ctx, cfg, args, environ, stdout, stderr)
	}
	res, err := runLoad(ctx, cfg, cfg.target, 0, stderr)
	if err != nil {
		return err
	}
	if err := report(stdout, cfg, args, cfg.target, res); err != nil {
		return err
	}
	return checkOutcome(res)
}

// runWithServer starts the server, measures it idle, runs the load, stops it, and reports. If the
// harness dies in between, the kernel sends the server SIGTERM (see loadgen.StartServer).
func runWithServer(ctx context.Context, cfg *config, args, environ []string, stdout, stderr io.Writer) error {
	srv, err := loadgen.StartServer(ctx, loadgen.ServerSpec{
		Path:         cfg.server,
		Args:         cfg.serverArgs,
		BaseEnv:      environ,
		Env:          cfg.serverEnv,
		LogPath:      cfg.serverLog,
		ReadyTimeout: cfg.readyTimeout,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gatehouse-load: %s ready at %s in %s\n", cfg.server, srv.URL, srv.StartupToReady.Round(time.Microsecond))
	// Idle memory: after ready, before the workload's set-up or any load.
	idle, idleErr := srv.Usage()
	res, runErr := runLoad(ctx, cfg, srv.URL, srv.PID, stderr)
	shutdown, stopErr := srv.Stop(cfg.stopTimeout)
	if runErr != nil {
		return errors.Join(runErr, stopErr)
	}
	res.Server.Command = cfg.server
	res.Server.StartupToReady = srv.StartupToReady
	res.Server.Shutdown = shutdown
	if idleErr == nil {
		res.Server.IdleRSS = idle.RSS
	}
	if err := report(stdout, cfg, args, srv.URL, res); err != nil {
		return err
	}
	if stopErr != nil {
		return fmt.Errorf("after the run: %w", stopErr)
	}
	return checkOutcome(res)
}

func runLoad(ctx context.Context, cfg *config, target *url.URL, serverPID int, stderr io.Writer) (*loadgen.Result, error) {
	fmt.Fprintf(stderr, "gatehouse-load: %s against %s: %s warm-up, then %s measured\n", cfg.workload.Name, target.Redacted(), cfg.warmup, cfg.duration)
	return loadgen.Run(ctx, loadgen.Options{
		Workload:    cfg.workload,
		BaseURL:     target,
		Client:      loadgen.NewClient(cfg.concurrency, cfg.timeout),
		Concurrency: cfg.concurrency,
		Rate:        cfg.rate,
		Warmup:      cfg.warmup,
		Duration:    cfg.duration,
		AllowRemote: cfg.allowRemote,
		ServerPID:   serverPID,
	})
}

func report(w io.Writer, cfg *config, args []string, target *url.URL, res *loadgen.Result) error {
	rep := &loadgen.Report{
		Command: commandLine(args),
		Target:  target.Redacted(),
		Host:    fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Result:  res,
	}
	if !cfg.json {
		return loadgen.WriteText(w, rep)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// checkOutcome fails the command when the run was cut short or nothing in the window got its
// expected answer: the figures then describe a broken set-up, not the server's performance. Some
// errors under overload are a finding and are only reported.
func checkOutcome(res *loadgen.Result) error {
	if res.Interrupted {
		return fmt.Errorf("interrupted after %s of the %s window: the figures cover only that part", res.Elapsed.Round(time.Millisecond), res.Duration)
	}
	if res.OK == 0 {
		return fmt.Errorf("no request in the measured window got the expected status (%d requests)", res.Requests)
	}
	return nil
}

// urlPassword matches the password of a URL such as postgres://user:secret@host/db.
var urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@/\s]+@`)

// commandLine renders the command as it can be pasted into a shell, for BENCHMARKS.md, with any
// password in a URL (a database URL in -server-env) replaced by xxxxx.
func commandLine(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if i == 0 {
			a = filepath.Base(a)
		}
		parts[i] = shellQuote(urlPassword.ReplaceAllString(a, "${1}xxxxx@"))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
