package setup

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procUptime parses the first field of /proc/uptime (seconds since boot,
// with a fraction).
func procUptime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseUptime(string(b))
}

func parseUptime(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("setup: empty uptime")
	}
	sec, err := strconv.ParseFloat(f[0], 64)
	if err != nil || sec < 0 || sec > 1e12 {
		return 0, fmt.Errorf("setup: bad uptime %q", f[0])
	}
	return time.Duration(sec * float64(time.Second)), nil
}
