package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/devicetest"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/wifitest"
)

// runAgainstFake runs the bluenet command line args against a fake BlueZ
// (DBUS_SYSTEM_BUS_ADDRESS) on its central adapter and returns its output and
// exit code.
func runAgainstFake(t *testing.T, b *devicetest.Fake, stdin string, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", b.Address)
	empty := filepath.Join(t.TempDir(), "empty.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	root.SetArgs(append([]string{"--config", empty, "-b", devicetest.CentralAdapter}, args...))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString("bluenet: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), exitCode(err)
}

const allImprovCaps = improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname

func TestImprovCommands(t *testing.T) {
	b := devicetest.New(t)
	d := devicetest.NewImprov(t, b, "esp-plug", improv.StateAuthorized, allImprovCaps)
	d.Networks = []improv.Network{{SSID: "HomeNet", RSSI: -42, Auth: improv.AuthWPA2}, {SSID: "Cafe", RSSI: -70, Auth: improv.AuthOpen}}

	out, errOut, code := runAgainstFake(t, b, "", "scan", "--timeout", "1s")
	if code != 0 || !strings.Contains(out, gatttest.AdapterAddress+"    -42  improv          authorized              esp-plug") {
		t.Errorf("scan: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = runAgainstFake(t, b, "", "networks", "esp-plug", "--json")
	var r networksReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("networks: exit %d\n%s%s", code, out, errOut)
	}
	if r.Protocol != "improv" || r.State != "authorized" || r.DeviceInfo == nil || r.DeviceInfo.Firmware != "ESPHome" ||
		len(r.Scan) != 2 || r.Scan[0].SSID != "HomeNet" || r.Scan[0].RSSI != -42 || r.Scan[0].Auth != "WPA2" {
		t.Errorf("networks: %+v", r)
	}

	out, errOut, code = runAgainstFake(t, b, "", "identify", gatttest.AdapterAddress)
	if code != 0 || !strings.Contains(out, "identify itself") || d.Identified() != 1 {
		t.Errorf("identify: exit %d, identified %d\n%s%s", code, d.Identified(), out, errOut)
	}

	// Wrong password: Improv says only "unable to connect": exit 1.
	out, errOut, code = runAgainstFake(t, b, "wrong-password\n", "provision", "esp-plug", "-s", "HomeNet")
	if code != exitFailure || !strings.Contains(errOut, "unable to connect") || strings.Contains(out+errOut, "wrong-password") {
		t.Errorf("wrong password: exit %d\n%s%s", code, out, errOut)
	}
	// The Bluenet profile asked for, on an Improv-only device: exit 1.
	_, errOut, code = runAgainstFake(t, b, "right-password\n", "provision", "esp-plug", "-s", "HomeNet", "--protocol", "bluenet")
	if code != exitFailure || !strings.Contains(errOut, "not a Bluenet device") {
		t.Errorf("--protocol bluenet: exit %d\n%s", code, errOut)
	}
	// Right password, pieces written without response: the URL.
	out, errOut, code = runAgainstFake(t, b, "right-password\n", "provision", "esp-plug", "-s", "HomeNet",
		"--improv-write-without-response")
	if code != 0 || !strings.Contains(out, `esp-plug is provisioned on "HomeNet"`) || !strings.Contains(out, "redirect URL: http://192.0.2.7/") {
		t.Errorf("provision: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "right-password") {
		t.Errorf("the password was printed")
	}
	if d.SSID() != "HomeNet" {
		t.Errorf("device got %q", d.SSID())
	}
	// Now Provisioned: the scan shows it (from the service data).
	out, _, _ = runAgainstFake(t, b, "", "scan", "--timeout", "1s")
	if !strings.Contains(out, "improv          provisioned") {
		t.Errorf("scan after provisioning:\n%s", out)
	}
}

func TestIdentifyNotOffered(t *testing.T) {
	b := devicetest.New(t)
	devicetest.NewImprov(t, b, "plain", improv.StateAuthorized, improv.CapabilityDeviceInfo)
	_, errOut, code := runAgainstFake(t, b, "", "identify", "plain")
	if code != exitFailure || !strings.Contains(errOut, "not supported") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	_, errOut, code = runAgainstFake(t, b, "", "identify", "absent", "--scan-timeout", "1s")
	if code != exitUnreachable {
		t.Errorf("absent device: exit %d\n%s", code, errOut)
	}
}

// kitchen runs the daemon, called Kitchen with the host name bluenet-host,
// speaking protocols, on an in-memory Wi-Fi backend that joins with
// "right-password" only.
func kitchen(t *testing.T, protocols ...string) (*devicetest.Fake, *wifitest.Backend) {
	f := devicetest.New(t)
	w := wifitest.New()
	w.SetJoinFunc(func(_ context.Context, ssid []byte, secret string) error {
		if secret != "right-password" {
			return &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonWrongPassword}
		}
		return nil
	})
	f.Daemon(t, daemon.Config{WiFi: w, Alias: "Kitchen", Hostname: "bluenet-host", Protocols: protocols,
		NotifyGap: time.Millisecond, JoinDelay: 50 * time.Millisecond})
	return f, w
}

// TestProvisionChoosesProtocol: a device with both services is provisioned
// over Bluenet unless --protocol improv; Bluenet's wrong password is exit 3,
// the same code as bluenet join's.
func TestProvisionChoosesProtocol(t *testing.T) {
	b, w := kitchen(t, "bluenet", "improv")

	out, errOut, code := runAgainstFake(t, b, "wrong-password\n", "provision", "Kitchen", "-s", "HomeNet")
	if code != exitWrongPassword || !strings.Contains(errOut, "wrong password") {
		t.Errorf("Bluenet wrong password: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runAgainstFake(t, b, "right-password\n", "provision", "Kitchen", "-s", "HomeNet")
	if code != 0 || !strings.Contains(out, `Kitchen is connected "HomeNet"`) || !strings.Contains(out, "host name: bluenet-host") {
		t.Errorf("Bluenet: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runAgainstFake(t, b, "right-password\n", "provision", "Kitchen", "-s", "HomeNet", "--protocol", "improv")
	// Improv's words ("provisioned on"), not Bluenet's ("is connected").
	if joins := w.Joins(); code != 0 || len(joins) != 3 || string(joins[2].SSID) != "HomeNet" ||
		!strings.Contains(out, `Kitchen is provisioned on "HomeNet"`) {
		t.Errorf("Improv: exit %d, %d joins\n%s%s", code, len(joins), out, errOut)
	}

	bluenetOnly, _ := kitchen(t, "bluenet")
	out, errOut, code = runAgainstFake(t, bluenetOnly, "", "networks", "Kitchen", "--protocol", "improv")
	if code != exitFailure || !strings.Contains(errOut, "not an Improv device") {
		t.Errorf("networks --protocol improv on a Bluenet device: exit %d\n%s%s", code, out, errOut)
	}
}
