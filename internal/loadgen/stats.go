package loadgen

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"
)

// Latency summarises the latencies of the requests that got a response. Percentiles use the
// nearest-rank method on the exact, sorted samples: p99 is the smallest latency that at least 99% of
// the requests did not exceed.
type Latency struct {
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
}

// Error kinds.
const (
	KindTransport = "transport" // no (complete) response: refused, reset, closed, timed out
	KindStatus    = "status"    // a response with a status other than the workload expects
	KindBody      = "body"      // the expected status, but the workload rejected the body (Call.Then)
)

// ErrorCount is how many requests failed one way. Transport errors are grouped by a short detail
// ("connection refused"), status errors by code, body errors all together.
type ErrorCount struct {
	Kind    string `json:"kind"`
	Status  int    `json:"status,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Count   int64  `json:"count"`
	Example string `json:"example,omitempty"` // the first such error's message
}

type errorKey struct {
	kind   string
	status int
	detail string
}

// recorder collects one worker's outcomes; it is never shared while a run is going.
type recorder struct {
	latencies []time.Duration
	statuses  map[int]int64
	errors    map[errorKey]*ErrorCount
	requests  int64
	ok        int64
}

// record counts one outcome: err is a transport error, rejected the workload's verdict on the body.
func (rec *recorder) record(latency time.Duration, status, want int, err, rejected error) {
	rec.requests++
	if err != nil {
		detail := classify(err)
		rec.addError(errorKey{kind: KindTransport, detail: detail}, err.Error())
		return
	}
	rec.latencies = append(rec.latencies, latency)
	if rec.statuses == nil {
		rec.statuses = make(map[int]int64)
	}
	rec.statuses[status]++
	switch {
	case status != want:
		rec.addError(errorKey{kind: KindStatus, status: status}, "")
	case rejected != nil:
		rec.addError(errorKey{kind: KindBody, detail: "rejected"}, rejected.Error())
	default:
		rec.ok++
	}
}

func (rec *recorder) addError(k errorKey, example string) {
	if rec.errors == nil {
		rec.errors = make(map[errorKey]*ErrorCount)
	}
	e := rec.errors[k]
	if e == nil {
		e = &ErrorCount{Kind: k.kind, Status: k.status, Detail: k.detail, Example: example}
		rec.errors[k] = e
	}
	e.Count++
}

// summarize merges every worker's recorder into res.
func (r *runner) summarize(res *Result) {
	var n int
	for i := range r.recs {
		n += len(r.recs[i].latencies)
	}
	all := make([]time.Duration, 0, n)
	res.Statuses = make(map[int]int64)
	merged := make(map[errorKey]*ErrorCount)
	for i := range r.recs {
		rec := &r.recs[i]
		all = append(all, rec.latencies...)
		res.Requests += rec.requests
		res.OK += rec.ok
		for s, c := range rec.statuses {
			res.Statuses[s] += c
		}
		for k, e := range rec.errors {
			if m := merged[k]; m != nil {
				m.Count += e.Count
			} else {
				c := *e
				merged[k] = &c
			}
		}
	}
	res.Latency = summarizeLatencies(all)
	res.Errors = sortErrors(merged)
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Requests) / res.Elapsed.Seconds()
	}
}

// summarizeLatencies sorts samples in place and computes the summary.
func summarizeLatencies(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Latency{
		Min:  samples[0],
		Mean: sum / time.Duration(len(samples)),
		P50:  percentile(samples, 50_000),
		P90:  percentile(samples, 90_000),
		P99:  percentile(samples, 99_000),
		P999: percentile(samples, 99_900),
		Max:  samples[len(samples)-1],
	}
}

// percentile returns the nearest-rank percentile of sorted samples; q is in thousandths of a
// percent (99.9% is 99_900), which keeps the rank computation in exact integer arithmetic.
func percentile(sorted []time.Duration, q int) time.Duration {
	n := len(sorted)
	rank := (n*q + 100_000 - 1) / 100_000 // ceil(n * q / 100000)
	return sorted[max(rank-1, 0)]
}

func sortErrors(m map[errorKey]*ErrorCount) []ErrorCount {
	out := make([]ErrorCount, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Status, b.Status),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
	return out
}

// classify names a transport error briefly and stably, so that errors group well.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "other"
	}
}

// maxBody bounds what is read into memory for Call.Then; gatehouse's answers are far smaller.
const maxBody = 1 << 20

// readAll reads the body (up to maxBody) and closes it.
func readAll(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err == nil {
		err = drain(resp) // anything past the limit, so the connection can be reused
	} else {
		_ = resp.Body.Close()
	}
	return body, err
}

// drain reads the body to its end and closes it, so that the connection goes back to the pool.
func drain(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return err
}
