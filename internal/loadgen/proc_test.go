package loadgen

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A real /proc/<pid>/stat line, with a command name made awkward on purpose.
const sampleStat = "4242 (gate house) (x)) S 1 4242 4242 0 -1 4194560 2829 0 0 0 1234 567 0 0 20 0 9 0 " +
	"123456 1325301760 9000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"

const sampleStatus = `Name:	gatehouse
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1294240 kB
VmSize:	 1294240 kB
VmHWM:	   36012 kB
VmRSS:	   18432 kB
RssAnon:	    9000 kB
Threads:	9
`

func TestParseStatCPU(t *testing.T) {
	got, err := parseStatCPU(sampleStat)
	if err != nil {
		t.Fatal(err)
	}
	// (1234 + 567) ticks at 100 Hz.
	if want := 18010 * time.Millisecond; got != want {
		t.Errorf("cpu = %s, want %s", got, want)
	}
}

func TestParseStatCPUBad(t *testing.T) {
	tests := map[string]string{
		"no command name": "4242 gatehouse S 1 2 3",
		"too short":       "4242 (gatehouse) S 1 2 3",
		"not a number":    strings.Replace(sampleStat, " 1234 567 ", " 12x4 567 ", 1),
		"negative":        strings.Replace(sampleStat, " 1234 567 ", " -1 567 ", 1),
	}
	for name, stat := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := parseStatCPU(stat); err == nil {
				t.Errorf("parseStatCPU accepted %q as %s", stat, got)
			}
		})
	}
}

func TestParseStatusMemory(t *testing.T) {
	rss, peak, err := parseStatusMemory(sampleStatus)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 18432*1024 || peak != 36012*1024 {
		t.Errorf("rss, peak = %d, %d; want %d, %d", rss, peak, 18432*1024, 36012*1024)
	}
}

func TestParseStatusMemoryBad(t *testing.T) {
	tests := map[string]string{
		"kernel thread, no Vm lines": "Name:\tkthreadd\nState:\tS (sleeping)\n",
		"no peak":                    "VmRSS:\t 100 kB\n",
		"wrong unit":                 "VmRSS:\t 100 MB\nVmHWM:\t 100 kB\n",
		"not a number":               "VmRSS:\t lots kB\nVmHWM:\t 100 kB\n",
	}
	for name, status := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parseStatusMemory(status); err == nil {
				t.Errorf("parseStatusMemory accepted %q", status)
			}
		})
	}
}

func TestReadProcUsageSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system; the figures it gives are simply not reported here")
	}
	u, err := ReadProcUsage(0)
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.PeakRSS < u.RSS {
		t.Errorf("usage = %+v: want 0 < RSS <= peak", u)
	}
	if _, err := ReadProcUsage(1 << 30); err == nil {
		t.Error("reading a process that does not exist succeeded")
	}
}
