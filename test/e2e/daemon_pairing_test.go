//go:build vm

package e2e

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/att"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

// TestDaemonPairing: `bluenet start --pairing` with the setup window open.
// An unpaired write to the SSID characteristic is refused with ATT 0x0F
// (Insufficient Encryption); `bluenet provision` from hci1 then pairs (Just
// Works) and provisions; btmon shows the link encrypted; the daemon removes
// the bond when the central disconnects and the client removes its own, so
// no device object or key file is left.
func TestDaemonPairing(t *testing.T) {
	ssidUUID := gatt.MustParseUUID(bluenet.SSIDUUID)
	homeAndCafe(t)
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "btmon")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bus := vmtest.SystemBus(t)
	removeDevice(bus, vmtest.PeripheralAdapter, vmtest.CentralAddress)
	removeDevice(bus, vmtest.CentralAdapter, vmtest.PeripheralAddress)
	btmon := startBtmon(t)

	d := startDaemon(t, "-a", "Pairing Test", "--pairing", "--setup-window", "always")
	if !waitFor(10*time.Second, func() bool {
		v, err := bus.Object("org.bluez", "/org/bluez/"+vmtest.PeripheralAdapter).GetProperty("org.bluez.Adapter1.Pairable")
		return err == nil && v.Value() == true
	}) {
		t.Errorf("hci0 is not pairable although the setup window is open")
	}

	// 1. Unpaired, through the kernel's ATT socket (no pairing on the
	// central's side): Insufficient Encryption, nothing happens.
	c, err := dialRetry(ctx, t, 0)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	chars, err := c.Characteristics(ctx)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	ssid, ok := att.Find(chars, ssidUUID[:])
	if !ok {
		t.Fatalf("no SSID characteristic among %+v", chars)
	}
	err = c.Write(ctx, ssid.ValueHandle, []byte("HomeNet"))
	var ae *att.Error
	if !errors.As(err, &ae) || ae.Code != 0x0f {
		t.Errorf("unpaired write to SSID: %v, want ATT error 0x0f (Insufficient Encryption)", err)
	}
	t.Logf("unpaired write refused: %v", err)
	c.Close()
	time.Sleep(3 * time.Second)
	if s, _ := d.status(); s.State == "connected" || s.State == "connecting" {
		t.Fatalf("the device started a join after a refused write: %+v", s)
	}

	// 2. bluenet provision pairs (Just Works) and provisions.
	start := time.Now()
	out, stderr, code := runBluenet(t, homePSK+"\n", "-v", "-b", vmtest.CentralAdapter, "provision", vmtest.PeripheralAddress,
		"--protocol", "bluenet", "--ssid", "HomeNet", "--password-file", "-")
	if code != 0 || !strings.Contains(out, "connected") {
		logEvidence(t, btmon())
		t.Fatalf("provision with pairing: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("paired and provisioned in %.1fs", time.Since(start).Seconds())
	if s, _ := d.status(); s.SSID != "HomeNet" || s.State != "connected" {
		t.Errorf("after provisioning the device is %+v", s)
	}
	log := btmonWait(btmon, "Pairing Request", "LE Start Encrypt", "Encryption: Enabled")
	for _, want := range []string{"Pairing Request", "LE Start Encrypt", "Encryption Change", "Encryption: Enabled"} {
		if !strings.Contains(log, want) {
			t.Errorf("btmon shows no %q", want)
		}
	}
	logEvidence(t, log)
	dlog, _ := os.ReadFile(d.log)
	if !strings.Contains(string(dlog), "pairing accepted") {
		t.Errorf("the daemon's agent was not asked about the pairing")
	}

	// 3. No bond left, on either side.
	gone := func() bool {
		_, e1 := deviceProp(bus, devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress), "Paired")
		p2, e2 := deviceProp(bus, devicePath(vmtest.CentralAdapter, vmtest.PeripheralAddress), "Paired")
		return e1 != nil && (e2 != nil || p2 == false)
	}
	if !waitFor(20*time.Second, gone) {
		t.Errorf("a bond is left after provisioning")
	}
	for _, f := range []string{
		"/var/lib/bluetooth/" + vmtest.PeripheralAddress + "/" + vmtest.CentralAddress + "/info",
		"/var/lib/bluetooth/" + vmtest.CentralAddress + "/" + vmtest.PeripheralAddress + "/info",
	} {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "LongTermKey") {
			t.Errorf("a key is left after provisioning: %s", f)
		}
	}
	dlog, _ = os.ReadFile(d.log)
	if !strings.Contains(string(dlog), "bond removed") {
		t.Errorf("the daemon did not remove the bond")
	}
}
