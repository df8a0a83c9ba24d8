//go:build vm

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/wifi/regdom"
)

// wifiCmd runs the bluenet command and returns its exit code and output.
func wifiCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(vmtest.Bin(t, "bluenet"), append([]string{"-w", "wlan0"}, args...)...)
	out, _ := cmd.CombinedOutput()
	t.Logf("bluenet %s: exit %d\n%s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), out)
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestWiFiRemembered: join A, then B; A stays as a remembered profile with a
// lower autoconnect priority; when B's access point goes away the device
// returns to A by itself; `bluenet forget A` removes it.
func TestWiFiRemembered(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "RemA", PSK: "rem-a-pass-1"}
	b := vmtest.AP{Iface: "wlan2", SSID: "RemB", PSK: "rem-b-pass-1"}
	e := newWiFi(t, a, b)
	e.waitSeen(a.SSID)
	e.waitSeen(b.SSID)
	e.mustJoin(a, "wpa-psk", false)
	e.mustJoin(b, "wpa-psk", false)

	code, out := wifiCmd(t, "saved", "--json")
	var saved []struct {
		SSID     string `json:"ssid"`
		Current  bool   `json:"current"`
		Priority int32  `json:"priority"`
		Profile  string `json:"profile"`
	}
	if err := json.Unmarshal([]byte(out), &saved); code != 0 || err != nil {
		t.Fatalf("bluenet saved --json: exit %d, %v", code, err)
	}
	if len(saved) != 2 || saved[0].SSID != b.SSID || !saved[0].Current || saved[0].Profile != "bluenet" ||
		saved[1].SSID != a.SSID || saved[1].Current || saved[1].Priority >= saved[0].Priority ||
		saved[1].Profile != "bluenet-saved-"+a.SSID {
		t.Fatalf("saved %+v, want current %s then remembered %s with a lower priority", saved, b.SSID, a.SSID)
	}

	// B goes away: the device goes back to A by itself.
	gone := time.Now()
	vmtest.Sh(t, "AP_IF="+b.Iface+" ap_stop")
	st := e.waitState("back on A by itself", 4*time.Minute, connectedOn(a))
	t.Logf("state %v", st)
	t.Logf("MEASURE B's AP stopped -> connected to remembered A: %.2fs", time.Since(gone).Seconds())
	vmtest.Sh(t, "busybox ping -c1 -W3 "+a.Gateway())

	if code, _ := wifiCmd(t, "forget", a.SSID); code != 0 {
		t.Fatalf("bluenet forget %s: exit %d", a.SSID, code)
	}
	for _, p := range e.profiles() {
		if string(p.ssid) == a.SSID {
			t.Errorf("profile %+v of %s still there after forget", p, a.SSID)
		}
	}
	if code, _ := wifiCmd(t, "forget", a.SSID); code != 4 {
		t.Errorf("forgetting %s again: exit %d, want 4 (not found)", a.SSID, code)
	}
	code, out = wifiCmd(t, "networks", "--saved")
	if code != 0 || strings.Contains(out, a.SSID) || !strings.Contains(out, b.SSID) {
		t.Errorf("bluenet saved after forget: exit %d, want only %s", code, b.SSID)
	}
}

// TestWiFiCountry: `bluenet country DE` sets the regulatory domain over
// nl80211 and `iw reg get` reads it back; with no country set, the daemon's
// check warns because hwsim radios support 5 GHz.
func TestWiFiCountry(t *testing.T) {
	vmtest.Sh(t, "iw reg set 00; sleep 1")
	t.Cleanup(func() { _, _ = vmtest.ShErr("iw reg set 00") })

	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := regdom.WarnIfUnset(ctx, slog.New(slog.NewTextHandler(&buf, nil)), "wlan0")
	if err != nil {
		t.Fatalf("WarnIfUnset: %v", err)
	}
	t.Logf("status %+v; log: %s", st, buf.String())
	if regdom.IsSet(st.Country) || !st.NeedsCountry() || !strings.Contains(buf.String(), "no Wi-Fi country set") {
		t.Errorf("no warning with country %q bands %v", st.Country, st.Bands)
	}

	start := time.Now()
	code, out := wifiCmd(t, "country", "de")
	if code != 0 || !strings.Contains(out, "country: DE") {
		t.Fatalf("bluenet country de: exit %d", code)
	}
	t.Logf("MEASURE set country and read back: %.2fs", time.Since(start).Seconds())
	if got := vmtest.Sh(t, "iw reg get"); !strings.Contains(got, "country DE") {
		t.Errorf("iw reg get does not report DE:\n%s", got)
	}
	buf.Reset()
	if st, err := regdom.WarnIfUnset(ctx, slog.New(slog.NewTextHandler(&buf, nil)), "wlan0"); err != nil || st.Country != "DE" || buf.Len() != 0 {
		t.Errorf("after set: %+v, %v, log %q; want DE and no warning", st, err, buf.String())
	}
	if code, _ := wifiCmd(t, "country", "D1"); code != 2 {
		t.Errorf("bluenet country D1: exit %d, want 2 (usage)", code)
	}
}
