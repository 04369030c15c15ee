package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is a Result with what is needed to reproduce it. It marshals to JSON as one flat object.
type Report struct {
	Command string `json:"command"` // the exact command line, shell-quoted
	Target  string `json:"target"`
	Host    string `json:"host"` // e.g. "linux/amd64, 2 CPUs, go1.26.8"
	*Result
}

// WriteText writes the report as aligned text, one figure per line. The label column has a fixed
// width so that reports of different runs line up when compared.
func WriteText(w io.Writer, rep *Report) error {
	res := rep.Result
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s%s\n", label, fmt.Sprintf(format, args...))
	}
	line("command", "%s", rep.Command)
	line("target", "%s", rep.Target)
	line("host", "%s", rep.Host)
	line("workload", "%s", res.Workload)
	if res.Mode == "open" {
		line("mode", "open loop, %g req/s, at most %d outstanding", res.Rate, res.Concurrency)
	} else {
		line("mode", "closed loop, %d concurrent", res.Concurrency)
	}
	line("warm-up", "%s (not counted)", res.Warmup)
	window := fmt.Sprintf("%s measured", fmtDuration(res.Elapsed))
	if res.Interrupted {
		window += fmt.Sprintf(" (interrupted; %s planned)", res.Duration)
	}
	line("window", "%s", window)
	line("requests", "%d (%d as expected)", res.Requests, res.OK)
	if res.Mode == "open" {
		line("dropped", "%d (not sent: %d already outstanding)", res.Dropped, res.Concurrency)
	}
	line("throughput", "%.1f req/s", res.Throughput)
	l := res.Latency
	if l == (Latency{}) {
		line("latency", "none (no responses)")
	}
	for _, p := range []struct {
		label string
		d     time.Duration
	}{{"latency p50", l.P50}, {"latency p90", l.P90}, {"latency p99", l.P99}, {"latency p99.9", l.P999}, {"latency max", l.Max}, {"latency mean", l.Mean}} {
		if l != (Latency{}) {
			line(p.label, "%s", fmtDuration(p.d))
		}
	}
	line("statuses", "%s", fmtStatuses(res.Statuses))
	if len(res.Errors) == 0 {
		line("errors", "none")
	}
	for _, e := range res.Errors {
		switch e.Kind {
		case KindStatus:
			line("errors", "%d unexpected status %d", e.Count, e.Status)
		case KindBody:
			line("errors", "%d body rejected (first: %s)", e.Count, e.Example)
		default:
			line("errors", "%d %s: %s (first: %s)", e.Count, e.Kind, e.Detail, e.Example)
		}
	}
	if res.ClientCPU > 0 && res.Elapsed > 0 {
		line("client CPU", "%.2f s (%.2f cores)", res.ClientCPU, res.ClientCPU/res.Elapsed.Seconds())
	}
	if s := res.Server; s != nil {
		if s.Command != "" {
			line("server", "%s (pid %d)", s.Command, s.PID)
		}
		if s.StartupToReady > 0 {
			line("start to ready", "%s", fmtDuration(s.StartupToReady))
		}
		if s.IdleRSS > 0 {
			line("idle RSS", "%s", fmtBytes(s.IdleRSS))
		}
		if s.PeakRSS > 0 {
			line("peak RSS", "%s", fmtBytes(s.PeakRSS))
		}
		if res.ProcUnreadable == "" && res.Elapsed > 0 {
			line("server CPU", "%.2f s (%.2f cores)", s.CPU, s.CPU/res.Elapsed.Seconds())
		}
		if s.Shutdown > 0 {
			line("shutdown", "%s (SIGTERM to exit)", fmtDuration(s.Shutdown))
		}
	}
	if res.ProcUnreadable != "" {
		line("note", "no CPU or memory figures: %s", res.ProcUnreadable)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// fmtDuration prints sub-millisecond latencies in microseconds and the rest in milliseconds, with
// enough digits for p50 on loopback.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	}
}

func fmtBytes(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

func fmtStatuses(m map[int]int64) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}
