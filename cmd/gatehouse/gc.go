package main

import (
	"runtime/debug"
)

// The garbage collector's defaults suit a program whose live heap is most of its memory. A
// gatehouse node's live heap is small (tens of MiB: caches and pools), and what it allocates is
// short-lived request garbage plus, at sign-in and sign-up, Argon2id's 19 MiB work areas; with the
// default GOGC of 100 it collects every few dozen requests. Collecting at 400% growth instead took
// 4–8% more refreshes per second and a few milliseconds off their p99 (BENCHMARKS.md), for peak
// memory that stays bounded by the soft limit below.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 512 << 20 // bytes; the collector works harder as the heap nears it
)

// tuneGC applies the defaults above, each only where the operator has not set its environment
// variable (GOGC, GOMEMLIMIT), which the Go runtime reads itself.
func tuneGC(getenv func(string) string, setGCPercent func(int) int, setMemoryLimit func(int64) int64) {
	if getenv("GOGC") == "" {
		setGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		setMemoryLimit(defaultMemoryLimit)
	}
}

// tuneProcessGC is tuneGC on the process's own runtime.
func tuneProcessGC(getenv func(string) string) {
	tuneGC(getenv, debug.SetGCPercent, debug.SetMemoryLimit)
}
