package stats

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. Linux fixes it at 100
// on every architecture Go supports (the kernel converts from its internal HZ), and reading it
// properly would need sysconf, that is cgo.
const ClockTicks = 100

// ParseStatCPU returns user+system CPU time from the contents of /proc/PID/stat. The command
// name (field 2) is in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stats: /proc stat line without ')': %q", truncate(stat))
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: field 3 (state) is f[0], so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("stats: /proc stat line with %d fields after the name, want >= 13", len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stats: utime %q: %w", f[11], err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stats: stime %q: %w", f[12], err)
	}
	return time.Duration(ut+st) * time.Second / ClockTicks, nil
}

// ParseStatusRSS returns VmRSS, in bytes, from the contents of /proc/PID/status.
func ParseStatusRSS(status []byte) (int64, error) { return parseStatusKB(status, "VmRSS") }

// ParseStatusPeakRSS returns VmHWM (the peak resident set size), in bytes, from the contents
// of /proc/PID/status.
func ParseStatusPeakRSS(status []byte) (int64, error) { return parseStatusKB(status, "VmHWM") }

func parseStatusKB(status []byte, field string) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("stats: unexpected %s line %q", field, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stats: %s %q: %w", field, f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("stats: no %s line in /proc status (a zombie or kernel thread?)", field)
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// ProcessCPU reads the CPU time used so far by process pid.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read broker CPU: %w", err)
	}
	return ParseStatCPU(b)
}

// ProcessRSS reads the resident set size of process pid.
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read broker RSS: %w", err)
	}
	return ParseStatusRSS(b)
}

// ProcessPeakRSS reads the peak resident set size (VmHWM) of process pid.
func ProcessPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	return ParseStatusPeakRSS(b)
}

// ResetSelfPeakRSS sets this process's VmHWM back to its current RSS (writing 5 to
// /proc/self/clear_refs, Linux 4.0+), so that a later ProcessPeakRSS covers only what follows.
func ResetSelfPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}

// SelfCPU is the CPU time this process has used, user and system, to the microsecond
// (getrusage is finer than /proc's 10 ms ticks, which matters for short runs).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
