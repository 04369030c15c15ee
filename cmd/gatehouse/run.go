package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

const usage = `gatehouse: authentication and account service

Usage:
  gatehouse [--config FILE] [command]

Commands:
  serve              run the server (the default)
  migrate [up]       apply pending database migrations
  migrate status     list migrations and whether each is applied
  doctor             check configuration, database, Redis, mail, clock and public URL
  keys list          list the access-token signing keys
  keys rotate        start signing with a new key; the old one keeps verifying for the overlap
  healthcheck [URL]  exit 0 if the server at URL (default: the local readiness endpoint) is ready
  version            print the version and commit

Configuration comes from GATEHOUSE_* environment variables, the optional --config file (YAML or
TOML) and, in development, .env files. See docs/configuration.md.
`

// errUsage marks a command-line mistake; the message is printed with the usage text.
var errUsage = errors.New("usage")

// run is the whole program: main only supplies the process's context, arguments, environment and
// output streams, so tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "configuration file (YAML or TOML)")
	if len(args) == 0 {
		args = []string{"gatehouse"}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}

	switch cmd {
	case "version":
		v, c := buildVersion()
		fmt.Fprintf(stdout, "gatehouse %s (commit %s)\n", v, c)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "healthcheck":
		return healthcheck(ctx, rest, getenv, stdout)
	}

	cfg, err := config.Load(config.LoadOptions{Getenv: getenv, ConfigFile: *configFile})
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return fmt.Errorf("%w: serve takes no arguments", errUsage)
		}
		return serve(ctx, cfg, stdout)
	case "migrate":
		return migrate(ctx, cfg, rest, stdout)
	case "doctor":
		return doctor(ctx, cfg, stdout)
	case "keys":
		return keys(ctx, cfg, rest, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// healthcheck asks a running server whether it is ready. It is what the container image's
// HEALTHCHECK runs, since that image has no shell or HTTP client of its own.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target := ""
	switch len(args) {
	case 0:
		addr := getenv("GATEHOUSE_HTTP_ADDR")
		if addr == "" {
			addr = ":8080"
		}
		if strings.HasPrefix(addr, ":") {
			addr = "127.0.0.1" + addr
		}
		target = "http://" + addr + "/health/ready"
	case 1:
		target = args[0]
	default:
		return fmt.Errorf("%w: healthcheck takes at most one URL", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}
