package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{
		Command: "gatehouse-load -server ./bin/gatehouse -workload health -c 64 -d 10s",
		Target:  "http://127.0.0.1:40000",
		Host:    "linux/amd64, 2 CPUs, go1.26.8",
		Result: &Result{
			Workload: "health", Mode: "closed", Concurrency: 64,
			Warmup: time.Second, Duration: 10 * time.Second, Elapsed: 10 * time.Second,
			Requests: 1000, OK: 990, Throughput: 100,
			Latency:  Latency{Min: 20 * time.Microsecond, Mean: 300 * time.Microsecond, P50: 250 * time.Microsecond, P90: 900 * time.Microsecond, P99: 1500 * time.Microsecond, P999: 4 * time.Millisecond, Max: 12 * time.Second},
			Statuses: map[int]int64{200: 990, 503: 5},
			Errors: []ErrorCount{
				{Kind: KindStatus, Status: 503, Count: 5},
				{Kind: KindTransport, Detail: "connection reset", Count: 5, Example: "read: connection reset by peer"},
				{Kind: KindBody, Detail: "rejected", Count: 2, Example: "no access_token"},
			},
			ClientCPU: 5,
			Server: &ServerStats{
				Command: "./bin/gatehouse", PID: 4242, StartupToReady: 150 * time.Millisecond,
				IdleRSS: 20 << 20, PeakRSS: 36 << 20, CPU: 12.5, Shutdown: 30 * time.Millisecond,
			},
		},
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := WriteText(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"command         gatehouse-load -server ./bin/gatehouse -workload health -c 64 -d 10s\n",
		"mode            closed loop, 64 concurrent\n",
		"requests        1000 (990 as expected)\n",
		"throughput      100.0 req/s\n",
		"latency p50     250.0µs\n",
		"latency p99     1.500ms\n",
		"latency p99.9   4.000ms\n",
		"latency max     12.000s\n",
		"statuses        200: 990, 503: 5\n",
		"errors          5 unexpected status 503\n",
		"errors          5 transport: connection reset (first: read: connection reset by peer)\n",
		"errors          2 body rejected (first: no access_token)\n",
		"client CPU      5.00 s (0.50 cores)\n",
		"start to ready  150.000ms\n",
		"idle RSS        20.0 MiB\n",
		"peak RSS        36.0 MiB\n",
		"server CPU      12.50 s (1.25 cores)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTextOpenLoop(t *testing.T) {
	rep := sampleReport()
	rep.Mode, rep.Rate, rep.Dropped, rep.Server, rep.Interrupted = "open", 2000, 7, nil, true
	rep.Errors = nil
	var b strings.Builder
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"open loop, 2000 req/s, at most 64 outstanding",
		"dropped         7 (not sent: 64 already outstanding)",
		"(interrupted; 10s planned)",
		"errors          none",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "server CPU") {
		t.Errorf("server figures without a server:\n%s", out)
	}

	rep.Latency = Latency{}
	b.Reset()
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "latency         none (no responses)\n") || strings.Contains(out, "latency p50") {
		t.Errorf("report without responses:\n%s", out)
	}
}

func TestReportJSONIsFlat(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"command", "target", "host", "workload", "requests", "throughput_rps", "latency_ns", "errors", "server"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON report lacks %q: %s", key, b)
		}
	}
	if p99 := m["latency_ns"].(map[string]any)["p99"]; p99 != float64(1_500_000) {
		t.Errorf("latency_ns.p99 = %v, want 1500000", p99)
	}
	if s := m["server"].(map[string]any); s["startup_to_ready_ns"] != float64(150_000_000) || s["idle_rss_bytes"] != float64(20<<20) {
		t.Errorf("server = %v", s)
	}
}
