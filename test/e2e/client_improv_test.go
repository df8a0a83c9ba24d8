//go:build vm

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/devicetest"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

const (
	improvPeerName = "Improv Peer"
	improvPeerPass = "improv-right-pass"
	improvPeerURL  = "http://192.0.2.9/setup"
	improvPeerCaps = improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan
)

// startImprovPeer starts an Improv-only peripheral on hci0, standing in for
// an ESPHome device: package devicetest's Improv device through the real
// bluetoothd (package gatt), its service data in the primary
// advertisement. It joins no network: the password "improv-right-pass"
// succeeds, any other fails with error 0x03.
func startImprovPeer(t *testing.T) *devicetest.Improv {
	t.Helper()
	p := devicetest.ServeImprov(t, gatt.Config{
		Conn:    vmtest.SystemBus(t),
		Adapter: vmtest.PeripheralAdapter,
		Path:    "/org/bluenet/improvpeer",
		OnError: func(err error) { t.Logf("improv peer: %v", err) },
		Logger:  debugLog(t, "improv peer"),
	}, improvPeerName, improv.StateAuthorized, improvPeerCaps)
	p.Password, p.URL, p.Delay = improvPeerPass, improvPeerURL, 200*time.Millisecond
	p.Info = improv.DeviceInfo{FirmwareName: "peer", FirmwareVersion: "0.1", Hardware: "qemu", DeviceName: improvPeerName}
	for i, s := range []string{"PeerNetA", "PeerNetB", "PeerNetC", "PeerNetD", "PeerNetE", "PeerNetF", "PeerNetG"} {
		p.Networks = append(p.Networks, improv.Network{SSID: s + strings.Repeat("x", 20), RSSI: -40 - i, Auth: improv.AuthWPA2})
	}
	return p
}

// TestImprovClient drives an Improv-only peripheral (improvPeer on hci0)
// with the client commands on hci1, through two real bluetoothd adapters:
// scan finds it by its Improv service and shows the state from its service
// data; networks reads device info and the (trimmed) scan; identify;
// provision with a wrong password (exit 1, "unable to connect"), then the
// right one written without response in 20-byte pieces (exit 0 and the
// redirect URL).
func TestImprovClient(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd")
	vmtest.ForgetDevices(t)
	// The daemon of an earlier test may have left hci0 powered off.
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	setPowered(t, pctx, vmtest.SystemBus(t), vmtest.PeripheralAdapter)
	pcancel()
	p := startImprovPeer(t)
	c := vmtest.CentralAdapter

	var devs []struct {
		Address            string
		Alias              string
		Bluenet, Improv    bool
		ImprovState        int `json:"improv_state"`
		ImprovCapabilities int `json:"improv_capabilities"`
	}
	// btvirt reports an advertiser only when scanning starts: a scan may
	// miss a device that began advertising during an earlier one.
	for attempt := 0; attempt < 3 && len(devs) == 0; attempt++ {
		out, _, code := runBluenet(t, "", "-b", c, "scan", "--timeout", "8s", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &devs) != nil {
			t.Fatalf("scan: exit %d\n%s", code, out)
		}
	}
	if len(devs) != 1 || devs[0].Address != vmtest.PeripheralAddress || !devs[0].Improv || devs[0].Bluenet ||
		devs[0].ImprovState != int(improv.StateAuthorized) || devs[0].ImprovCapabilities != int(improvPeerCaps) {
		t.Errorf("scan found %+v, want %s as an Improv device, authorized, capabilities %d", devs, vmtest.PeripheralAddress, improvPeerCaps)
	}

	out, _, code := runBluenet(t, "", "-b", c, "networks", vmtest.PeripheralAddress, "--json")
	var nets struct {
		Protocol, State string
		DeviceInfo      struct{ Firmware, Hardware, Name string } `json:"device_info"`
		Scan            []struct {
			SSID string
			RSSI int
			Auth string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &nets) != nil {
		t.Fatalf("networks: exit %d\n%s", code, out)
	}
	// Seven triples of 1+28 + 1+3 + 1+4 = 38 bytes: six fit in 255.
	if nets.Protocol != "improv" || nets.State != "authorized" || nets.DeviceInfo.Firmware != "peer" ||
		nets.DeviceInfo.Name != improvPeerName || len(nets.Scan) != 6 || nets.Scan[0].RSSI != -40 || nets.Scan[0].Auth != "WPA2" {
		t.Errorf("networks = %+v", nets)
	}

	if _, _, code = runBluenet(t, "", "-b", c, "identify", vmtest.PeripheralAddress); code != 0 {
		t.Errorf("identify: exit %d", code)
	}
	if n := p.Identified(); n != 1 {
		t.Errorf("identified %d times", n)
	}

	out, errOut, code := runBluenet(t, "wrong-pass-123\n", "-b", c, "provision", vmtest.PeripheralAddress, "-s", "PeerNet")
	if code != 1 || !strings.Contains(errOut, "unable to connect") || strings.Contains(out+errOut, "wrong-pass-123") {
		t.Errorf("wrong password: exit %d, want 1 and \"unable to connect\"", code)
	}

	before := len(p.WriteTypes())
	out, _, code = runBluenet(t, improvPeerPass+"\n", "-b", c, "provision", improvPeerName, "-s", "PeerNet",
		"--improv-write-without-response")
	if code != 0 || !strings.Contains(out, "redirect URL: "+improvPeerURL) {
		t.Errorf("provision: exit %d, want 0 and the redirect URL", code)
	}
	if ssid, state := p.SSID(), p.State(); ssid != "PeerNet" || state != improv.StateProvisioned {
		t.Errorf("peer got SSID %q, state %v", ssid, state)
	}
	// 2+1+7+1+17+1 = 29 bytes: two pieces of at most 20, both without response.
	if wt := p.WriteTypes()[before:]; len(wt) != 2 || wt[0] != "command" || wt[1] != "command" {
		t.Errorf("writes %q, want two without response", wt)
	}
}
