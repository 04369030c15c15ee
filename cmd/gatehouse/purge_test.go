package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// fakePurger answers PurgeExpired with the next of its batches and records the calls.
type fakePurger struct {
	batches []records.PurgeCounts
	err     error // returned after the batches run out; nil answers empty batches
	before  []time.Time
	limits  []int
}

func (f *fakePurger) PurgeExpired(_ context.Context, before time.Time, limit int) (records.PurgeCounts, error) {
	f.before, f.limits = append(f.before, before), append(f.limits, limit)
	if len(f.batches) == 0 {
		return records.PurgeCounts{}, f.err
	}
	c := f.batches[0]
	f.batches = f.batches[1:]
	return c, nil
}

func TestPurgerWork(t *testing.T) {
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	const limit = 10
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		batches []records.PurgeCounts
		err     error
		calls   int
		wantErr bool
		wantLog string
	}{
		{"nothing to purge", nil, nil, 1, false, "refresh_tokens=0 sessions=0 email_verifications=0 batches=1"},
		{"one short batch", []records.PurgeCounts{{RefreshTokens: 3, Sessions: 1, EmailVerifications: 2}}, nil, 1, false,
			"refresh_tokens=3 sessions=1 email_verifications=2 batches=1"},
		{"until every table is short", []records.PurgeCounts{
			{RefreshTokens: 10, Sessions: 2},
			{RefreshTokens: 4, Sessions: 10, EmailVerifications: 1},
			{Sessions: 10},
			{Sessions: 9, EmailVerifications: 9},
		}, nil, 4, false, "refresh_tokens=14 sessions=31 email_verifications=10 batches=4"},
		{"error after full batches", []records.PurgeCounts{{EmailVerifications: 10}}, boom, 2, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakePurger{batches: tc.batches, err: tc.err}
			var logs bytes.Buffer
			p := &purger{
				store: store, retention: 7 * 24 * time.Hour, limit: limit,
				now:    func() time.Time { return now },
				logger: slog.New(slog.NewTextHandler(&logs, nil)),
			}
			err := p.Work(t.Context(), jobs.Work[purgeArgs]{})
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, boom)) {
				t.Fatalf("Work = %v; want error %v", err, tc.wantErr)
			}
			if len(store.before) != tc.calls {
				t.Errorf("PurgeExpired called %d times; want %d", len(store.before), tc.calls)
			}
			for i := range store.before {
				if want := now.Add(-7 * 24 * time.Hour); !store.before[i].Equal(want) || store.limits[i] != limit {
					t.Errorf("call %d: PurgeExpired(%v, %d); want (%v, %d)", i, store.before[i], store.limits[i], want, limit)
				}
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q; want it to contain %q", logs.String(), tc.wantLog)
			}
			if tc.wantErr && logs.Len() > 0 {
				t.Errorf("log %q; want nothing logged by a failed run (its error goes back to the queue)", logs.String())
			}
		})
	}
}
