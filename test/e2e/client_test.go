//go:build vm

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// runBluenet runs the bluenet command with stdin and returns stdout,
// stderr and the exit code. When the command could not reach the device
// (exit 10) it logs what both controllers say (bt_diagnose), and if the bed's central
// had a connection stuck in the kernel (see vmtest.UnstickCentral), which
// every later attempt would wait on, it clears it and runs the command once
// more: a device that really is unreachable still ends with exit 10.
func runBluenet(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	out, errOut, code := runBluenetOnce(t, stdin, args...)
	if code != exitUnreachable {
		return out, errOut, code
	}
	diag, _ := vmtest.ShErr("bt_diagnose")
	t.Logf("the controllers after exit %d:\n%s", code, diag)
	if !vmtest.UnstickCentral(t) {
		return out, errOut, code
	}
	t.Logf("running the command again: the central's connection was stuck, not the device")
	return runBluenetOnce(t, stdin, args...)
}

// exitUnreachable is the CLI's exit code when it cannot reach the device.
const exitUnreachable = 10

func runBluenetOnce(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(vmtest.Bin(t, "bluenet"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("bluenet %q: %v", args, err)
	}
	t.Logf("bluenet %s: exit %d after %.2fs\n--- stdout:\n%s--- stderr:\n%s", strings.Join(args, " "), code,
		time.Since(start).Seconds(), out.String(), errb.String())
	return out.String(), errb.String(), code
}

// TestClient drives the daemon on hci0 with the client commands on hci1:
// scan, networks, provision with the right password (exit 0, host name),
// then a wrong one (exit 3, the device stays on the network), and a device
// that is not there (exit 10).
func TestClient(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1", "hostapd-wlan2")
	const (
		clientPSK = "client-pass-777"
		otherPSK  = "other-pass-888"
		wrongPW   = "wrong-pass-999"
	)
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan1", SSID: "ClientNet", PSK: clientPSK})
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan2", SSID: "OtherNet", PSK: otherPSK})
	vmtest.Sh(t, "nm_wait_ssid ClientNet 90 && nm_wait_ssid OtherNet 90")
	d := startDaemon(t, "-h", "bluenet-%IP", "-a", "Bluenet Client")
	c := vmtest.CentralAdapter

	// scan
	out, _, code := runBluenet(t, "", "-b", c, "scan", "--timeout", "8s", "--json")
	if code != 0 {
		t.Fatalf("scan: exit %d", code)
	}
	var devs []struct {
		Address, Name, Alias string
		RSSI                 int16
		Seen                 bool
	}
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("scan --json: %v", err)
	}
	// btvirt reports an advertiser once, when scanning starts, and without
	// RSSI (127, "not available"): so no RSSI is asserted, and a later scan
	// may list the device as known but not seen.
	if len(devs) != 1 || devs[0].Address != vmtest.PeripheralAddress || devs[0].Alias != "Bluenet Client" {
		t.Errorf("scan found %+v, want only %s \"Bluenet Client\"", devs, vmtest.PeripheralAddress)
	}
	out, _, code = runBluenet(t, "", "-b", c, "scan", "--timeout", "5s")
	if code != 0 || !strings.Contains(out, vmtest.PeripheralAddress) || !strings.Contains(out, "Bluenet Client") {
		t.Errorf("scan (text): exit %d\n%s", code, out)
	}

	// networks
	out, _, code = runBluenet(t, "", "-b", c, "networks", vmtest.PeripheralAddress, "--json")
	if code != 0 {
		t.Fatalf("networks: exit %d", code)
	}
	var nets struct {
		State, Hostname, Version string
		Networks                 []string
		Complete                 bool
	}
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		t.Fatalf("networks --json: %v", err)
	}
	if !nets.Complete || !contains(nets.Networks, "ClientNet") || !contains(nets.Networks, "OtherNet") ||
		nets.Version != "1.0" || nets.State == "" {
		t.Errorf("networks = %+v, want a complete round with ClientNet and OtherNet, version 1.0", nets)
	}
	if !waitFor(10*time.Second, func() bool { s, _ := d.status(); return len(s.Centrals) == 0 }) {
		t.Errorf("networks left the central connected")
	}

	// provision, by name, password on stdin
	start := time.Now()
	out, errOut, code := runBluenet(t, clientPSK+"\n", "-b", c, "provision", "Bluenet Client", "--ssid", "ClientNet")
	if code != 0 {
		t.Fatalf("provision: exit %d", code)
	}
	t.Logf("provision ClientNet: %.2fs", time.Since(start).Seconds())
	if !strings.Contains(out, `connected "ClientNet"`) || !strings.Contains(out, "host name: bluenet-192.168.71.") {
		t.Errorf("provision output does not report the connection and host name:\n%s", out)
	}
	if strings.Contains(out+errOut, clientPSK) {
		t.Errorf("provision printed the password")
	}
	if s, _ := d.status(); s.State != "connected" || s.SSID != "ClientNet" {
		t.Errorf("daemon status after provision: %+v", s)
	}
	if !waitFor(10*time.Second, func() bool { s, _ := d.status(); return len(s.Centrals) == 0 }) {
		t.Errorf("provision left the central connected")
	}

	// A wrong password: exit 3, a clear message, the device keeps ClientNet.
	start = time.Now()
	out, errOut, code = runBluenet(t, wrongPW+"\n", "-b", c, "provision", vmtest.PeripheralAddress, "-s", "OtherNet",
		"--password-file", "-")
	if code != 3 {
		t.Errorf("provision with a wrong password: exit %d, want 3", code)
	}
	t.Logf("provision OtherNet with a wrong password: %.2fs", time.Since(start).Seconds())
	if !strings.Contains(errOut, `could not join "OtherNet": wrong password`) {
		t.Errorf("wrong password: message does not say so:\n%s", errOut)
	}
	if strings.Contains(out+errOut, wrongPW) {
		t.Errorf("provision printed the password")
	}
	if !waitFor(60*time.Second, func() bool { s, _ := d.status(); return s.State == "connected" && s.SSID == "ClientNet" }) {
		s, _ := d.status()
		t.Errorf("after the wrong password the daemon is %+v, want connected to ClientNet", s)
	}

	// Ctrl-C while the device joins: exit 1, "interrupted", link dropped.
	cmd := exec.Command(vmtest.Bin(t, "bluenet"), "-b", c, "provision", vmtest.PeripheralAddress, "-s", "NoSuchNet", "--open")
	var errb logbuf.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(60*time.Second, func() bool { return strings.Contains(errb.String(), "waiting for the device to join") }) {
		_ = cmd.Process.Kill()
		t.Fatalf("provision NoSuchNet never started waiting:\n%s", errb.String())
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("Ctrl-C: exit %d, want 1 and \"interrupted\"\n%s", code, errb.String())
	}
	if !waitFor(10*time.Second, func() bool { s, _ := d.status(); return len(s.Centrals) == 0 }) {
		t.Errorf("Ctrl-C left the central connected")
	}

	// A device that is not there.
	start = time.Now()
	_, errOut, code = runBluenet(t, "", "-b", c, "provision", "00:AA:01:00:00:99", "-s", "ClientNet", "--open",
		"--scan-timeout", "4s")
	if code != exitUnreachable || !strings.Contains(errOut, "not found") {
		t.Errorf("provision to a missing device: exit %d, want 10 with \"not found\"\n%s", code, errOut)
	}
	t.Logf("missing device reported after %.2fs", time.Since(start).Seconds())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
