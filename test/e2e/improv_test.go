//go:build vm

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// improvPacket encodes an RPC command.
func improvPacket(t testing.TB, cmd improv.Command, ss ...string) []byte {
	t.Helper()
	b, err := improv.EncodeCommand(cmd, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// improvServiceData finds a device that advertises the Improv service
// with service data 4677 (as Home Assistant does) and returns its address
// and the service data.
func improvServiceData(t testing.TB, ctx context.Context, c *central.Central) (string, []byte) {
	t.Helper()
	start := time.Now()
	sdUUID := central.MustParseUUID(improv.ServiceDataUUID)
	for {
		adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{central.MustParseUUID(improv.ServiceUUID)}})
		if err != nil {
			t.Fatalf("discover the Improv service: %v", err)
		}
		if sd, ok := adv.ServiceData[sdUUID]; ok {
			t.Logf("found %s by Improv service data % x in %.2fs", adv.Address, sd, time.Since(start).Seconds())
			return adv.Address, sd
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestImprov provisions the daemon over Improv Wi-Fi the way Home
// Assistant (writes with response, large MTU) and the Improv web page
// (writes without response) do, with the bytes of the spec: discovery by
// service data, capabilities, device info, scan, a wrong password that
// keeps the previous network, the right one with the redirect URL, then a
// Bluenet central on the same running daemon.
func TestImprov(t *testing.T) {
	homeAndCafe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	d := startDaemon(t, "-a", "Improv Test", "--improv-url", "http://%IP/welcome", "--identify-command", "true")
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	// Not online yet: Authorized, with identify, device info, scan and
	// host name.
	caps := improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname
	addr, sd := improvServiceData(t, ctx, c)
	if !bytes.Equal(sd, improv.EncodeServiceData(improv.StateAuthorized, caps)) {
		t.Errorf("service data % x, want % x", sd, improv.EncodeServiceData(improv.StateAuthorized, caps))
	}

	// The device's previous network.
	if code, out, _ := runJoin(t, homePSK, "-s", "HomeNet"); code != 0 {
		t.Fatalf("bluenet join HomeNet: exit %d\n%s", code, out)
	}

	discStart := time.Now()
	p, err := c.Connect(ctx, addr)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Logf("Improv connect: %.2fs", time.Since(discStart).Seconds())
	ch := func(uuid string) *central.Characteristic {
		t.Helper()
		x, err := p.Characteristic(central.MustParseUUID(uuid))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if v, err := ch(improv.CapabilitiesUUID).Read(ctx); err != nil || !bytes.Equal(v, []byte{byte(caps)}) {
		t.Errorf("Capabilities = % x, %v", v, err)
	}
	states, stopStates, err := ch(improv.StateUUID).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopStates()
	errs, stopErrs, err := ch(improv.ErrorUUID).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopErrs()
	results, stopResults, err := ch(improv.RPCResultUUID).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopResults()
	rpc := ch(improv.RPCCommandUUID)
	// Online and nobody authorized a setup on the device: Provisioned, so
	// that Home Assistant does not nag.
	if v, err := ch(improv.StateUUID).Read(ctx); err != nil || !bytes.Equal(v, []byte{byte(improv.StateProvisioned)}) {
		t.Errorf("Current State while online = % x, %v; want provisioned", v, err)
	}

	// Device info.
	if err := rpc.Write(ctx, improvPacket(t, improv.CommandDeviceInfo)); err != nil {
		t.Fatal(err)
	}
	r := next(t, results, 10*time.Second, "device info", func(b []byte) bool { return len(b) > 0 && b[0] == byte(improv.CommandDeviceInfo) })
	_, ss, err := improv.ParseResult(r)
	info, perr := improv.ParseDeviceInfo(ss)
	if err != nil || perr != nil || info.FirmwareName != "bluenet" || info.DeviceName != "Improv Test" || info.Hardware == "" {
		t.Errorf("device info %+v (%v, %v)", info, err, perr)
	}
	t.Logf("device info: %+v", info)

	// Scan.
	scanStart := time.Now()
	if err := rpc.Write(ctx, improvPacket(t, improv.CommandScan)); err != nil {
		t.Fatal(err)
	}
	r = next(t, results, 30*time.Second, "scan result", func(b []byte) bool { return len(b) > 0 && b[0] == byte(improv.CommandScan) })
	_, ss, _ = improv.ParseResult(r)
	nets, err := improv.ParseScanResult(ss)
	if err != nil {
		t.Fatalf("scan result %q: %v", ss, err)
	}
	found := map[string]improv.Network{}
	for _, n := range nets {
		found[n.SSID] = n
	}
	for _, s := range []string{"HomeNet", "CafeNet"} {
		if n, ok := found[s]; !ok || n.Auth != improv.AuthWPA2 || n.RSSI >= 0 || n.RSSI < -100 {
			t.Errorf("scan: %s = %+v (ok %v); want WPA2 with an RSSI in dBm", s, n, ok)
		}
	}
	t.Logf("scan: %d networks in %.2fs: %+v", len(nets), time.Since(scanStart).Seconds(), nets)

	// A wrong password: error 0x03, the device stays on HomeNet.
	failStart := time.Now()
	if err := rpc.Write(ctx, improvPacket(t, improv.CommandWiFiSettings, "CafeNet", wrongPSK)); err != nil {
		t.Fatal(err)
	}
	next(t, states, 10*time.Second, "provisioning", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.StateProvisioning)}) })
	next(t, errs, 90*time.Second, "error unable to connect", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.ErrorUnableToConnect)}) })
	next(t, states, 10*time.Second, "authorized again", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.StateAuthorized)}) })
	t.Logf("wrong password reported after %.2fs", time.Since(failStart).Seconds())
	if !waitFor(60*time.Second, func() bool { s, ok := d.status(); return ok && s.State == "connected" && s.SSID == "HomeNet" }) {
		s, _ := d.status()
		t.Fatalf("after the wrong password the device is %+v, want connected to HomeNet", s)
	}

	// The right one: Provisioned, and the redirect URL with the new address.
	joinStart := time.Now()
	if err := rpc.Write(ctx, improvPacket(t, improv.CommandWiFiSettings, "CafeNet", cafePSK)); err != nil {
		t.Fatal(err)
	}
	next(t, errs, 10*time.Second, "error cleared", func(b []byte) bool { return bytes.Equal(b, []byte{0}) })
	next(t, states, 90*time.Second, "provisioned", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.StateProvisioned)}) })
	t.Logf("Wi-Fi settings -> provisioned: %.2fs", time.Since(joinStart).Seconds())
	r = next(t, results, 10*time.Second, "redirect URL", func(b []byte) bool { return len(b) > 0 && b[0] == byte(improv.CommandWiFiSettings) })
	_, ss, _ = improv.ParseResult(r)
	var st daemon.Status
	waitFor(30*time.Second, func() bool { var ok bool; st, ok = d.status(); return ok && st.SSID == "CafeNet" && st.IPv4 != "" })
	if want := fmt.Sprintf("http://%s/welcome", st.IPv4); len(ss) != 1 || ss[0] != want || st.SSID != "CafeNet" {
		t.Errorf("redirect %q, status %+v; want [%s] on CafeNet", ss, st, want)
	}
	waitFor(10*time.Second, func() bool {
		_, sd := improvServiceDataOf(t, ctx, addr)
		return bytes.Equal(sd, improv.EncodeServiceData(improv.StateProvisioned, caps))
	})
	if _, sd := improvServiceDataOf(t, ctx, addr); !bytes.Equal(sd, improv.EncodeServiceData(improv.StateProvisioned, caps)) {
		t.Logf("service data after provisioning % x (a connected central may not see advertisements)", sd)
	}
	_ = p.Disconnect(ctx)

	// The web page's way: small MTU, writes without response, and pieces.
	t.Run("MTU23", func(t *testing.T) {
		rpcU, resU, errU, stateU := gatt.MustParseUUID(improv.RPCCommandUUID), gatt.MustParseUUID(improv.RPCResultUUID),
			gatt.MustParseUUID(improv.ErrorUUID), gatt.MustParseUUID(improv.StateUUID)
		kc, hs := dialKernel(t, ctx, rpcU[:], resU[:], errU[:], stateU[:])
		rpcH, resH, errH, stateH := hs[0].ValueHandle, hs[1].ValueHandle, hs[2].ValueHandle, hs[3].ValueHandle
		if kc.MTU() != 23 {
			t.Fatalf("MTU %d, want 23", kc.MTU())
		}
		readUntil := func(h uint16, what string, ok func([]byte) bool) []byte {
			t.Helper()
			var v []byte
			if !waitFor(60*time.Second, func() bool {
				var err error
				v, err = kc.Read(ctx, h)
				return err == nil && ok(v)
			}) {
				t.Fatalf("%s: last read % x", what, v)
			}
			return v
		}
		// Device info as three one-byte Write Commands.
		pkt := improvPacket(t, improv.CommandDeviceInfo)
		for _, b := range pkt {
			if err := kc.WriteCommand(rpcH, []byte{b}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		readUntil(resH, "device info after three write commands", func(b []byte) bool {
			return len(b) > 0 && b[0] == byte(improv.CommandDeviceInfo)
		})
		// A bad checksum: error 0x01, nothing else happens.
		bad := improvPacket(t, improv.CommandScan)
		bad[len(bad)-1]++
		if err := kc.WriteCommand(rpcH, bad); err != nil {
			t.Fatal(err)
		}
		readUntil(errH, "invalid RPC", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.ErrorInvalidRPC)}) })
		// Wi-Fi settings (back to HomeNet) in 20-byte Write Commands, as the
		// web page's stack cuts a long value at MTU 23.
		pkt = improvPacket(t, improv.CommandWiFiSettings, "HomeNet", homePSK)
		for off := 0; off < len(pkt); off += 20 {
			if err := kc.WriteCommand(rpcH, pkt[off:min(off+20, len(pkt))]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		readUntil(stateH, "provisioned on HomeNet", func(b []byte) bool {
			s, ok := d.status()
			return bytes.Equal(b, []byte{byte(improv.StateProvisioned)}) && ok && s.SSID == "HomeNet"
		})
		// A long (prepared) write with response: a wrong password.
		pkt = improvPacket(t, improv.CommandWiFiSettings, "CafeNet", wrongPSK)
		if err := kc.WriteLong(ctx, rpcH, pkt); err != nil {
			t.Fatal(err)
		}
		readUntil(errH, "unable to connect", func(b []byte) bool { return bytes.Equal(b, []byte{byte(improv.ErrorUnableToConnect)}) })
		if !waitFor(60*time.Second, func() bool { s, ok := d.status(); return ok && s.SSID == "HomeNet" && s.State == "connected" }) {
			s, _ := d.status()
			t.Errorf("after a wrong password over a long write the device is %+v, want back on HomeNet", s)
		}
	})

	// A Bluenet central on the same running daemon.
	t.Run("Bluenet", func(t *testing.T) {
		vmtest.ForgetDevices(t)
		ph, _ := connectPhone(t, ctx)
		waitFor(30*time.Second, func() bool {
			v, err := ph.char(t, bluenet.StateUUID).Read(ctx)
			return err == nil && bytes.Equal(v, []byte("\x03HomeNet"))
		})
		if v, err := ph.char(t, bluenet.StateUUID).Read(ctx); err != nil || !bytes.Equal(v, []byte("\x03HomeNet")) {
			t.Errorf("Bluenet Connection State = %q, %v", v, err)
		}
		if v, err := ph.char(t, bluenet.ResultUUID).Read(ctx); err != nil || len(v) == 0 || v[0] != byte(bluenet.ResultWrongPassword) {
			t.Errorf("Bluenet Result after Improv's wrong password = %q, %v", v, err)
		}
	})

	d.stop(t)
	logText, _ := os.ReadFile(d.log)
	for _, secret := range []string{homePSK, cafePSK, wrongPSK} {
		if bytes.Contains(logText, []byte(secret)) {
			t.Errorf("the daemon's -vv log contains a password")
		}
	}
}

// improvServiceDataOf reads the Improv service data BlueZ last saw from addr.
func improvServiceDataOf(t testing.TB, ctx context.Context, addr string) (bool, []byte) {
	bus := vmtest.SystemBus(t)
	path := dbus.ObjectPath("/org/bluez/" + vmtest.CentralAdapter + "/dev_" + strings.ReplaceAll(addr, ":", "_"))
	var v dbus.Variant
	if err := bus.Object("org.bluez", path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
		"org.bluez.Device1", "ServiceData").Store(&v); err != nil {
		return false, nil
	}
	m, _ := v.Value().(map[string]dbus.Variant)
	b, ok := m[improv.ServiceDataUUID].Value().([]byte)
	return ok, b
}

// TestImprovOnlyDevice: the client commands against a device that speaks
// Improv only (the daemon with --profiles improv, as an ESPHome device
// would): scan shows it as Improv with its state, networks shows the device
// info and the scan, identify runs the device's command, and provision
// joins it and prints the redirect URL.
func TestImprovOnlyDevice(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1")
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan1", SSID: "ImpNet", PSK: homePSK})
	vmtest.Sh(t, "nm_wait_ssid ImpNet 90")
	mark := t.TempDir() + "/identified"
	d := startDaemon(t, "-a", "Improv Only", "--profiles", "improv", "--improv-url", "http://%IP/",
		"--identify-command", "touch "+mark)
	c := vmtest.CentralAdapter

	var devs []struct {
		Address            string
		Bluenet, Improv    bool
		ImprovState        int `json:"improv_state"`
		ImprovCapabilities int `json:"improv_capabilities"`
	}
	// btvirt reports an advertiser only when advertising or scanning is
	// switched on; an 8 s scan has been seen to get no report of the
	// device, once: scan up to three times, as TestImprovClient does.
	for try := 0; try < 3 && len(devs) == 0; try++ {
		out, _, code := runBluenet(t, "", "-b", c, "scan", "--timeout", "8s", "--json")
		if err := json.Unmarshal([]byte(out), &devs); code != 0 || err != nil {
			t.Fatalf("scan: exit %d, %v", code, err)
		}
	}
	if len(devs) != 1 || devs[0].Bluenet || !devs[0].Improv || devs[0].ImprovState != int(improv.StateAuthorized) {
		t.Errorf("scan: %+v, want one Improv-only device in state authorized", devs)
	}

	// The same scanning as below: up to three tries to find the device.
	var out string
	var code int
	for try := 0; try < 3; try++ {
		if out, _, code = runBluenet(t, "", "-b", c, "networks", vmtest.PeripheralAddress, "--json"); code != exitUnreachable {
			break
		}
	}
	var nets struct {
		Protocol   string
		DeviceInfo struct{ Firmware, Name string } `json:"device_info"`
		Scan       []struct {
			SSID, Auth string
			RSSI       int
		}
	}
	if err := json.Unmarshal([]byte(out), &nets); code != 0 || err != nil {
		t.Fatalf("networks: exit %d, %v", code, err)
	}
	if nets.Protocol != "improv" || nets.DeviceInfo.Firmware != "bluenet" || nets.DeviceInfo.Name != "Improv Only" {
		t.Errorf("networks: %+v", nets)
	}
	if !slices.ContainsFunc(nets.Scan, func(n struct {
		SSID, Auth string
		RSSI       int
	}) bool {
		return n.SSID == "ImpNet" && n.Auth == "WPA2" && n.RSSI < 0
	}) {
		t.Errorf("networks scan %+v lacks ImpNet WPA2 with an RSSI", nets.Scan)
	}

	// btvirt reports an advertiser to a scanner only when scanning starts;
	// right after networks' disconnect a scan may miss it (seen twice in a
	// row once, on a loaded host).
	for try := 0; try < 3; try++ {
		if _, _, code = runBluenet(t, "", "-b", c, "identify", vmtest.PeripheralAddress); code != exitUnreachable {
			break
		}
	}
	if code != 0 {
		t.Errorf("identify: exit %d", code)
	}
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(mark); return err == nil }) {
		t.Errorf("identify did not run the device's command")
	}

	// The same for provision: retried only while it has not found the
	// device (nothing sent yet).
	start := time.Now()
	for try := 0; try < 3; try++ {
		var stderr string
		out, stderr, code = runBluenet(t, homePSK+"\n", "-b", c, "provision", vmtest.PeripheralAddress, "--ssid", "ImpNet", "--password-file", "-")
		if code != exitUnreachable || !strings.Contains(stderr, "not found within") {
			break
		}
	}
	if code != 0 {
		t.Fatalf("provision over Improv: exit %d", code)
	}
	t.Logf("bluenet provision over Improv: %.2fs", time.Since(start).Seconds())
	var st daemon.Status
	waitFor(30*time.Second, func() bool { var ok bool; st, ok = d.status(); return ok && st.IPv4 != "" })
	if want := "redirect URL: http://" + st.IPv4 + "/"; st.IPv4 == "" || !strings.Contains(out, want) {
		t.Errorf("provision output %q, want %q", out, want)
	}
}
