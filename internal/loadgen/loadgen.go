// Package loadgen owns gatehouse's load harness engine: named workloads, a closed-loop (fixed
// concurrency) and an open-loop (fixed rate, bounded outstanding requests) driver, exact latency
// percentiles, error classification, and the spawning and measuring of a server process.
//
// cmd/gatehouse-load is the command-line front end; docs/load-testing.md explains the numbers and how
// to add a workload. Every figure in BENCHMARKS.md comes from this engine (or from go test -bench).
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// MaxDuration bounds both the warm-up and the measured window: load on a shared machine must end.
const MaxDuration = 10 * time.Minute

// MaxConcurrency bounds the number of connections (closed loop) or outstanding requests (open loop).
const MaxConcurrency = 4096

// MaxRate bounds the open-loop request rate in requests per second.
const MaxRate = 1_000_000

// Options describes one run.
type Options struct {
	Workload Workload
	BaseURL  *url.URL
	// Client sends every request. Nil means NewClient(Concurrency, DefaultTimeout).
	Client *http.Client
	// Concurrency is the number of workers. In closed-loop mode (Rate == 0) each worker sends its
	// next request as soon as the previous one completes; in open-loop mode it bounds the number of
	// outstanding requests.
	Concurrency int
	// Rate, when positive, selects open-loop mode: requests are started at this many per second
	// whatever the server's latency, and a request whose start finds Concurrency requests
	// outstanding is not sent but counted as dropped.
	Rate float64
	// Warmup runs the workload before the measured window; nothing from it is counted.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// AllowRemote permits targets outside loopback (see CheckTarget).
	AllowRemote bool
	// ServerPID, when positive, is the process whose CPU time (over the measured window) and peak
	// resident memory (at the end of the window) are read from /proc into Result.Server.
	ServerPID int
	// RunID is passed to the workload (Env.RunID) to make its data unique. Empty means random.
	RunID string
}

// Result is what one run measured. Durations marshal to JSON as integer nanoseconds.
type Result struct {
	Workload       string        `json:"workload"`
	Mode           string        `json:"mode"` // "closed" or "open"
	Concurrency    int           `json:"concurrency"`
	Rate           float64       `json:"rate,omitempty"`
	Warmup         time.Duration `json:"warmup_ns"`
	Duration       time.Duration `json:"duration_ns"`
	Elapsed        time.Duration `json:"elapsed_ns"` // the measured window as it really was
	Interrupted    bool          `json:"interrupted,omitempty"`
	Requests       int64         `json:"requests"` // completed in the window, errors included
	OK             int64         `json:"ok"`       // answered with the expected status
	Throughput     float64       `json:"throughput_rps"`
	Latency        Latency       `json:"latency_ns"`
	Statuses       map[int]int64 `json:"statuses"`
	Errors         []ErrorCount  `json:"errors"`
	Dropped        int64         `json:"dropped,omitempty"` // open loop: not sent, bound reached
	ClientCPU      float64       `json:"client_cpu_seconds,omitempty"`
	Server         *ServerStats  `json:"server,omitempty"`
	ProcUnreadable string        `json:"proc_unreadable,omitempty"` // why CPU/RSS figures are missing
}

// ServerStats are the measurements of a server process. Run fills PID, CPU and PeakRSS; the caller
// that started the server adds the rest.
type ServerStats struct {
	Command        string        `json:"command,omitempty"`
	PID            int           `json:"pid"`
	StartupToReady time.Duration `json:"startup_to_ready_ns,omitempty"`
	IdleRSS        int64         `json:"idle_rss_bytes,omitempty"`
	PeakRSS        int64         `json:"peak_rss_bytes,omitempty"`
	CPU            float64       `json:"cpu_seconds"`
	Shutdown       time.Duration `json:"shutdown_ns,omitempty"`
}

// Run sets up the workload, runs the warm-up and then the measured window, and returns what was
// measured. When ctx ends during the measured window the result covers the part that ran and is
// marked Interrupted; when it ends earlier Run returns ctx's error.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	client := opts.Client
	if client == nil {
		client = NewClient(opts.Concurrency, DefaultTimeout)
	}
	runID := opts.RunID
	if runID == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generate run id: %w", err)
		}
		runID = hex.EncodeToString(b[:])
	}
	env := Env{Client: client, BaseURL: opts.BaseURL, Workers: opts.Concurrency, RunID: runID}
	next, err := opts.Workload.Setup(ctx, env)
	if err == nil && next == nil {
		err = errors.New("no request function")
	}
	if err != nil {
		return nil, fmt.Errorf("set up workload %s: %w", opts.Workload.Name, err)
	}

	r := &runner{
		client: client,
		next:   next,
		recs:   make([]recorder, opts.Concurrency),
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	r.cancel = cancel
	defer cancel(nil)

	var wg sync.WaitGroup
	var dropped atomic.Int64
	if opts.Rate > 0 {
		wg.Go(func() { r.openLoop(runCtx, opts.Rate, &wg, &dropped) })
	} else {
		for w := range opts.Concurrency {
			wg.Go(func() { r.closedLoop(runCtx, w) })
		}
	}

	res := &Result{
		Workload:    opts.Workload.Name,
		Mode:        "closed",
		Concurrency: opts.Concurrency,
		Rate:        opts.Rate,
		Warmup:      opts.Warmup,
		Duration:    opts.Duration,
	}
	if opts.Rate > 0 {
		res.Mode = "open"
	}
	w, werr := r.window(runCtx, opts)
	cancel(errWindowOver)
	wg.Wait()
	// Connections dialled for requests cut off at the end may never have carried a request; a
	// server shutting down waits for such connections, so leaving them open would be measured as
	// the server's slow shutdown.
	client.CloseIdleConnections()
	if err := r.failure(); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}

	res.Elapsed = w.end.Sub(w.start)
	res.Interrupted = w.interrupted
	res.Dropped = dropped.Load()
	r.summarize(res)
	w.fill(res, opts.ServerPID)
	return res, nil
}

// errWindowOver cancels the requests still outstanding when the measured window closes.
var errWindowOver = errors.New("measured window over")

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

type runner struct {
	client *http.Client
	next   RequestFunc
	phase  atomic.Int32
	recs   []recorder // one per worker (closed loop) or slot (open loop): no locking

	cancel context.CancelCauseFunc
	mu     sync.Mutex
	err    error
}

// window holds what was read at the edges of the measured window.
type window struct {
	start, end             time.Time
	interrupted            bool
	selfCPU0, selfCPU1     ProcUsage
	serverCPU0, serverCPU1 ProcUsage
	procErr                error
}

// window waits out the warm-up, opens the measured window, waits for its end and closes it,
// reading the client's and the server's CPU time at both edges.
func (r *runner) window(ctx context.Context, opts Options) (*window, error) {
	if opts.Warmup > 0 {
		t := time.NewTimer(opts.Warmup)
		select {
		case <-ctx.Done():
			t.Stop()
			if err := r.failure(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("interrupted during warm-up: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
	w := &window{}
	w.read(opts.ServerPID, &w.selfCPU0, &w.serverCPU0)
	w.start = time.Now()
	r.phase.Store(phaseMeasure)

	t := time.NewTimer(opts.Duration)
	select {
	case <-ctx.Done():
		t.Stop()
		w.interrupted = true
	case <-t.C:
	}
	r.phase.Store(phaseDone)
	w.end = time.Now()
	w.read(opts.ServerPID, &w.selfCPU1, &w.serverCPU1)
	return w, nil
}

func (w *window) read(serverPID int, self, server *ProcUsage) {
	var err error
	if *self, err = ReadProcUsage(0); err != nil && w.procErr == nil {
		w.procErr = err
	}
	if serverPID > 0 {
		if *server, err = ReadProcUsage(serverPID); err != nil && w.procErr == nil {
			w.procErr = err
		}
	}
}

func (w *window) fill(res *Result, serverPID int) {
	if w.procErr != nil {
		res.ProcUnreadable = w.procErr.Error()
	} else {
		res.ClientCPU = (w.selfCPU1.CPU - w.selfCPU0.CPU).Seconds()
	}
	if serverPID > 0 {
		res.Server = &ServerStats{PID: serverPID}
		if w.procErr == nil {
			res.Server.CPU = (w.serverCPU1.CPU - w.serverCPU0.CPU).Seconds()
			res.Server.PeakRSS = w.serverCPU1.PeakRSS
		}
	}
}

// fail records the first workload error and stops the run: a request that cannot be built is a bug
// in the workload or exhausted data, and numbers measured around it would mislead.
func (r *runner) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel(err)
}

func (r *runner) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// closedLoop sends requests back to back as worker w until the run ends.
func (r *runner) closedLoop(ctx context.Context, w int) {
	rec := &r.recs[w]
	for iter := uint64(0); ctx.Err() == nil; iter++ {
		if !r.do(ctx, rec, w, iter) {
			return
		}
	}
}

// openLoop starts requests at the given rate. Each request runs on one of len(r.recs) slots; when no
// slot is free the request is dropped rather than delayed, so the schedule never slows down to the
// server's pace (the closed-loop mistake known as coordinated omission).
func (r *runner) openLoop(ctx context.Context, rate float64, wg *sync.WaitGroup, dropped *atomic.Int64) {
	type slot struct {
		index int
		iter  uint64
	}
	free := make(chan slot, len(r.recs))
	for i := range r.recs {
		free <- slot{index: i}
	}
	interval := time.Duration(float64(time.Second) / rate)
	if interval <= 0 {
		interval = 1
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// Start every request that is due; after a stall this catches up with the schedule.
		now := time.Now()
		for ; !next.After(now); next = next.Add(interval) {
			select {
			case s := <-free:
				wg.Go(func() {
					if r.do(ctx, &r.recs[s.index], s.index, s.iter) {
						s.iter++
						free <- s
					}
				})
			default:
				if r.phase.Load() == phaseMeasure {
					dropped.Add(1)
				}
			}
		}
		timer.Reset(time.Until(next))
	}
}

// do makes one call and records its outcome if it completed inside the measured window. It reports
// false when the workload could not build the request.
func (r *runner) do(ctx context.Context, rec *recorder, worker int, iter uint64) bool {
	call, err := r.next(ctx, worker, iter)
	if err == nil && call.Request == nil {
		err = errors.New("no request")
	}
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("workload request (worker %d, iteration %d): %w", worker, iter, err))
		}
		return false
	}
	start := time.Now()
	resp, err := r.client.Do(call.Request)
	status := 0
	var body []byte
	if err == nil {
		status = resp.StatusCode
		if call.Then != nil && status == call.Want {
			body, err = readAll(resp)
		} else {
			err = drain(resp)
		}
	}
	latency := time.Since(start)
	var rejected error
	if err == nil && call.Then != nil && status == call.Want {
		rejected = call.Then(body)
	}
	if r.phase.Load() != phaseMeasure {
		return true
	}
	rec.record(latency, status, call.Want, err, rejected)
	return true
}
