package jobs

import (
	"testing"
	"time"
)

type periodicArgs struct{}

func (periodicArgs) Kind() string { return "periodic_test" }

func TestPeriodicJobs(t *testing.T) {
	args := func() Args { return periodicArgs{} }
	for _, tc := range []struct {
		name string
		list []Periodic
		want int // jobs mapped; -1 for an error
	}{
		{"none", nil, 0},
		{"two", []Periodic{{Interval: time.Hour, Args: args, RunOnStart: true}, {Interval: time.Minute, Args: args}}, 2},
		{"zero interval", []Periodic{{Args: args}}, -1},
		{"negative interval", []Periodic{{Interval: -time.Second, Args: args}}, -1},
		{"no args", []Periodic{{Interval: time.Hour}}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := periodicJobs(tc.list)
			switch {
			case tc.want < 0 && err == nil:
				t.Errorf("periodicJobs = %d jobs; want an error", len(got))
			case tc.want >= 0 && err != nil:
				t.Errorf("periodicJobs: %v", err)
			case tc.want >= 0 && len(got) != tc.want:
				t.Errorf("periodicJobs = %d jobs; want %d", len(got), tc.want)
			}
		})
	}
}
