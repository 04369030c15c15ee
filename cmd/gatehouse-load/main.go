// Command gatehouse-load drives a named workload against a gatehouse server (one it starts itself,
// or any loopback URL) at a fixed concurrency or rate for a fixed time, and prints throughput, latency
// percentiles, errors, and the server's CPU time and memory. See docs/load-testing.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		os.Exit(1)
	}
}
