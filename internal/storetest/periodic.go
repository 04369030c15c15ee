package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
)

// queuePeriodic checks jobs.Config.Periodic: once the node is leader, a job with RunOnStart is
// enqueued at once, and one with a short interval keeps being enqueued; both run.
func queuePeriodic(t *testing.T, open RecordsOpener) {
	rec := &queueRecorder{}
	w := jobs.NewWorkers()
	recordsMust(t, "Handle", jobs.Handle(w, rec.handle))
	cfg := recordsJobs()
	cfg.Periodic = []jobs.Periodic{
		{Interval: 24 * time.Hour, Args: func() jobs.Args { return queueCountArgs{Key: "on start"} }, RunOnStart: true},
		{Interval: 50 * time.Millisecond, Args: func() jobs.Args { return queueCountArgs{Key: "interval"} }},
	}
	s := recordsOpenMigrated(t, open, RecordsOptions{Workers: w, Jobs: cfg})
	recordsStart(t, s)
	recordsEventually(t, "periodic jobs to run", func() (bool, error) {
		return len(rec.get("on start")) >= 1 && len(rec.get("interval")) >= 2, nil
	})
	if n := len(rec.get("on start")); n != 1 {
		t.Errorf("the daily job ran %d times; want once, on start", n)
	}
}
