package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
)

func TestBackoffCeiling(t *testing.T) {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	tests := []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first retry is the base", 1, 100 * time.Millisecond},
		{"second doubles", 2, 200 * time.Millisecond},
		{"third doubles again", 3, 400 * time.Millisecond},
		{"sixth", 6, 3200 * time.Millisecond},
		{"seventh is capped", 7, 5 * time.Second},
		{"far attempts stay capped without overflow", 10_000, 5 * time.Second},
		{"attempt zero is treated as the first", 0, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.ceiling(tt.attempt); got != tt.want {
				t.Errorf("ceiling(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestBackoffCeilingNearMaxDuration(t *testing.T) {
	const maxDuration = time.Duration(1<<63 - 1)
	b := newBackoff(time.Hour, maxDuration)
	prev := time.Duration(0)
	for attempt := 1; attempt < 200; attempt++ {
		c := b.ceiling(attempt)
		if c < prev || c <= 0 {
			t.Fatalf("ceiling(%d) = %v after %v: not monotonic or overflowed", attempt, c, prev)
		}
		prev = c
	}
	if prev != maxDuration {
		t.Errorf("ceiling never reached the cap: %v", prev)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := newBackoff(time.Second, time.Minute)
	tests := []struct {
		name  string
		randN func(n int64) int64
		want  time.Duration
	}{
		{"lowest draw waits nothing", func(int64) int64 { return 0 }, 0},
		{"highest draw waits the ceiling", func(n int64) int64 { return n - 1 }, 4 * time.Second},
		{"middle draw", func(n int64) int64 { return n / 2 }, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.randN = tt.randN
			if got := b.delay(3); got != tt.want {
				t.Errorf("delay(3) = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("random draws stay within [0, ceiling]", func(t *testing.T) {
		b := newBackoff(10*time.Millisecond, time.Second)
		for attempt := 1; attempt <= 12; attempt++ {
			ceiling := b.ceiling(attempt)
			for range 200 {
				if d := b.delay(attempt); d < 0 || d > ceiling {
					t.Fatalf("delay(%d) = %v outside [0, %v]", attempt, d, ceiling)
				}
			}
		}
	})
}

func TestBackoffNextRetry(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b := newBackoff(time.Second, time.Hour)
	b.now = func() time.Time { return now }
	var asked int64
	b.randN = func(n int64) int64 { asked = n; return n - 1 }

	job := &rivertype.JobRow{Errors: []rivertype.AttemptError{{Error: "one"}, {Error: "two"}}}
	got := b.NextRetry(job)
	// Two recorded errors plus the current one: the third attempt, ceiling 4s.
	if want := now.Add(4 * time.Second); !got.Equal(want) {
		t.Errorf("NextRetry = %v, want %v", got, want)
	}
	if asked != int64(4*time.Second)+1 {
		t.Errorf("drew from [0, %d), want [0, %d)", asked, int64(4*time.Second)+1)
	}
	if got.Before(now) {
		t.Error("NextRetry is in the past, River would fall back to its own policy")
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name        string
		in          Config
		pollDefault time.Duration
		check       func(t *testing.T, c Config)
	}{
		{"zero value", Config{}, 0, func(t *testing.T, c Config) {
			if c.Workers != DefaultWorkers || c.MaxAttempts != DefaultMaxAttempts || c.PollInterval != DefaultPollInterval ||
				c.FetchCooldown != DefaultFetchCooldown || c.RetryBase != DefaultRetryBase || c.RetryMax != DefaultRetryMax || c.Logger == nil {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{"adapter poll default", Config{}, 200 * time.Millisecond, func(t *testing.T, c Config) {
			if c.PollInterval != 200*time.Millisecond {
				t.Errorf("PollInterval = %v", c.PollInterval)
			}
		}},
		{"explicit values kept", Config{Workers: 3, MaxAttempts: 2, PollInterval: time.Millisecond, FetchCooldown: 7 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: time.Second}, time.Hour, func(t *testing.T, c Config) {
			if c.Workers != 3 || c.MaxAttempts != 2 || c.PollInterval != time.Millisecond || c.FetchCooldown != 7*time.Millisecond || c.RetryBase != time.Millisecond || c.RetryMax != time.Second {
				t.Errorf("values changed: %+v", c)
			}
		}},
		{"cap below base is raised to base", Config{RetryBase: time.Minute, RetryMax: time.Second}, 0, func(t *testing.T, c Config) {
			if c.RetryMax != time.Minute {
				t.Errorf("RetryMax = %v", c.RetryMax)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, tt.in.withDefaults(tt.pollDefault)) })
	}
}
