package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// RecordsStore is what the records and queue suites need of an adapter: the store and its
// migrations.
type RecordsStore interface {
	records.Store
	records.Migrator
}

// RecordsOptions is what a subtest asks of one handle on its database.
type RecordsOptions struct {
	Workers *jobs.Workers // job handlers; nil opens a handle that only enqueues
	Jobs    jobs.Config
}

// RecordsOpener opens a new handle (its own pools and job client) on one isolated database, which
// starts empty and unmigrated. The adapter's opener registers the handle's Close with t.Cleanup.
type RecordsOpener func(t *testing.T, opts RecordsOptions) RecordsStore

// recordsWait bounds every wait for something the queue does on its own. It is a deadline for
// failures, never a delay on success.
const recordsWait = 15 * time.Second

// recordsPoll is the pause between two looks at the queue while waiting.
const recordsPoll = 5 * time.Millisecond

// recordsJobs is a job configuration fast enough for tests: short polls and millisecond retries.
func recordsJobs() jobs.Config {
	return jobs.Config{
		Workers:      2,
		PollInterval: 10 * time.Millisecond,
		RetryBase:    time.Millisecond,
		RetryMax:     4 * time.Millisecond,
	}
}

// recordsOpenMigrated opens a handle and migrates its database.
func recordsOpenMigrated(t *testing.T, open RecordsOpener, opts RecordsOptions) RecordsStore {
	t.Helper()
	s := open(t, opts)
	if err := s.Migrate(recordsCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// recordsCtx is a context bounded by recordsWait, cancelled when the test ends.
func recordsCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), recordsWait)
	t.Cleanup(cancel)
	return ctx
}

func recordsMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// recordsWantIs fails unless err wraps want.
func recordsWantIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want one wrapping %v", what, err, want)
	}
}

// recordsEventually polls cond until it holds, failing the test after recordsWait.
func recordsEventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(recordsWait)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what, recordsWait)
		}
		time.Sleep(recordsPoll)
	}
}

// recordsStats reads the queue's counts.
func recordsStats(t *testing.T, s records.Store) jobs.Stats {
	t.Helper()
	st, err := s.Queue().Stats(recordsCtx(t))
	recordsMust(t, "Queue.Stats", err)
	return st
}

// recordsWaitStats waits until the queue's counts satisfy cond.
func recordsWaitStats(t *testing.T, s records.Store, what string, cond func(jobs.Stats) bool) jobs.Stats {
	t.Helper()
	var last jobs.Stats
	recordsEventually(t, what, func() (bool, error) {
		st, err := s.Queue().Stats(recordsCtx(t))
		last = st
		return err == nil && cond(st), err
	})
	return last
}

// recordsStart starts the queue and stops it (briefly draining) when the test ends.
func recordsStart(t *testing.T, s records.Store) {
	t.Helper()
	recordsMust(t, "Queue.Start", s.Queue().Start(context.WithoutCancel(t.Context())))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Queue().Stop(ctx); err != nil {
			t.Errorf("Queue.Stop: %v", err)
		}
	})
}

// Job kinds the suites register.

type recordsNoopArgs struct{ N int }

func (recordsNoopArgs) Kind() string { return "storetest_noop" }

type queueCountArgs struct{ Key string }

func (queueCountArgs) Kind() string { return "storetest_count" }

type queueFailArgs struct{ Key string }

func (queueFailArgs) Kind() string { return "storetest_fail" }

type queueBlockArgs struct{ Name string }

func (queueBlockArgs) Kind() string { return "storetest_block" }
