package main

import "testing"

func TestTuneGC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		percent int   // 0: not set
		limit   int64 // 0: not set
	}{
		{"defaults", nil, defaultGCPercent, defaultMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, 0, defaultMemoryLimit},
		{"GOGC off", map[string]string{"GOGC": "off"}, 0, defaultMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGCPercent, 0},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "64MiB"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				percent int
				limit   int64
			)
			tuneGC(func(k string) string { return tc.env[k] },
				func(p int) int { percent = p; return 100 },
				func(l int64) int64 { limit = l; return 0 })
			if percent != tc.percent || limit != tc.limit {
				t.Errorf("set GC percent %d and memory limit %d; want %d and %d", percent, limit, tc.percent, tc.limit)
			}
		})
	}
}
