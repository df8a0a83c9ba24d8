//go:build vm

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// improvPeer is an Improv-only peripheral on hci0, standing in for an
// ESPHome device: the Improv service through the real bluetoothd (package
// gatt), its service data in the primary advertisement, and an RPC handler
// written with package improv. It joins no network: the password
// "improv-right-pass" succeeds, any other fails with error 0x03.
type improvPeer struct {
	srv *gatt.Server

	mu         sync.Mutex
	state      improv.State
	errc       improv.ErrorCode
	asm        map[string]*improv.Assembler // per central
	writeTypes []string
	identified int
	ssid       string
}

const (
	improvPeerName = "Improv Peer"
	improvPeerPass = "improv-right-pass"
	improvPeerURL  = "http://192.0.2.9/setup"
	improvPeerCaps = improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan
)

func startImprovPeer(t *testing.T) *improvPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := &improvPeer{state: improv.StateAuthorized, asm: map[string]*improv.Assembler{}}
	u := gatt.MustParseUUID
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:    vmtest.SystemBus(t),
		Adapter: vmtest.PeripheralAdapter,
		Path:    "/org/bluenet/improvpeer",
		Services: []gatt.Service{{
			UUID: u(improv.ServiceUUID), Primary: true,
			Characteristics: []gatt.Characteristic{
				{UUID: u(improv.StateUUID), Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{byte(p.state)}},
				{UUID: u(improv.ErrorUUID), Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{0}},
				{UUID: u(improv.RPCCommandUUID), Flags: gatt.FlagWrite | gatt.FlagWriteWithoutResponse, OnWrite: p.onWrite},
				{UUID: u(improv.RPCResultUUID), Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{}},
				{UUID: u(improv.CapabilitiesUUID), Flags: gatt.FlagRead, Value: []byte{byte(improvPeerCaps)}},
			},
		}},
		// Flags 3 + the 128-bit UUID 18 + service data 10 = 31 bytes: the
		// name goes in the scan response.
		Advertisement: &gatt.Advertisement{
			ServiceUUIDs: []gatt.UUID{u(improv.ServiceUUID)},
			ServiceData:  map[gatt.UUID][]byte{gatt.UUID16(improv.ServiceDataUUID16): improv.EncodeServiceData(p.state, improvPeerCaps)},
			LocalName:    improvPeerName,
		},
		OnError: func(err error) { t.Logf("improv peer: %v", err) },
		Logger:  debugLog(t, "improv peer"),
	})
	if err != nil {
		t.Fatalf("gatt.Open: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p.srv = srv
	return p
}

func (p *improvPeer) onWrite(r *gatt.Request, _ []byte) error {
	p.mu.Lock()
	p.writeTypes = append(p.writeTypes, r.Type.String())
	a := p.asm[r.Address]
	if a == nil {
		a = &improv.Assembler{}
		p.asm[r.Address] = a
	}
	pkt, done, err := a.Write(int(r.Offset), r.Chunk)
	p.mu.Unlock()
	if err != nil {
		p.setError(improv.CodeOf(err))
		return nil
	}
	if done {
		go p.handle(pkt)
	}
	return nil
}

func (p *improvPeer) notify(uuid string, v []byte) {
	_ = p.srv.Characteristic(gatt.MustParseUUID(uuid)).Notify(v)
}

func (p *improvPeer) setState(s improv.State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
	p.notify(improv.StateUUID, []byte{byte(s)})
}

func (p *improvPeer) setError(e improv.ErrorCode) {
	p.mu.Lock()
	changed := p.errc != e
	p.errc = e
	p.mu.Unlock()
	if changed {
		p.notify(improv.ErrorUUID, []byte{byte(e)})
	}
}

func (p *improvPeer) handle(pkt improv.Packet) {
	p.setError(improv.ErrorNone)
	switch pkt.Command {
	case improv.CommandWiFiSettings:
		w, err := improv.ParseWiFiSettings(pkt.Data)
		if err != nil {
			p.setError(improv.ErrorInvalidRPC)
			return
		}
		p.mu.Lock()
		p.ssid = w.SSID
		p.mu.Unlock()
		p.setState(improv.StateProvisioning)
		time.Sleep(200 * time.Millisecond)
		if w.Password != improvPeerPass {
			p.setError(improv.ErrorUnableToConnect)
			p.setState(improv.StateAuthorized)
			return
		}
		p.setState(improv.StateProvisioned)
		b, _ := improv.EncodeResult(improv.CommandWiFiSettings, improvPeerURL)
		p.notify(improv.RPCResultUUID, b)
	case improv.CommandIdentify:
		p.mu.Lock()
		p.identified++
		p.mu.Unlock()
	case improv.CommandDeviceInfo:
		p.notify(improv.RPCResultUUID, improv.EncodeDeviceInfo(improv.DeviceInfo{
			FirmwareName: "peer", FirmwareVersion: "0.1", Hardware: "qemu", DeviceName: improvPeerName}))
	case improv.CommandScan:
		var nets []improv.Network
		for i, s := range []string{"PeerNetA", "PeerNetB", "PeerNetC", "PeerNetD", "PeerNetE", "PeerNetF", "PeerNetG"} {
			nets = append(nets, improv.Network{SSID: s + strings.Repeat("x", 20), RSSI: -40 - i, Auth: improv.AuthWPA2})
		}
		b, _ := improv.EncodeScanResult(nets) // more than fits: trimmed
		p.notify(improv.RPCResultUUID, b)
	default:
		p.setError(improv.ErrorUnknownRPC)
	}
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
	p := startImprovPeer(t)
	c := vmtest.CentralAdapter

	out, _, code := runBluenet(t, "", "-b", c, "scan", "--timeout", "8s", "--json")
	var devs []struct {
		Address            string
		Alias              string
		Bluenet, Improv    bool
		ImprovState        int `json:"improv_state"`
		ImprovCapabilities int `json:"improv_capabilities"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &devs) != nil {
		t.Fatalf("scan: exit %d\n%s", code, out)
	}
	if len(devs) != 1 || devs[0].Address != vmtest.PeripheralAddress || !devs[0].Improv || devs[0].Bluenet ||
		devs[0].ImprovState != int(improv.StateAuthorized) || devs[0].ImprovCapabilities != int(improvPeerCaps) {
		t.Errorf("scan found %+v, want %s as an Improv device, authorized, capabilities %d", devs, vmtest.PeripheralAddress, improvPeerCaps)
	}

	out, _, code = runBluenet(t, "", "-b", c, "networks", vmtest.PeripheralAddress, "--json")
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
	p.mu.Lock()
	if p.identified != 1 {
		t.Errorf("identified %d times", p.identified)
	}
	p.mu.Unlock()

	out, errOut, code := runBluenet(t, "wrong-pass-123\n", "-b", c, "provision", vmtest.PeripheralAddress, "-s", "PeerNet")
	if code != 1 || !strings.Contains(errOut, "unable to connect") || strings.Contains(out+errOut, "wrong-pass-123") {
		t.Errorf("wrong password: exit %d, want 1 and \"unable to connect\"", code)
	}

	p.mu.Lock()
	p.writeTypes = nil
	p.mu.Unlock()
	out, _, code = runBluenet(t, improvPeerPass+"\n", "-b", c, "provision", improvPeerName, "-s", "PeerNet",
		"--improv-write-without-response")
	if code != 0 || !strings.Contains(out, "redirect URL: "+improvPeerURL) {
		t.Errorf("provision: exit %d, want 0 and the redirect URL", code)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ssid != "PeerNet" || p.state != improv.StateProvisioned {
		t.Errorf("peer got SSID %q, state %v", p.ssid, p.state)
	}
	// 2+1+7+1+17+1 = 29 bytes: two pieces of at most 20, both without response.
	if len(p.writeTypes) != 2 || p.writeTypes[0] != "command" || p.writeTypes[1] != "command" {
		t.Errorf("writes %q, want two without response", p.writeTypes)
	}
}
