package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestSummarizeLatenciesKnownSample(t *testing.T) {
	// 1µs … 1000µs, shuffled: nearest-rank percentiles are exact and easy to state.
	samples := make([]time.Duration, 1000)
	for i := range samples {
		samples[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })

	got := summarizeLatencies(samples)
	want := Latency{
		Min:  1 * time.Microsecond,
		Mean: 500500 * time.Nanosecond,
		P50:  500 * time.Microsecond,
		P90:  900 * time.Microsecond,
		P99:  990 * time.Microsecond,
		P999: 999 * time.Microsecond,
		Max:  1000 * time.Microsecond,
	}
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestPercentileSmallSamples(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       int
		want    time.Duration
	}{
		{"single sample is every percentile", ms(7), 99_900, 7 * time.Millisecond},
		{"p50 of two is the lower", ms(1, 2), 50_000, 1 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99_000, 10 * time.Millisecond},
		{"p90 of ten is the ninth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90_000, 9 * time.Millisecond},
		{"p99.9 of 2000 is the 1998th", ms(seq(2000)...), 99_900, 1998 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.q); got != tt.want {
				t.Errorf("percentile(q=%d) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestSummarizeLatenciesEmpty(t *testing.T) {
	if got := summarizeLatencies(nil); got != (Latency{}) {
		t.Errorf("summary of nothing = %+v, want zero", got)
	}
}

func TestSummarizeMergesWorkers(t *testing.T) {
	r := &runner{recs: make([]recorder, 3)}
	transportErr := fmt.Errorf("get: %w", syscall.ECONNRESET)
	r.recs[0].record(1*time.Millisecond, 200, 200, nil, nil)
	r.recs[0].record(2*time.Millisecond, 500, 200, nil, nil)
	r.recs[1].record(3*time.Millisecond, 500, 200, nil, nil)
	r.recs[1].record(4*time.Millisecond, 0, 200, transportErr, nil)
	r.recs[2].record(5*time.Millisecond, 0, 200, transportErr, nil)
	r.recs[2].record(6*time.Millisecond, 404, 404, nil, nil)
	r.recs[2].record(7*time.Millisecond, 200, 200, nil, errors.New("no access_token"))

	res := &Result{Elapsed: 2 * time.Second}
	r.summarize(res)

	if res.Requests != 7 || res.OK != 2 {
		t.Errorf("requests, ok = %d, %d; want 7, 2", res.Requests, res.OK)
	}
	if res.Throughput != 3.5 {
		t.Errorf("throughput = %g, want 3.5 (7 requests in 2s)", res.Throughput)
	}
	if want := map[int]int64{200: 2, 404: 1, 500: 2}; fmt.Sprint(res.Statuses) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", res.Statuses, want)
	}
	// Transport errors have no latency sample; the five responses do.
	if res.Latency.Max != 7*time.Millisecond || res.Latency.Min != 1*time.Millisecond || res.Latency.P50 != 3*time.Millisecond {
		t.Errorf("latency = %+v, want min 1ms, p50 3ms, max 7ms", res.Latency)
	}
	want := []ErrorCount{
		{Kind: KindStatus, Status: 500, Count: 2},
		{Kind: KindTransport, Detail: "connection reset", Count: 2, Example: transportErr.Error()},
		{Kind: KindBody, Detail: "rejected", Count: 1, Example: "no access_token"},
	}
	if fmt.Sprint(res.Errors) != fmt.Sprint(want) {
		t.Errorf("errors = %+v, want %+v", res.Errors, want)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection refused"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset"},
		{fmt.Errorf("write: %w", syscall.EPIPE), "broken pipe"},
		{fmt.Errorf("Get: %w", io.EOF), "connection closed"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "connection closed"},
		{fmt.Errorf("Get: %w", timeoutErr{}), "timeout"},
		{fmt.Errorf("Get: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("Get: %w", context.Canceled), "canceled"},
		{fmt.Errorf("dial: %w", syscall.EADDRNOTAVAIL), "no free local port"},
		{fmt.Errorf("socket: %w", syscall.EMFILE), "too many open files"},
		{errors.New("something else"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
