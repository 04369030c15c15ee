package jobs

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/riverqueue/river"
)

// TestBatcherGroupsConcurrentInserts holds the first insert until every other caller has queued,
// so the rest must go out together, and checks that each caller gets its own batch's result.
func TestBatcherGroupsConcurrentInserts(t *testing.T) {
	const callers = 20
	var (
		mu      sync.Mutex
		batches [][]int
	)
	release := make(chan struct{})
	boom := errors.New("boom")
	b := &batcher{insert: func(_ context.Context, params []river.InsertManyParams) error {
		keys := make([]int, len(params))
		for i, p := range params {
			keys[i] = p.Args.(testArgs).N
		}
		mu.Lock()
		first := len(batches) == 0
		batches = append(batches, keys)
		mu.Unlock()
		if first {
			<-release
			return nil
		}
		return boom
	}}

	results := make([]error, callers)
	var wg sync.WaitGroup
	wg.Go(func() { results[0] = b.add(river.InsertManyParams{Args: testArgs{N: 0}}) })
	// Wait until the first insert is running, then queue the others behind it.
	for {
		mu.Lock()
		started := len(batches) == 1
		mu.Unlock()
		if started {
			break
		}
		runtime.Gosched()
	}
	for i := 1; i < callers; i++ {
		wg.Go(func() { results[i] = b.add(river.InsertManyParams{Args: testArgs{N: i}}) })
	}
	for {
		b.mu.Lock()
		queued := len(b.pending)
		b.mu.Unlock()
		if queued == callers-1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != callers-1 {
		t.Fatalf("batches = %v; want [0] then the other %d together", batches, callers-1)
	}
	if results[0] != nil {
		t.Errorf("first caller: %v; want its batch's success", results[0])
	}
	for i := 1; i < callers; i++ {
		if !errors.Is(results[i], boom) {
			t.Errorf("caller %d: %v; want its batch's error", i, results[i])
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flushing || len(b.pending) != 0 {
		t.Errorf("after all callers returned: flushing %v, %d pending; want idle", b.flushing, len(b.pending))
	}
}

// TestBatcherSplitsLargeBatches checks that no insert carries more than maxBatch jobs.
func TestBatcherSplitsLargeBatches(t *testing.T) {
	const callers = 2*maxBatch + 10
	var (
		mu      sync.Mutex
		largest int
		total   int
	)
	b := &batcher{insert: func(_ context.Context, params []river.InsertManyParams) error {
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(params))
		total += len(params)
		return nil
	}}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if err := b.add(river.InsertManyParams{Args: testArgs{N: i}}); err != nil {
				t.Errorf("add %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if largest > maxBatch || total != callers {
		t.Fatalf("largest insert %d jobs, %d in all; want at most %d, %d in all", largest, total, maxBatch, callers)
	}
}

type testArgs struct{ N int }

func (testArgs) Kind() string { return "jobs_test_batch" }
