package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// RunRecords runs the records.Store and records.Migrator contract. newDatabase makes a fresh,
// empty, isolated database (a temporary file, a new schema) for each subtest and returns an opener
// of handles on it.
func RunRecords(t *testing.T, newDatabase func(t *testing.T) RecordsOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open RecordsOpener)
	}{
		{"Backend", recordsBackend},
		{"Ping", recordsPing},
		{"Stats", recordsPoolStats},
		{"Migrate/StatusBeforeMigrate", recordsStatusPending},
		{"Migrate/Applies", recordsMigrateApplies},
		{"Migrate/TwiceIsNoOp", recordsMigrateTwice},
		{"Migrate/Concurrent", recordsMigrateConcurrent},
		{"Meta/PutGet", recordsMetaPutGet},
		{"Meta/InsertConflict", recordsMetaInsertConflict},
		{"Meta/NotFound", recordsMetaNotFound},
		{"InTx/Commit", recordsTxCommit},
		{"InTx/Rollback", recordsTxRollback},
		{"InTx/RollbackDropsJobs", recordsTxRollbackJobs},
		{"InTx/Panic", recordsTxPanic},
		{"InTx/ConflictAbortsTx", recordsTxConflict},
		{"Timeout/Cancelled", recordsTimeoutCancelled},
		{"Timeout/Deadline", recordsTimeoutDeadline},
		{"Timeout/InsideTx", recordsTimeoutInTx},
		{"Purge/Rules", recordsPurgeRules},
		{"Purge/Batches", recordsPurgeBatches},
		{"Purge/Limit", recordsPurgeLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDatabase(t))
		})
	}
}

func recordsBackend(t *testing.T, open RecordsOpener) {
	s := open(t, RecordsOptions{})
	if b := s.Backend(); b != records.BackendSQLite && b != records.BackendPostgres {
		t.Errorf("Backend = %q", b)
	}
}

func recordsPing(t *testing.T, open RecordsOpener) {
	s := open(t, RecordsOptions{})
	recordsMust(t, "Ping", s.Ping(recordsCtx(t)))
}

func recordsPoolStats(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	recordsMust(t, "Ping", s.Ping(recordsCtx(t)))
	st := s.Stats()
	if st.MaxConns < 1 || st.OpenConns < 1 || st.OpenConns > st.MaxConns {
		t.Errorf("Stats = %+v: want 1 <= OpenConns <= MaxConns", st)
	}
	if st.InUse < 0 || st.Idle < 0 || st.InUse+st.Idle > st.OpenConns || st.WaitCount < 0 || st.WaitDuration < 0 {
		t.Errorf("Stats = %+v: inconsistent", st)
	}
}

// recordsStatus reads the migration status.
func recordsStatus(t *testing.T, s RecordsStore) []records.Migration {
	t.Helper()
	list, err := s.MigrationStatus(recordsCtx(t))
	recordsMust(t, "MigrationStatus", err)
	if len(list) == 0 {
		t.Fatal("MigrationStatus lists no migration")
	}
	return list
}

// recordsWantListed checks that the list has gatehouse's meta migration and River's.
func recordsWantListed(t *testing.T, list []records.Migration) {
	t.Helper()
	var meta, river bool
	for _, m := range list {
		meta = meta || strings.Contains(m.Name, "meta")
		river = river || strings.HasPrefix(m.Name, "river")
	}
	if !meta || !river {
		t.Errorf("MigrationStatus = %+v: want the meta migration and River's", list)
	}
}

func recordsWantAllApplied(t *testing.T, list []records.Migration) {
	t.Helper()
	for _, m := range list {
		if m.AppliedAt.IsZero() {
			t.Errorf("migration %d %q is pending after Migrate", m.Version, m.Name)
		}
		if m.AppliedAt.After(time.Now().Add(time.Hour)) {
			t.Errorf("migration %d %q applied in the future: %v", m.Version, m.Name, m.AppliedAt)
		}
	}
}

func recordsStatusPending(t *testing.T, open RecordsOpener) {
	s := open(t, RecordsOptions{})
	list := recordsStatus(t, s)
	recordsWantListed(t, list)
	for _, m := range list {
		if !m.AppliedAt.IsZero() {
			t.Errorf("migration %d %q applied before Migrate", m.Version, m.Name)
		}
	}
	_, err := s.GetMeta(recordsCtx(t), "k")
	if err == nil {
		t.Error("GetMeta before Migrate succeeded")
	}
}

func recordsMigrateApplies(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	list := recordsStatus(t, s)
	recordsWantListed(t, list)
	recordsWantAllApplied(t, list)
}

func recordsMigrateTwice(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	before := recordsStatus(t, s)
	recordsMust(t, "second Migrate", s.Migrate(recordsCtx(t)))
	after := recordsStatus(t, s)
	if !slices.EqualFunc(before, after, func(a, b records.Migration) bool {
		return a.Version == b.Version && a.Name == b.Name && a.AppliedAt.Equal(b.AppliedAt)
	}) {
		t.Errorf("second Migrate changed the status:\nbefore %+v\nafter  %+v", before, after)
	}
}

// recordsMigrateConcurrent starts four migrations at once on one database, two on each of two
// handles, as nodes starting together would: the lock makes every one succeed.
func recordsMigrateConcurrent(t *testing.T, open RecordsOpener) {
	a, b := open(t, RecordsOptions{}), open(t, RecordsOptions{})
	ctx := recordsCtx(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, s := range []RecordsStore{a, b, a, b} {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	recordsWantAllApplied(t, recordsStatus(t, a))
	recordsWantAllApplied(t, recordsStatus(t, b))
	recordsMust(t, "PutMeta through a", a.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.PutMeta(ctx, "node", "a")
	}))
	v, err := b.GetMeta(ctx, "node")
	if err != nil || v != "a" {
		t.Errorf("GetMeta through b = %q, %v; want a", v, err)
	}
}

func recordsMetaPutGet(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	for _, tc := range []struct{ key, value string }{
		{"site_name", "Gatehouse"},
		{"site_name", "Gatehouse 2"}, // replaces
		{"empty", ""},
		{"unicode ключ", "значение ✓"},
		{strings.Repeat("k", 200), strings.Repeat("v", 10_000)},
	} {
		recordsMust(t, "PutMeta "+tc.key, s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			return tx.PutMeta(ctx, tc.key, tc.value)
		}))
		got, err := s.GetMeta(ctx, tc.key)
		if err != nil || got != tc.value {
			t.Errorf("GetMeta(%.20q) = %.20q, %v; want %.20q", tc.key, got, err, tc.value)
		}
	}
	recordsMust(t, "InsertMeta", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.InsertMeta(ctx, "fresh", "1"); err != nil {
			return err
		}
		got, err := tx.GetMeta(ctx, "fresh") // a transaction sees its own writes
		if err != nil || got != "1" {
			t.Errorf("tx.GetMeta(fresh) = %q, %v; want 1", got, err)
		}
		return nil
	}))
	if got, err := s.GetMeta(ctx, "fresh"); err != nil || got != "1" {
		t.Errorf("GetMeta(fresh) = %q, %v; want 1", got, err)
	}
}

func recordsMetaInsertConflict(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	insert := func(value string) error {
		return s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.InsertMeta(ctx, "setup_done", value) })
	}
	recordsMust(t, "first InsertMeta", insert("first"))
	recordsWantIs(t, "second InsertMeta", insert("second"), records.ErrConflict)
	if got, err := s.GetMeta(ctx, "setup_done"); err != nil || got != "first" {
		t.Errorf("GetMeta after conflict = %q, %v; want first", got, err)
	}
}

func recordsMetaNotFound(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	_, err := s.GetMeta(ctx, "missing")
	recordsWantIs(t, "GetMeta(missing)", err, records.ErrNotFound)
	err = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		_, err := tx.GetMeta(ctx, "missing")
		return err
	})
	recordsWantIs(t, "tx.GetMeta(missing)", err, records.ErrNotFound)
}

func recordsTxCommit(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "a", "1"); err != nil {
			return err
		}
		if err := tx.PutMeta(ctx, "b", "2"); err != nil {
			return err
		}
		return tx.Enqueue(ctx, recordsNoopArgs{N: 1}, nil)
	}))
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if got, err := s.GetMeta(ctx, k); err != nil || got != want {
			t.Errorf("GetMeta(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	if st := recordsStats(t, s); st.Available != 1 {
		t.Errorf("Stats after commit = %+v; want the enqueued job available", st)
	}
}

var errRecordsRollback = errors.New("storetest: roll back")

func recordsTxRollback(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "a", "1"); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, recordsNoopArgs{N: 1}, nil); err != nil {
			return err
		}
		return errRecordsRollback
	})
	recordsWantIs(t, "InTx", err, errRecordsRollback)
	_, err = s.GetMeta(ctx, "a")
	recordsWantIs(t, "GetMeta after rollback", err, records.ErrNotFound)
	if st := recordsStats(t, s); st != (jobs.Stats{}) {
		t.Errorf("Stats after rollback = %+v; want no job stored", st)
	}
	// The store is still usable: the rolled-back transaction gave its connection back.
	recordsMust(t, "InTx after rollback", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.PutMeta(ctx, "a", "2") }))
}

// recordsTxRollbackJobs checks that a job enqueued in a rolled-back transaction never runs, while
// one committed after it does.
func recordsTxRollbackJobs(t *testing.T, open RecordsOpener) {
	var mu sync.Mutex
	var ran []string
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, func(_ context.Context, job jobs.Work[queueCountArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, job.Args.Key)
		return nil
	}))
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: recordsJobs()})
	recordsStart(t, s)
	ctx := recordsCtx(t)

	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.Enqueue(ctx, queueCountArgs{Key: "rolled back"}, nil); err != nil {
			return err
		}
		return errRecordsRollback
	})
	recordsWantIs(t, "InTx", err, errRecordsRollback)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.Enqueue(ctx, queueCountArgs{Key: "committed"}, nil)
	}))
	st := recordsWaitStats(t, s, "the committed job to complete", func(st jobs.Stats) bool { return st.Completed == 1 })
	if st != (jobs.Stats{Completed: 1}) {
		t.Errorf("Stats = %+v; want only the committed job, completed", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(ran, []string{"committed"}) {
		t.Errorf("jobs run = %q; want only the committed one", ran)
	}
}

func recordsTxPanic(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	func() {
		defer func() {
			if p := recover(); p != "storetest panic" {
				t.Errorf("recovered %v; want the panic to propagate", p)
			}
		}()
		_ = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			if err := tx.PutMeta(ctx, "a", "1"); err != nil {
				return err
			}
			panic("storetest panic")
		})
	}()
	_, err := s.GetMeta(ctx, "a")
	recordsWantIs(t, "GetMeta after panic", err, records.ErrNotFound)
	recordsMust(t, "InTx after panic", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.PutMeta(ctx, "a", "2") }))
}

// recordsTxConflict checks that a conflict inside a transaction surfaces as ErrConflict from InTx
// and undoes the transaction's other writes.
func recordsTxConflict(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	recordsMust(t, "InsertMeta", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.InsertMeta(ctx, "k", "v") }))
	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "other", "x"); err != nil {
			return err
		}
		return tx.InsertMeta(ctx, "k", "again")
	})
	recordsWantIs(t, "InTx", err, records.ErrConflict)
	_, err = s.GetMeta(ctx, "other")
	recordsWantIs(t, "GetMeta(other)", err, records.ErrNotFound)
}

func recordsTimeoutCancelled(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.GetMeta(ctx, "k")
	recordsWantIs(t, "GetMeta on a cancelled context", err, records.ErrTimeout)
	recordsWantIs(t, "GetMeta on a cancelled context", err, context.Canceled)
	err = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.PutMeta(ctx, "k", "v") })
	recordsWantIs(t, "InTx on a cancelled context", err, records.ErrTimeout)
	recordsWantIs(t, "Ping on a cancelled context", s.Ping(ctx), records.ErrTimeout)
	recordsWantIs(t, "Queue.Stats on a cancelled context", func() error { _, err := s.Queue().Stats(ctx); return err }(), records.ErrTimeout)
	recordsWantIs(t, "Queue.Enqueue on a cancelled context", s.Queue().Enqueue(ctx, recordsNoopArgs{}, nil), records.ErrTimeout)
}

func recordsTimeoutDeadline(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := s.GetMeta(ctx, "k")
	recordsWantIs(t, "GetMeta past its deadline", err, records.ErrTimeout)
	recordsWantIs(t, "GetMeta past its deadline", err, context.DeadlineExceeded)
	err = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.PutMeta(ctx, "k", "v") })
	recordsWantIs(t, "InTx past its deadline", err, records.ErrTimeout)
}

// recordsTimeoutInTx cancels the context in the middle of a transaction: the next statement and
// InTx report ErrTimeout, and nothing is committed.
func recordsTimeoutInTx(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx, cancel := context.WithCancel(recordsCtx(t))
	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "a", "1"); err != nil {
			return err
		}
		cancel()
		err := tx.PutMeta(ctx, "b", "2")
		recordsWantIs(t, "PutMeta after cancel", err, records.ErrTimeout)
		return err
	})
	recordsWantIs(t, "InTx", err, records.ErrTimeout)
	_, err = s.GetMeta(recordsCtx(t), "a")
	recordsWantIs(t, "GetMeta after the cancelled transaction", err, records.ErrNotFound)
}
