package loadgen

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel always reports them in USER_HZ,
// which is 100 on every Linux architecture Go supports, whatever the kernel's internal tick rate.
const userHZ = 100

// ProcUsage is a process's resource use as /proc reports it.
type ProcUsage struct {
	CPU     time.Duration // user + system time of all its threads so far
	RSS     int64         // resident memory now (VmRSS), bytes
	PeakRSS int64         // highest resident memory so far (VmHWM), bytes
}

// ReadProcUsage reads /proc/<pid>/stat and /proc/<pid>/status; pid 0 means this process. It fails
// where there is no /proc (anything but Linux), and the figures are then simply not reported.
func ReadProcUsage(pid int) (ProcUsage, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcUsage{}, fmt.Errorf("read process CPU time: %w", err)
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return ProcUsage{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcUsage{}, fmt.Errorf("read process memory: %w", err)
	}
	rss, peak, err := parseStatusMemory(string(status))
	if err != nil {
		return ProcUsage{}, fmt.Errorf("%s/status: %w", dir, err)
	}
	return ProcUsage{CPU: cpu, RSS: rss, PeakRSS: peak}, nil
}

// parseStatCPU returns utime + stime from the text of /proc/<pid>/stat. The second field, the command
// name in parentheses, may itself hold spaces and parentheses, so fields are counted from the last
// ')'; utime and stime are fields 14 and 15 of proc(5).
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", truncate(stat))
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3 (state)
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("only %d fields after the command name", len(fields))
	}
	var ticks int64
	for _, f := range []int{utime, stime} {
		n, err := strconv.ParseInt(fields[f], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("field %d is %q, not a tick count", f+3, fields[f])
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseStatusMemory returns VmRSS and VmHWM, in bytes, from the text of /proc/<pid>/status.
func parseStatusMemory(status string) (rss, peak int64, err error) {
	var haveRSS, havePeak bool
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := parseKB(value)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			rss, haveRSS = n, true
		} else {
			peak, havePeak = n, true
		}
	}
	if !haveRSS || !havePeak {
		return 0, 0, fmt.Errorf("no VmRSS and VmHWM lines (a kernel thread or a zombie process?)")
	}
	return rss, peak, nil
}

// parseKB parses a /proc/<pid>/status size such as "\t  12345 kB".
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("%q is not a size in kB", strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size in kB", strings.TrimSpace(s))
	}
	return n * 1024, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
