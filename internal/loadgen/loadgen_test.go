package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testWindow is the measured window of these tests: long enough for some requests, short enough to keep
// the suite fast. Nothing asserts on speed.
const testWindow = 200 * time.Millisecond

func serverURL(t *testing.T, h http.Handler) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
}

// pathWorkload sends GET path expecting want, and records every (worker, iteration) it is asked for.
type pathWorkload struct {
	mu      sync.Mutex
	seen    map[[2]uint64]bool
	repeats int
	maxW    int
}

func (p *pathWorkload) workload(path string, want int) Workload {
	p.seen = map[[2]uint64]bool{}
	return Workload{
		Name: "test",
		Setup: func(_ context.Context, env Env) (RequestFunc, error) {
			return func(ctx context.Context, worker int, iter uint64) (Call, error) {
				p.mu.Lock()
				k := [2]uint64{uint64(worker), iter}
				if p.seen[k] {
					p.repeats++
				}
				p.seen[k] = true
				p.maxW = max(p.maxW, worker)
				p.mu.Unlock()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL(path), nil)
				return Call{Request: req, Want: want}, err
			}, nil
		},
	}
}

func TestRunClosedLoopCounts(t *testing.T) {
	var served atomic.Int64
	base := serverURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		okHandler().ServeHTTP(w, r)
	}))
	var p pathWorkload
	res, err := Run(context.Background(), Options{
		Workload:    p.workload("/health", http.StatusOK),
		BaseURL:     base,
		Concurrency: 4,
		Warmup:      50 * time.Millisecond,
		Duration:    testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "closed" || res.Concurrency != 4 || res.Workload != "test" {
		t.Errorf("mode %s, concurrency %d, workload %s", res.Mode, res.Concurrency, res.Workload)
	}
	if res.Requests == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Fatalf("requests %d, ok %d, errors %+v: want all requests to succeed", res.Requests, res.OK, res.Errors)
	}
	if res.Statuses[200] != res.Requests || len(res.Statuses) != 1 {
		t.Errorf("statuses %v, want only 200 × %d", res.Statuses, res.Requests)
	}
	// Warm-up requests reach the server but are not counted.
	if res.Requests > served.Load() {
		t.Errorf("counted %d requests, the server saw only %d", res.Requests, served.Load())
	}
	if res.Elapsed <= 0 || res.Throughput != float64(res.Requests)/res.Elapsed.Seconds() {
		t.Errorf("throughput %g for %d requests in %s", res.Throughput, res.Requests, res.Elapsed)
	}
	l := res.Latency
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("latency %+v is not ordered", l)
	}
	if p.repeats != 0 || p.maxW != 3 {
		t.Errorf("(worker, iteration) repeated %d times, highest worker %d; want 0 and 3", p.repeats, p.maxW)
	}
	if res.Server != nil {
		t.Errorf("server stats %+v without a server pid", res.Server)
	}
}

func TestRunUnexpectedStatus(t *testing.T) {
	base := serverURL(t, http.NotFoundHandler())
	var p pathWorkload
	res, err := Run(context.Background(), Options{
		Workload: p.workload("/x", http.StatusOK), BaseURL: base, Concurrency: 2, Duration: testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != 0 {
		t.Fatalf("requests %d, ok %d: want some requests, none ok", res.Requests, res.OK)
	}
	want := ErrorCount{Kind: KindStatus, Status: 404, Count: res.Requests}
	if len(res.Errors) != 1 || res.Errors[0] != want {
		t.Errorf("errors %+v, want [%+v]", res.Errors, want)
	}
	if res.Latency.Max == 0 {
		t.Error("responses with an unexpected status have no latency")
	}
}

func TestRunExpectedNotFoundIsOK(t *testing.T) {
	base := serverURL(t, http.NotFoundHandler())
	wl, err := Find(Builtin(), "notfound")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Workload: wl, BaseURL: base, Concurrency: 2, Duration: testWindow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Errorf("requests %d, ok %d, errors %+v: a 404 is what notfound expects", res.Requests, res.OK, res.Errors)
	}
}

func TestRunTransportErrorWhenServerCloses(t *testing.T) {
	base := serverURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.Close() // no response at all
	}))
	var p pathWorkload
	res, err := Run(context.Background(), Options{
		Workload: p.workload("/x", http.StatusOK), BaseURL: base, Concurrency: 2, Duration: testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != 0 || len(res.Statuses) != 0 {
		t.Fatalf("requests %d, ok %d, statuses %v: want only transport errors", res.Requests, res.OK, res.Statuses)
	}
	var total int64
	for _, e := range res.Errors {
		if e.Kind != KindTransport || e.Detail == "" || e.Example == "" {
			t.Errorf("error %+v is not a described transport error", e)
		}
		total += e.Count
	}
	if total != res.Requests {
		t.Errorf("%d errors counted for %d requests", total, res.Requests)
	}
	if res.Latency != (Latency{}) {
		t.Errorf("latency %+v from requests that got no response", res.Latency)
	}
}

func TestRunOpenLoopBoundsOutstanding(t *testing.T) {
	const bound = 3
	var inflight, peak atomic.Int64
	base := serverURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-r.Context().Done() // never answer: every request stays outstanding until the run ends
	}))
	var p pathWorkload
	res, err := Run(context.Background(), Options{
		Workload: p.workload("/slow", http.StatusOK), BaseURL: base,
		Concurrency: bound, Rate: 1000, Duration: testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "open" {
		t.Errorf("mode %s, want open", res.Mode)
	}
	if got := peak.Load(); got > bound {
		t.Errorf("the server saw %d requests at once, the bound is %d", got, bound)
	}
	if p.maxW >= bound || p.repeats != 0 {
		t.Errorf("highest worker index %d (bound %d), %d repeated (worker, iteration)", p.maxW, bound, p.repeats)
	}
	// Requests cut off when the testWindow closes are not counted; the schedule went on without them.
	if res.Requests != 0 || res.Dropped == 0 {
		t.Errorf("requests %d, dropped %d: want none completed and some dropped", res.Requests, res.Dropped)
	}
}

func TestRunOpenLoopCompletes(t *testing.T) {
	base := serverURL(t, okHandler())
	var p pathWorkload
	res, err := Run(context.Background(), Options{
		Workload: p.workload("/health", http.StatusOK), BaseURL: base,
		Concurrency: 8, Rate: 500, Duration: testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Errorf("requests %d, ok %d, errors %+v", res.Requests, res.OK, res.Errors)
	}
	if p.repeats != 0 {
		t.Errorf("%d repeated (worker, iteration) pairs", p.repeats)
	}
}

func TestRunValidates(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:1")
	remote, _ := url.Parse("http://192.0.2.1:80")
	wl := Builtin()[0]
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no workload", func(o *Options) { o.Workload = Workload{} }, "no workload"},
		{"zero concurrency", func(o *Options) { o.Concurrency = 0 }, "concurrency 0"},
		{"huge concurrency", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate -1"},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "duration 0s"},
		{"over ten minutes", func(o *Options) { o.Duration = 11 * time.Minute }, "at most 10m0s"},
		{"negative warm-up", func(o *Options) { o.Warmup = -time.Second }, "warm-up -1s"},
		{"remote target", func(o *Options) { o.BaseURL = remote }, "not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Workload: wl, BaseURL: base, Concurrency: 1, Duration: time.Second}
			tt.edit(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunSetupError(t *testing.T) {
	base := serverURL(t, okHandler())
	boom := errors.New("cannot create accounts")
	_, err := Run(context.Background(), Options{
		Workload: Workload{Name: "signin", Setup: func(context.Context, Env) (RequestFunc, error) { return nil, boom }},
		BaseURL:  base, Concurrency: 1, Duration: testWindow,
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "set up workload signin") {
		t.Errorf("Run = %v, want the set-up error with the workload's name", err)
	}
}

func TestRunRequestErrorStopsTheRun(t *testing.T) {
	base := serverURL(t, okHandler())
	boom := errors.New("out of accounts")
	_, err := Run(context.Background(), Options{
		Workload: Workload{Name: "w", Setup: func(_ context.Context, env Env) (RequestFunc, error) {
			return func(ctx context.Context, worker int, iter uint64) (Call, error) {
				if iter == 3 {
					return Call{}, boom
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL("/"), nil)
				return Call{Request: req, Want: 200}, err
			}, nil
		}},
		BaseURL: base, Concurrency: 2, Duration: time.Minute, // ends long before the minute
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "iteration 3") {
		t.Errorf("Run = %v, want the request error", err)
	}
}

// TestRunCarriesStateThroughThen plays a rotating token: each answer names the token for the next
// request, and a token used twice is refused, as a refresh workload needs.
func TestRunCarriesStateThroughThen(t *testing.T) {
	var mu sync.Mutex
	used := map[string]bool{}
	var next atomic.Int64
	base := serverURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("token")
		mu.Lock()
		reused := used[tok]
		used[tok] = true
		mu.Unlock()
		if reused {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "t%d", next.Add(1))
	}))
	wl := Workload{Name: "rotate", Setup: func(_ context.Context, env Env) (RequestFunc, error) {
		tokens := make([]string, env.Workers)
		for w := range tokens {
			tokens[w] = fmt.Sprintf("seed%d", w)
		}
		return func(ctx context.Context, worker int, _ uint64) (Call, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL("/refresh?token="+tokens[worker]), nil)
			return Call{Request: req, Want: http.StatusOK, Then: func(body []byte) error {
				if len(body) == 0 {
					return errors.New("no token in the answer")
				}
				tokens[worker] = string(body)
				return nil
			}}, err
		}, nil
	}}
	res, err := Run(context.Background(), Options{Workload: wl, BaseURL: base, Concurrency: 3, Warmup: 20 * time.Millisecond, Duration: testWindow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Errorf("requests %d, ok %d, errors %+v: every rotated token should be fresh", res.Requests, res.OK, res.Errors)
	}
}

func TestRunBodyRejected(t *testing.T) {
	base := serverURL(t, okHandler())
	wl := Workload{Name: "check", Setup: func(_ context.Context, env Env) (RequestFunc, error) {
		return func(ctx context.Context, _ int, _ uint64) (Call, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL("/"), nil)
			return Call{Request: req, Want: http.StatusOK, Then: func(body []byte) error {
				return fmt.Errorf("want an access token, got %s", body)
			}}, err
		}, nil
	}}
	res, err := Run(context.Background(), Options{Workload: wl, BaseURL: base, Concurrency: 1, Duration: testWindow})
	if err != nil {
		t.Fatal(err)
	}
	want := ErrorCount{Kind: KindBody, Detail: "rejected", Count: res.Requests, Example: `want an access token, got {"status":"ok"}`}
	if res.Requests == 0 || res.OK != 0 || len(res.Errors) != 1 || res.Errors[0] != want {
		t.Errorf("requests %d, ok %d, errors %+v; want [%+v]", res.Requests, res.OK, res.Errors, want)
	}
}

func TestRunNilRequestStopsTheRun(t *testing.T) {
	base := serverURL(t, okHandler())
	wl := Workload{Name: "nil", Setup: func(context.Context, Env) (RequestFunc, error) {
		return func(context.Context, int, uint64) (Call, error) { return Call{Want: 200}, nil }, nil
	}}
	_, err := Run(context.Background(), Options{Workload: wl, BaseURL: base, Concurrency: 1, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "no request") {
		t.Errorf("Run = %v, want a workload error", err)
	}
}

func TestRunInterrupted(t *testing.T) {
	base := serverURL(t, okHandler())
	t.Run("during the testWindow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		wl := Workload{Name: "w", Setup: func(_ context.Context, env Env) (RequestFunc, error) {
			return func(ctx context.Context, worker int, iter uint64) (Call, error) {
				if calls.Add(1) == 50 {
					cancel() // the operator presses Ctrl-C
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL("/"), nil)
				return Call{Request: req, Want: 200}, err
			}, nil
		}}
		res, err := Run(ctx, Options{Workload: wl, BaseURL: base, Concurrency: 1, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Interrupted || res.Elapsed >= time.Minute || res.Requests == 0 {
			t.Errorf("interrupted %v, elapsed %s, requests %d", res.Interrupted, res.Elapsed, res.Requests)
		}
	})
	t.Run("during the warm-up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Run(ctx, Options{Workload: Builtin()[0], BaseURL: base, Concurrency: 1, Warmup: time.Minute, Duration: time.Minute})
		if err == nil || !strings.Contains(err.Error(), "warm-up") {
			t.Errorf("Run = %v, want an interrupted warm-up", err)
		}
	})
}

func TestRunReadsServerProcess(t *testing.T) {
	if _, err := ReadProcUsage(0); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	base := serverURL(t, okHandler())
	// This test process stands in for the server: it serves the requests, so it uses CPU.
	res, err := Run(context.Background(), Options{
		Workload: Builtin()[0], BaseURL: base, Concurrency: 2, Duration: testWindow, ServerPID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Server == nil || res.Server.PeakRSS <= 0 || res.Server.CPU < 0 || res.ProcUnreadable != "" {
		t.Errorf("server stats %+v (unreadable: %q)", res.Server, res.ProcUnreadable)
	}
}
