//go:build vm

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// TestDemo is what ./scripts/demo shows: inside the VM, the bluenet daemon
// runs on one Bluetooth controller (the device), and `bluenet scan`,
// `networks` and `provision` run on the other (a laptop standing in for the
// phone) to put the device on a WPA2 network, then `bluenet status` shows
// the result on the device.
func TestDemo(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1")
	say := func(format string, a ...any) { fmt.Printf("\n### "+format+"\n", a...) }
	run := func(stdin string, args ...string) string {
		t.Helper()
		fmt.Printf("$ bluenet %s\n", strings.Join(args, " "))
		cmd := exec.Command(vmtest.Bin(t, "bluenet"), args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		os.Stdout.Write(out)
		if err != nil {
			t.Fatalf("bluenet %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}

	say("A Wi-Fi access point \"HomeNet\" (WPA2) is up; the device is not connected")
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan1", SSID: "HomeNet", PSK: homePSK})
	vmtest.Sh(t, "nm_wait_ssid HomeNet 90")
	start := time.Now()
	d := startDaemon(t, "-h", "demo-device at %IP", "-a", "Bluenet Demo")
	say("The device runs: bluenet -w wlan0 -b hci0 start -h 'demo-device at %%IP' -a 'Bluenet Demo' (advertising after %.1fs)",
		time.Since(start).Seconds())
	run("", "-w", "wlan0", "status", "--status-file", d.statusFile)

	say("A laptop (controller hci1) looks for Bluenet devices")
	run("", "-b", vmtest.CentralAdapter, "scan", "--timeout", "5s")

	say("It asks the device which networks it sees")
	run("", "-b", vmtest.CentralAdapter, "networks", vmtest.PeripheralAddress)

	say("It sends the SSID and the password (read from standard input, never shown)")
	start = time.Now()
	out := run(homePSK+"\n", "-b", vmtest.CentralAdapter, "provision", vmtest.PeripheralAddress, "--ssid", "HomeNet")
	say("Provisioned in %.1fs", time.Since(start).Seconds())
	if !strings.Contains(out, "demo-device at 192.168.71.") {
		t.Errorf("provision did not print the device's host name with its new address")
	}

	say("On the device")
	out = run("", "-w", "wlan0", "status", "--status-file", d.statusFile)
	if !strings.Contains(out, "state: connected") {
		t.Errorf("device not connected")
	}
	fmt.Println(vmtest.Sh(t, "ip -4 -br addr show wlan0; busybox ping -c1 -W3 192.168.71.1 | head -2"))
}
