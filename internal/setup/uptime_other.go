//go:build !linux

package setup

import (
	"time"
)

// Uptime returns the time since the machine booted; only on Linux.
func Uptime() (time.Duration, error) {
	return procUptime("/proc/uptime")
}
