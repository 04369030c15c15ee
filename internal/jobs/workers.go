package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// Workers is the registry of job handlers of a process, filled by the domain packages (with Handle)
// before the queue starts. It wraps River's registry so that those packages need not import River.
type Workers struct {
	mu    sync.Mutex
	river *river.Workers
	kinds []string
}

// NewWorkers returns an empty registry.
func NewWorkers() *Workers {
	return &Workers{river: river.NewWorkers()}
}

// Work is one run of a job, handed to its handler.
type Work[T Args] struct {
	ID          int64
	Args        T
	Attempt     int // 1 on the first run
	MaxAttempts int
	CreatedAt   time.Time
}

// Handle registers fn as the handler of the jobs whose Args are of type T (T's Kind names them). A
// handler returning an error is retried with backoff until the job's attempts are exhausted, so it
// must be idempotent. Register every handler before the queue starts.
func Handle[T Args](w *Workers, fn func(ctx context.Context, job Work[T]) error) error {
	var zero T
	kind := zero.Kind()
	w.mu.Lock()
	defer w.mu.Unlock()
	err := river.AddWorkerSafely(w.river, river.WorkFunc(func(ctx context.Context, job *river.Job[T]) error {
		return fn(ctx, Work[T]{
			ID:          job.ID,
			Args:        job.Args,
			Attempt:     job.Attempt,
			MaxAttempts: job.MaxAttempts,
			CreatedAt:   job.CreatedAt,
		})
	}))
	if err != nil {
		return fmt.Errorf("jobs: register handler for %q: %w", kind, err)
	}
	w.kinds = append(w.kinds, kind)
	return nil
}

// Kinds lists the registered job kinds, sorted.
func (w *Workers) Kinds() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(slices.Values(w.kinds))
}

// empty reports whether no handler is registered (a nil registry is empty).
func (w *Workers) empty() bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.kinds) == 0
}
