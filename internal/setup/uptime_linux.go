package setup

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Uptime returns the time since the machine booted, suspend included: the
// kernel's CLOCK_BOOTTIME, or /proc/uptime if that fails.
func Uptime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err == nil {
		return time.Duration(ts.Nano()), nil
	}
	d, err := procUptime("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("setup: uptime: %w", err)
	}
	return d, nil
}
