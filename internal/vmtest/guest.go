package vmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
)

// The guest script (test/vm/guest-gotest.sh) sets these.
const (
	envTools = "BLUENET_VM_TOOLS" // folder holding guest-env.sh
	envBin   = "BLUENET_VM_BIN"   // folder holding the built commands
	envLogs  = "BLUENET_VM_LOGS"  // folder holding the daemons' logs
)

// Addresses of the two virtual LE controllers that btvirt creates.
const (
	PeripheralAdapter = "hci0"              // the device under test
	PeripheralAddress = "00:AA:01:00:00:00" // hci0's address
	CentralAdapter    = "hci1"              // the test's central ("the phone")
	CentralAddress    = "00:AA:01:01:00:01" // hci1's address
)

func requireGuest(t testing.TB) {
	t.Helper()
	if !InGuest() {
		t.Fatal("vmtest: this helper only works inside the test VM (use vmtest.Main in TestMain)")
	}
}

// SystemBus returns a private connection to the guest's system bus, closed
// when the test ends.
func SystemBus(t testing.TB) *dbus.Conn {
	t.Helper()
	requireGuest(t)
	// gatt's connection: a test's gatt server then runs a central's write
	// commands in order, as the daemon does.
	c, err := gatt.ConnectSystemBus()
	if err != nil {
		t.Fatalf("vmtest: system bus: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Bin returns the path of the command built from ./cmd/NAME or ./examples/NAME.
func Bin(t testing.TB, name string) string {
	t.Helper()
	requireGuest(t)
	p := filepath.Join(os.Getenv(envBin), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("vmtest: binary %s: %v", name, err)
	}
	return p
}

// Sh runs script with bash in the guest after sourcing test/vm/guest-env.sh
// (so its helpers such as ap_start and nm_wait_ssid are available), fails the
// test if it exits non-zero, and returns its combined output.
func Sh(t testing.TB, script string) string {
	t.Helper()
	out, err := ShErr(script)
	if err != nil {
		t.Fatalf("vmtest: %s: %v\n%s", script, err, out)
	}
	return out
}

// ShErr is like Sh but returns the error instead of failing the test.
func ShErr(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	full := fmt.Sprintf(". %q; trap - EXIT\n%s", filepath.Join(os.Getenv(envTools), "guest-env.sh"), script)
	out, err := exec.CommandContext(ctx, "bash", "-c", full).CombinedOutput()
	return string(out), err
}

// AP describes an access point started with [StartAP].
type AP struct {
	Iface   string // AP radio: wlan1, wlan2 or wlan3 (default wlan1)
	SSID    string
	PSK     string // empty: open network
	SAE     bool   // WPA3-SAE only (PSK is the SAE password)
	Hidden  bool   // do not broadcast the SSID
	Channel int    // default 6
	Extra   string // lines appended to hostapd.conf (e.g. an 802.1X EAP server with PSK empty)
}

// Gateway returns the AP's own IPv4 address; clients get 192.168.7N.100-150
// where N is the radio number.
func (ap AP) Gateway() string {
	return "192.168.7" + strings.TrimPrefix(ap.iface(), "wlan") + ".1"
}

func (ap AP) iface() string {
	if ap.Iface == "" {
		return "wlan1"
	}
	return ap.Iface
}

// StartAP starts hostapd and a DHCP server on an AP radio (in network
// namespace "ap") and stops them when the test ends.
func StartAP(t testing.TB, ap AP) {
	t.Helper()
	requireGuest(t)
	env := fmt.Sprintf("AP_IF=%s", ap.iface())
	if ap.SAE {
		env += " AP_SAE=1"
	}
	if ap.Hidden {
		env += " AP_HIDDEN=1"
	}
	if ap.Channel != 0 {
		env += fmt.Sprintf(" AP_CHANNEL=%d", ap.Channel)
	}
	if ap.Extra != "" {
		env += " AP_CONF_EXTRA='" + strings.ReplaceAll(ap.Extra, "'", `'\''`) + "'"
	}
	Sh(t, fmt.Sprintf("%s ap_start %q %q", env, ap.SSID, ap.PSK))
	t.Cleanup(func() { _, _ = ShErr("AP_IF=" + ap.iface() + " ap_stop") })
}

// ResetWiFi deletes every Wi-Fi profile NetworkManager has and disconnects
// wlan0, so that a test starts from a device that is not connected and
// knows no network, whatever the tests before it did.
func ResetWiFi(t testing.TB) {
	t.Helper()
	Sh(t, `nmcli -t -f UUID,TYPE con show | awk -F: '$2=="802-11-wireless"{print $1}' | xargs -r nmcli con delete >/dev/null
		nmcli dev disconnect wlan0 >/dev/null 2>&1; true`)
}

// RestoreBluetoothOnCleanup makes the test's end bring the Bluetooth bed
// back to its start-up state (guest-env.sh's bt_reset): one bluetoothd, both
// adapters powered with no link between them, and hci0's rotating
// advertising instance. Tests that kill or restart bluetoothd call it first
// thing, so that its cleanup runs after theirs: a restarted bluetoothd has
// removed that instance, and a SIGKILLed one leaves links and powered
// adapters behind, which made later tests' connections fail.
func RestoreBluetoothOnCleanup(t testing.TB) {
	t.Helper()
	requireGuest(t)
	t.Cleanup(func() {
		if out, err := ShErr("bt_reset"); err != nil {
			t.Errorf("vmtest: restoring the Bluetooth bed: %v\n%s", err, out)
		}
	})
}

// UnstickCentral powers the central's adapter (hci1) off and on when the
// kernel holds a connection of it stuck in BT_CONNECT, which Debian's 6.1
// kernel sometimes leaves after an aborted attempt and which makes every
// later connection to the peripheral fail (see bt_unstick in guest-env.sh).
// It logs and reports whether it did. Tests call it before they connect
// and after a failed attempt, so that one wedged attempt does not fail
// every test after it.
func UnstickCentral(t testing.TB) bool {
	t.Helper()
	requireGuest(t)
	out, err := ShErr("bt_unstick")
	if err != nil {
		t.Logf("vmtest: bt_unstick: %v\n%s", err, out)
		return false
	}
	if out = strings.TrimSpace(out); out != "" {
		t.Logf("vmtest: %s", out)
		return true
	}
	return false
}

// ForgetDevices removes every remote device the central's adapter (hci1)
// remembers. BlueZ keeps a device's UUIDs from its resolved GATT services
// and then ignores those in its advertisements, so a test whose peripheral
// publishes other services than the previous test's must start with a
// central that has forgotten it. Call it before the peripheral advertises:
// the virtual controllers report an advertiser only when scanning or
// advertising starts, not continuously.
func ForgetDevices(t testing.TB) {
	t.Helper()
	Sh(t, `for d in $(busctl tree --list org.bluez | grep '^/org/bluez/`+CentralAdapter+`/dev_[0-9A-F_]*$'); do
		dbus-send --system --print-reply --dest=org.bluez /org/bluez/`+CentralAdapter+` org.bluez.Adapter1.RemoveDevice objpath:$d >/dev/null
	done; true`)
}

// DumpLogsOnFailure prints the last lines of the named guest logs
// (bluetoothd, NetworkManager, wpa_supplicant, hostapd-wlan1, ...) when the
// test has failed by the time it ends.
func DumpLogsOnFailure(t testing.TB, names ...string) {
	t.Helper()
	requireGuest(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(os.Getenv(envLogs), n+".log"))
			if err != nil {
				t.Logf("vmtest: log %s: %v", n, err)
				continue
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("--- last %d lines of %s.log:\n%s", len(lines), n, strings.Join(lines, "\n"))
		}
	})
}

// LogDir is the guest folder where daemons started by tests should write
// their logs, so that they are saved with the run (and found by
// DumpLogsOnFailure).
func LogDir() string { return os.Getenv(envLogs) }
