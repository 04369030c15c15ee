package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// maxBatch bounds how many jobs one group insert writes.
const maxBatch = 256

// batchTimeout bounds one group insert. The insert does not run under any one caller's context,
// since it carries the jobs of several callers.
const batchTimeout = 30 * time.Second

// batcher turns concurrent inserts outside a transaction into group inserts: one transaction (on
// PostgreSQL one round trip for the rows, one commit, one WAL flush; on SQLite one hold of the single
// writer) for all the jobs that arrived while the previous insert was running. An insert that finds
// the batcher idle is written at once, alone, so a quiet server adds no delay; under load each
// caller waits for at most the insert in flight plus its own batch's.
type batcher struct {
	insert func(ctx context.Context, params []river.InsertManyParams) error

	mu       sync.Mutex
	pending  []*batchItem
	flushing bool
}

type batchItem struct {
	params river.InsertManyParams
	done   chan error
}

// add queues params and waits until the insert that carries it has committed or failed. The caller
// waits even if its context ends meanwhile: the job may be written by then, and the answer must say
// whether it was.
func (b *batcher) add(params river.InsertManyParams) error {
	it := &batchItem{params: params, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, it)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	return <-it.done
}

// flush inserts pending jobs, a batch at a time, until none are left.
func (b *batcher) flush() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		if n == 0 {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		if len(b.pending) == 0 {
			b.pending = nil
		}
		b.mu.Unlock()

		params := make([]river.InsertManyParams, len(batch))
		for i, it := range batch {
			params[i] = it.params
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		err := b.insert(ctx, params)
		cancel()
		for _, it := range batch {
			it.done <- err
		}
	}
}
