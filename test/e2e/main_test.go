//go:build vm

// Package e2e holds the end-to-end tests that run inside the QEMU test VM
// against real bluetoothd, NetworkManager and hostapd:
//
//	go test -tags vm -count=1 ./test/e2e
//
// One VM is booted per run; see internal/vmtest.
package e2e

import (
	"log/slog"
	"os"
	"testing"

	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

func TestMain(m *testing.M) {
	// The daemons the tests start accept provisioning at any time, as the
	// original did: the suite outlasts the VM's 15-minute boot window, and
	// most tests provision a device that is online. TestSetupWindow asks
	// for the window it tests with --setup-window.
	os.Setenv("BLUENET_SETUP_WINDOW", "always")
	if !vmtest.InGuest() {
		buildPackage() // on the host: the .deb that TestPackage installs in the guest
	}
	vmtest.Main(m)
}

// debugLog returns a debug logger whose output the test prints, headed
// name, only when it fails.
func debugLog(t testing.TB, name string) *slog.Logger {
	buf := &logbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s log:\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
