//go:build vm

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bluenet-project/bluenet/doctor"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// runDoctor runs `bluenet doctor --json` on hci0/wlan0 and returns the
// report and the exit code.
func runDoctor(t *testing.T, extra ...string) (doctor.Report, int) {
	t.Helper()
	out, _, code := runBluenet(t, "", append([]string{"-w", "wlan0", "-b", vmtest.PeripheralAdapter, "doctor", "--json"}, extra...)...)
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	return r, code
}

// wantCheck fails the test unless check id has status st and its detail or
// fix holds text.
func wantCheck(t *testing.T, r doctor.Report, id string, st doctor.Status, text string) {
	t.Helper()
	c, ok := r.Check(id)
	if !ok {
		t.Errorf("doctor ran no check %q", id)
		return
	}
	if c.Status != st || !strings.Contains(c.Detail+"\n"+c.Fix, text) {
		t.Errorf("doctor %s = %s %q (fix %q), want %s with %q", id, c.Status, c.Detail, c.Fix, st, text)
	}
}

// TestDoctor runs `bluenet doctor` on the bed: healthy, it passes (exit 0);
// with NetworkManager stopped and with hci0 blocked by rfkill, it fails
// (exit 1) naming the fix, and passes again once fixed.
func TestDoctor(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd", "NetworkManager")

	r, code := runDoctor(t)
	if code != 0 || !r.OK {
		t.Fatalf("doctor on a healthy bed: exit %d, failed %+v", code, r.Failed())
	}
	wantCheck(t, r, "bluetoothd", doctor.Pass, "5.66")
	wantCheck(t, r, "adapter", doctor.Pass, vmtest.PeripheralAddress)
	wantCheck(t, r, "rfkill", doctor.Pass, "not blocked")
	wantCheck(t, r, "advertising", doctor.Pass, "free")
	wantCheck(t, r, "networkmanager", doctor.Pass, "1.42")
	wantCheck(t, r, "wifi-device", doctor.Pass, "wlan0, managed")
	wantCheck(t, r, "wifi-radio", doctor.Pass, "on")
	c, _ := r.Check("country")
	if c.Status == doctor.Fail || c.Status == doctor.Skip {
		t.Errorf("country: %+v, want pass or warn", c)
	}
	t.Logf("country check on the bed: %s %s", c.Status, c.Detail)

	t.Run("NetworkManager stopped", func(t *testing.T) {
		vmtest.Sh(t, `pkill -x NetworkManager; wait_for 20 "NetworkManager gone" sh -c '! pgrep -x NetworkManager'`)
		t.Cleanup(func() {
			vmtest.Sh(t, `NetworkManager --config=/run/nm.conf --debug >>$L/NetworkManager.log 2>&1 &
				wait_for 60 "NM manages wlan0" sh -c 'nmcli -t -f DEVICE,STATE dev | grep -q "^wlan0:disconnected"'`)
		})
		r, code := runDoctor(t)
		if code != 1 || r.OK {
			t.Errorf("doctor without NetworkManager: exit %d, OK %v; want 1", code, r.OK)
		}
		wantCheck(t, r, "networkmanager", doctor.Fail, "sudo systemctl enable --now NetworkManager")
		wantCheck(t, r, "wifi-device", doctor.Skip, "NetworkManager is not running")
		wantCheck(t, r, "bluetoothd", doctor.Pass, "")
	})

	t.Run("adapter rfkill-blocked", func(t *testing.T) {
		t.Cleanup(func() {
			vmtest.Sh(t, `for f in /sys/class/bluetooth/hci0/rfkill*/soft; do echo 0 > $f; done
				_on() { bt_prop hci0 Powered boolean:true 2>/dev/null; [ "$(bt_get hci0 Powered)" = true ]; }
				wait_for 60 "hci0 powered again" _on`)
		})
		// The switch is what doctor reads; bluetoothd may take a while to
		// report the adapter off, so that is not waited for.
		vmtest.Sh(t, `ls /sys/class/bluetooth/hci0/rfkill*/soft >/dev/null
			for f in /sys/class/bluetooth/hci0/rfkill*/soft; do echo 1 > $f; done
			grep -qx 1 /sys/class/bluetooth/hci0/rfkill*/soft`)
		r, code := runDoctor(t)
		if code != 1 || r.OK {
			t.Errorf("doctor with hci0 blocked: exit %d, OK %v; want 1", code, r.OK)
		}
		wantCheck(t, r, "rfkill", doctor.Fail, "sudo rfkill unblock bluetooth")
		if c, _ := r.Check("powered"); c.Status != doctor.Fail && c.Status != doctor.Pass {
			t.Errorf("powered = %+v, want a failure naming rfkill (or on, while bluetoothd has not noticed)", c)
		}
		wantCheck(t, r, "networkmanager", doctor.Pass, "")
	})

	// And the text output a person sees, after both were fixed.
	out, _, code := runBluenet(t, "", "-w", "wlan0", "-b", vmtest.PeripheralAdapter, "doctor")
	if code != 0 || !strings.Contains(out, "✓ bluetoothd") || !strings.Contains(out, "ready") {
		t.Errorf("doctor after the fixes: exit %d\n%s", code, out)
	}
}
