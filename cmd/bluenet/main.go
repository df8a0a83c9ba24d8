// Command bluenet provisions the Wi-Fi of a headless Linux device over
// Bluetooth Low Energy.
//
//	bluenet [-w IFACE] [-b hciN] start -h HOSTNAME -a ALIAS [--auto-advertise] [-v|-vv]
//	bluenet [-w IFACE] join -s SSID [--password-file FILE | -p PASSWORD]
//	bluenet status [--json]
//	bluenet version
//
// The command line is the original Bluenet's (note that -h under start is
// the host name, not help); see README.md for the rest.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	// Nothing here takes heap profiles. With sampling on (Go's default,
	// because a dependency links the profiler in), the runtime maps a
	// 1.4 MiB hash table for profile buckets at the first sample and keeps
	// a record per sampled call stack for the life of the process.
	runtime.MemProfileRate = 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bluenet:", err)
	}
	os.Exit(exitCode(err))
}

// Exit codes. Documented in README.md; keep them stable.
const (
	exitOK            = 0
	exitFailure       = 1 // any other error
	exitUsage         = 2 // bad command line or configuration
	exitWrongPassword = 3
	exitNotFound      = 4
	exitTimeout       = 5
	exitDHCPFailed    = 6
	exitBusy          = 7
	exitUnavailable   = 8  // NetworkManager, the Wi-Fi device or the Bluetooth adapter is not available
	exitInvalidInput  = 9  // SSID or password not acceptable
	exitUnreachable   = 10 // device not found, or the Bluetooth link failed or was lost (out of range)
	exitNotAuthorized = 11 // the device's setup window is closed, or a permission was denied
)

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return errorExitCode(err)
}
