package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// queueDrainer is what the drain test needs beyond jobs.Queue: a sign that Stop has begun and no
// new job can start.
type queueDrainer interface {
	Draining() <-chan struct{}
}

// RunQueue runs the jobs.Queue contract on the queue a records store keeps. newDatabase is as for
// RunRecords.
func RunQueue(t *testing.T, newDatabase func(t *testing.T) RecordsOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open RecordsOpener)
	}{
		{"RunsOnce", queueRunsOnce},
		{"RetriesThenFails", queueRetriesThenFails},
		{"DefaultMaxAttempts", queueDefaultMaxAttempts},
		{"FailedNewestFirst", queueFailedOrder},
		{"Stats", queueStats},
		{"StopDrains", queueStopDrains},
		{"StopCancelsWhenContextEnds", queueStopCancels},
		{"StartStopWithoutHandlers", queueNoHandlers},
		{"UnknownQueue", queueUnknownQueue},
		{"ConcurrentEnqueue", queueConcurrentEnqueue},
		{"Periodic", queuePeriodic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDatabase(t))
		})
	}
}

// queueRecorder records the runs of the jobs of one kind.
type queueRecorder struct {
	mu   sync.Mutex
	runs map[string][]jobs.Work[queueCountArgs]
}

func (r *queueRecorder) handle(_ context.Context, job jobs.Work[queueCountArgs]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string][]jobs.Work[queueCountArgs]{}
	}
	r.runs[job.Args.Key] = append(r.runs[job.Args.Key], job)
	return nil
}

func (r *queueRecorder) get(key string) []jobs.Work[queueCountArgs] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs[key])
}

func queueRunsOnce(t *testing.T, open RecordsOpener) {
	rec := &queueRecorder{}
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, rec.handle))
	cfg := recordsJobs()
	cfg.MaxAttempts = 7
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: cfg})
	ctx := recordsCtx(t)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.Enqueue(ctx, queueCountArgs{Key: "in tx"}, nil)
	}))
	recordsMust(t, "Enqueue", s.Queue().Enqueue(ctx, queueCountArgs{Key: "outside tx"}, nil))
	recordsStart(t, s)
	recordsWaitStats(t, s, "both jobs to complete", func(st jobs.Stats) bool { return st.Completed == 2 })

	for _, key := range []string{"in tx", "outside tx"} {
		runs := rec.get(key)
		if len(runs) != 1 {
			t.Fatalf("job %q ran %d times; want once", key, len(runs))
		}
		if r := runs[0]; r.ID <= 0 || r.Attempt != 1 || r.MaxAttempts != 7 || r.CreatedAt.IsZero() {
			t.Errorf("job %q ran as %+v; want an ID, attempt 1 of 7, a creation time", key, r)
		}
	}
	if st := recordsStats(t, s); st != (jobs.Stats{Completed: 2}) {
		t.Errorf("Stats = %+v; want 2 completed", st)
	}
}

// queueFailing registers a handler failing every attempt with "boom <key> <attempt>" and returns
// the attempts it saw per key.
func queueFailing(t *testing.T, w *jobs.Workers) func(key string) []int {
	t.Helper()
	var mu sync.Mutex
	attempts := map[string][]int{}
	recordsMust(t, "Handle", jobs.Handle(w, func(_ context.Context, job jobs.Work[queueFailArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[job.Args.Key] = append(attempts[job.Args.Key], job.Attempt)
		return fmt.Errorf("boom %s %d", job.Args.Key, job.Attempt)
	}))
	return func(key string) []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(attempts[key])
	}
}

func queueRetriesThenFails(t *testing.T, open RecordsOpener) {
	w := jobs.NewWorkers()
	attempts := queueFailing(t, w)
	cfg := recordsJobs()
	cfg.MaxAttempts = 5 // the job's own 3 wins
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: cfg})
	ctx := recordsCtx(t)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.Enqueue(ctx, queueFailArgs{Key: "a"}, &jobs.InsertOpts{MaxAttempts: 3})
	}))
	recordsStart(t, s)
	st := recordsWaitStats(t, s, "the job to fail for good", func(st jobs.Stats) bool { return st.Failed == 1 })
	if st != (jobs.Stats{Failed: 1}) {
		t.Errorf("Stats = %+v; want 1 failed", st)
	}
	if got := attempts("a"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("attempts = %v; want [1 2 3]", got)
	}
	failed, err := s.Queue().Failed(ctx, 10)
	recordsMust(t, "Failed", err)
	if len(failed) != 1 {
		t.Fatalf("Failed = %+v; want 1 job", failed)
	}
	j := failed[0]
	if j.Kind != (queueFailArgs{}).Kind() || j.State != jobs.StateFailed || j.Attempt != 3 || j.MaxAttempts != 3 ||
		j.ID <= 0 || j.CreatedAt.IsZero() || j.FinalizedAt.IsZero() || j.FinalizedAt.Before(j.CreatedAt) {
		t.Errorf("Failed[0] = %+v", j)
	}
	if want := []string{"boom a 1", "boom a 2", "boom a 3"}; !slices.Equal(j.Errors, want) {
		t.Errorf("Failed[0].Errors = %q; want %q", j.Errors, want)
	}
}

func queueDefaultMaxAttempts(t *testing.T, open RecordsOpener) {
	w := jobs.NewWorkers()
	attempts := queueFailing(t, w)
	cfg := recordsJobs()
	cfg.MaxAttempts = 2
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: cfg})
	recordsMust(t, "Enqueue", s.Queue().Enqueue(recordsCtx(t), queueFailArgs{Key: "b"}, nil))
	recordsStart(t, s)
	recordsWaitStats(t, s, "the job to fail for good", func(st jobs.Stats) bool { return st.Failed == 1 })
	if got := attempts("b"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("attempts = %v; want [1 2]", got)
	}
}

func queueFailedOrder(t *testing.T, open RecordsOpener) {
	w := jobs.NewWorkers()
	queueFailing(t, w)
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: recordsJobs()})
	ctx := recordsCtx(t)
	recordsStart(t, s)
	once := &jobs.InsertOpts{MaxAttempts: 1}
	recordsMust(t, "Enqueue first", s.Queue().Enqueue(ctx, queueFailArgs{Key: "first"}, once))
	recordsWaitStats(t, s, "the first job to fail", func(st jobs.Stats) bool { return st.Failed == 1 })
	recordsMust(t, "Enqueue second", s.Queue().Enqueue(ctx, queueFailArgs{Key: "second"}, once))
	recordsWaitStats(t, s, "the second job to fail", func(st jobs.Stats) bool { return st.Failed == 2 })

	all, err := s.Queue().Failed(ctx, 0)
	recordsMust(t, "Failed", err)
	if len(all) != 2 || all[0].ID <= all[1].ID || !slices.Equal(all[0].Errors, []string{"boom second 1"}) {
		t.Fatalf("Failed = %+v; want the second job first", all)
	}
	top, err := s.Queue().Failed(ctx, 1)
	recordsMust(t, "Failed(1)", err)
	if len(top) != 1 || top[0].ID != all[0].ID {
		t.Errorf("Failed(1) = %+v; want only the newest", top)
	}
}

func queueStats(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{Jobs: recordsJobs()})
	ctx := recordsCtx(t)
	if st := recordsStats(t, s); st != (jobs.Stats{}) {
		t.Errorf("Stats of an empty queue = %+v", st)
	}
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		for i := range 2 {
			if err := tx.Enqueue(ctx, recordsNoopArgs{N: i}, nil); err != nil {
				return err
			}
		}
		return tx.Enqueue(ctx, recordsNoopArgs{N: 9}, &jobs.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	}))
	recordsMust(t, "Enqueue", s.Queue().Enqueue(ctx, recordsNoopArgs{N: 3}, nil))
	if st := recordsStats(t, s); st != (jobs.Stats{Available: 3, Scheduled: 1}) {
		t.Errorf("Stats = %+v; want 3 available, 1 scheduled", st)
	}
}

// queueStopDrains runs one worker: a job blocks while Stop begins; a second job waits behind it.
// Stop must wait for the first to finish and must not start the second.
func queueStopDrains(t *testing.T, open RecordsOpener) {
	started := make(chan string, 2)
	release := make(chan struct{})
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, func(ctx context.Context, job jobs.Work[queueBlockArgs]) error {
		started <- job.Args.Name
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	cfg := recordsJobs()
	cfg.Workers = 1
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: cfg})
	q := s.Queue()
	drainer, ok := q.(queueDrainer)
	if !ok {
		t.Fatalf("%T has no Draining method", q)
	}
	ctx := recordsCtx(t)
	recordsMust(t, "Enqueue", q.Enqueue(ctx, queueBlockArgs{Name: "first"}, nil))
	recordsMust(t, "Start", q.Start(context.WithoutCancel(ctx)))
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	select {
	case name := <-started:
		if name != "first" {
			t.Fatalf("started %q first", name)
		}
	case <-ctx.Done():
		t.Fatal("the first job never started")
	}
	recordsMust(t, "Enqueue second", q.Enqueue(ctx, queueBlockArgs{Name: "second"}, nil))

	stopped := make(chan error, 1)
	go func() { stopped <- q.Stop(ctx) }()
	select {
	case <-drainer.Draining():
	case <-ctx.Done():
		t.Fatal("Draining never closed")
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a job was running", err)
	default:
	}
	close(release)
	select {
	case err := <-stopped:
		recordsMust(t, "Stop", err)
	case <-ctx.Done():
		t.Fatal("Stop did not return after the job finished")
	}
	select {
	case name := <-started:
		t.Errorf("job %q started after Stop", name)
	default:
	}
	// The first job finished and was recorded complete before Stop returned; the second waits
	// for another node.
	if st := recordsStats(t, s); st != (jobs.Stats{Available: 1, Completed: 1}) {
		t.Errorf("Stats after Stop = %+v; want 1 completed, 1 available", st)
	}
	recordsMust(t, "second Stop", q.Stop(ctx))
}

// queueStopCancels stops with a context that has already ended: the running job's context is
// cancelled, Stop reports the cut-short drain, and the job is left to be retried, not running.
func queueStopCancels(t *testing.T, open RecordsOpener) {
	started := make(chan struct{}, 1)
	cancelled := make(chan struct{})
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, func(ctx context.Context, job jobs.Work[queueBlockArgs]) error {
		started <- struct{}{}
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}))
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: recordsJobs()})
	q := s.Queue()
	ctx := recordsCtx(t)
	recordsMust(t, "Enqueue", q.Enqueue(ctx, queueBlockArgs{Name: "slow"}, &jobs.InsertOpts{MaxAttempts: 5}))
	recordsMust(t, "Start", q.Start(context.WithoutCancel(ctx)))
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the job never started")
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	err := q.Stop(ended)
	recordsWantIs(t, "Stop with an ended context", err, context.Canceled)
	select {
	case <-cancelled:
	default:
		t.Error("Stop returned before the running job saw its context cancelled")
	}
	st := recordsStats(t, s)
	if st.Running != 0 || st.Available+st.Retryable != 1 {
		t.Errorf("Stats after a cut-short Stop = %+v; want the job waiting for a retry", st)
	}
}

func queueNoHandlers(t *testing.T, open RecordsOpener) {
	ctx := recordsCtx(t)
	for _, tc := range []struct {
		name    string
		workers *jobs.Workers
	}{
		{"enqueue-only handle", nil},
		{"empty registry", jobs.NewWorkers()},
	} {
		s := recordsOpenMigrated(t, open, RecordsOptions{Workers: tc.workers, Jobs: recordsJobs()})
		recordsMust(t, tc.name+": Start", s.Queue().Start(ctx))
		recordsMust(t, tc.name+": Stop", s.Queue().Stop(ctx))
	}
	s := open(t, RecordsOptions{Jobs: recordsJobs()})
	recordsMust(t, "Stop before Start", s.Queue().Stop(ctx))
}

func queueUnknownQueue(t *testing.T, open RecordsOpener) {
	cfg := recordsJobs()
	cfg.Queues = map[string]int{"mail": 1}
	s := recordsOpenMigrated(t, open, RecordsOptions{Jobs: cfg})
	ctx := recordsCtx(t)
	if err := s.Queue().Enqueue(ctx, recordsNoopArgs{}, &jobs.InsertOpts{Queue: "nowhere"}); err == nil {
		t.Error("Enqueue into an unconfigured queue succeeded")
	}
	recordsMust(t, "Enqueue into a configured queue", s.Queue().Enqueue(ctx, recordsNoopArgs{}, &jobs.InsertOpts{Queue: "mail"}))
	if st := recordsStats(t, s); st.Available != 1 {
		t.Errorf("Stats = %+v; want 1 available", st)
	}
}

// queueConcurrentEnqueue enqueues from many goroutines at once, which the runner writes in group
// inserts: every job must be written exactly once, with its own options, and run once.
func queueConcurrentEnqueue(t *testing.T, open RecordsOpener) {
	const n = 64
	rec := &queueRecorder{}
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, rec.handle))
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: recordsJobs()})
	ctx := recordsCtx(t)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			opts := &jobs.InsertOpts{MaxAttempts: 1 + i%3}
			errs[i] = s.Queue().Enqueue(ctx, queueCountArgs{Key: fmt.Sprint(i)}, opts)
		})
	}
	wg.Wait()
	for i, err := range errs {
		recordsMust(t, fmt.Sprintf("Enqueue %d", i), err)
	}
	if st := recordsStats(t, s); st != (jobs.Stats{Available: n}) {
		t.Fatalf("Stats after %d concurrent Enqueue calls = %+v; want %d available", n, st, n)
	}
	recordsStart(t, s)
	recordsWaitStats(t, s, "every job to complete", func(st jobs.Stats) bool { return st.Completed == n })
	for i := range n {
		runs := rec.get(fmt.Sprint(i))
		if len(runs) != 1 || runs[0].MaxAttempts != 1+i%3 {
			t.Fatalf("job %d ran as %+v; want once, with max attempts %d", i, runs, 1+i%3)
		}
	}
}
