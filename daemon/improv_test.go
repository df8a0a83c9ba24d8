package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

// fakeHosts is a Hostnamer in memory.
type fakeHosts struct {
	mu   sync.Mutex
	name string
}

func (h *fakeHosts) Hostname(context.Context) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.name, nil
}

func (h *fakeHosts) SetHostname(_ context.Context, n string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.name = n
	return nil
}

func newImprovFixture(t *testing.T, mod func(*Config)) (*fixture, *fakeHosts) {
	hosts := &fakeHosts{name: "pi"}
	f := newFixture(t, func(c *Config) {
		c.Protocols = DefaultProtocols
		c.Improv = ImprovConfig{URL: "http://%IP/setup", Hostnames: hosts, FirmwareVersion: "1.2.3", Hardware: "Test Board"}
		if mod != nil {
			mod(c)
		}
	})
	for _, u := range []string{improv.StateUUID, improv.ErrorUUID, improv.RPCResultUUID} {
		f.subscribe(u)
	}
	return f, hosts
}

func packet(t *testing.T, cmd improv.Command, ss ...string) []byte {
	t.Helper()
	b, err := improv.EncodeCommand(cmd, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func result(t *testing.T, cmd improv.Command, ss ...string) []byte {
	t.Helper()
	b, err := improv.EncodeResult(cmd, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// improvAdv returns the service data of the Improv advertisement.
func improvAdv(t *testing.T, f *fixture) []byte {
	t.Helper()
	for _, a := range f.bz.Advertisements() {
		uuids, _ := a.Props["ServiceUUIDs"].Value().([]string)
		if len(uuids) == 1 && uuids[0] == improv.ServiceUUID {
			sd, _ := a.Props["ServiceData"].Value().(map[string]dbus.Variant)
			b, _ := sd[improv.ServiceDataUUID].Value().([]byte)
			return b
		}
	}
	return nil // none (or being replaced)
}

func waitAdv(t *testing.T, f *fixture, want []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(improvAdv(t, f), want) {
		if time.Now().After(deadline) {
			t.Fatalf("Improv service data % x, want % x", improvAdv(t, f), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestImprovTree(t *testing.T) {
	f, _ := newImprovFixture(t, nil)
	if len(f.app.Services) != 2 {
		t.Fatalf("%d services, want Bluenet and Improv", len(f.app.Services))
	}
	for uuid, flags := range map[string]string{
		improv.StateUUID:        "notify read",
		improv.ErrorUUID:        "notify read",
		improv.RPCCommandUUID:   "write write-without-response",
		improv.RPCResultUUID:    "notify read",
		improv.CapabilitiesUUID: "read",
	} {
		c := f.app.Char(uuid)
		if c == nil || strings.Join(slices.Sorted(slices.Values(c.Flags)), " ") != flags {
			t.Errorf("%s: %+v, want flags %q", uuid, c, flags)
		}
	}
	dev := f.bz.Connect("00:11:22:33:44:55")
	caps := improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname
	if v := f.read(dev, improv.CapabilitiesUUID); !bytes.Equal(v, []byte{byte(caps)}) {
		t.Errorf("Capabilities % x", v)
	}
	if v := f.read(dev, improv.StateUUID); !bytes.Equal(v, []byte{byte(improv.StateAuthorized)}) {
		t.Errorf("Current State % x, want Authorized (not online)", v)
	}
	if len(f.bz.Advertisements()) != 2 {
		t.Fatalf("%d advertisements, want one per protocol", len(f.bz.Advertisements()))
	}
	waitAdv(t, f, improv.EncodeServiceData(improv.StateAuthorized, caps))
	// An online device says Provisioned, so that Home Assistant does not
	// offer to set it up.
	f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
	f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
	waitAdv(t, f, improv.EncodeServiceData(improv.StateProvisioned, caps))
}

func TestImprovProvision(t *testing.T) {
	tests := []struct {
		name  string
		write func(f *fixture, dev dbus.ObjectPath, pkt []byte) error
	}{
		{"one write with response (Home Assistant)", func(f *fixture, dev dbus.ObjectPath, pkt []byte) error {
			return f.write(dev, improv.RPCCommandUUID, pkt, 517, 0)
		}},
		{"20-byte writes without response (web page, MTU 23)", func(f *fixture, dev dbus.ObjectPath, pkt []byte) error {
			for len(pkt) > 0 {
				n := min(20, len(pkt))
				o := gatttest.Options(dev, 23, 0)
				o["type"] = dbus.MakeVariant("command")
				if err := f.bz.WriteCommand(f.ctx, f.app, f.path(improv.RPCCommandUUID), pkt[:n], o); err != nil {
					return err
				}
				pkt = pkt[n:]
				time.Sleep(5 * time.Millisecond) // bluetoothd delivers them one after another
			}
			return nil
		}},
		{"long write (prepared, MTU 23)", func(f *fixture, dev dbus.ObjectPath, pkt []byte) error {
			for off := 0; off < len(pkt); off += 18 {
				end := min(off+18, len(pkt))
				if err := f.write(dev, improv.RPCCommandUUID, pkt[off:end], 23, uint16(off)); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newImprovFixture(t, nil)
			dev := f.bz.Connect("00:11:22:33:44:55")
			// A wrong password: error 0x03, back to Authorized.
			f.wifi.SetJoinFunc(func(context.Context, []byte, string) error {
				return &wifi.JoinError{Reason: wifi.ReasonWrongPassword}
			})
			if err := tt.write(f, dev, packet(t, improv.CommandWiFiSettings, "a-rather-long-network-name", "wrong-password-123")); err != nil {
				t.Fatal(err)
			}
			f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioning)})
			f.expect(improv.ErrorUUID, []byte{byte(improv.ErrorUnableToConnect)})
			f.expect(improv.StateUUID, []byte{byte(improv.StateAuthorized)})
			// The right one: the error clears, Provisioned, then the URL.
			f.wifi.SetJoinFunc(nil)
			if err := tt.write(f, dev, packet(t, improv.CommandWiFiSettings, "a-rather-long-network-name", "correct horse battery")); err != nil {
				t.Fatal(err)
			}
			f.expect(improv.ErrorUUID, []byte{byte(improv.ErrorNone)})
			f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioning)})
			f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
			f.expect(improv.RPCResultUUID, result(t, improv.CommandWiFiSettings, "http://192.0.2.10/setup"))
			j := f.waitJoins(2)
			if string(j[1].SSID) != "a-rather-long-network-name" || j[1].Secret != "correct horse battery" {
				t.Errorf("join %q", j[1])
			}
			// Bluenet's Result follows joins asked for over Improv too.
			if v := f.read(dev, bluenet.ResultUUID); v[0] != byte(bluenet.ResultOK) {
				t.Errorf("Bluenet Result %q", v)
			}
			f.noSecret("correct horse battery")
			f.noSecret("wrong-password-123")
		})
	}
}

func TestImprovNoURL(t *testing.T) {
	f, _ := newImprovFixture(t, func(c *Config) { c.Improv.URL = "" })
	dev := f.bz.Connect("00:11:22:33:44:55")
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandWiFiSettings, "home", "password1"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
	f.expect(improv.RPCResultUUID, result(t, improv.CommandWiFiSettings)) // always a result
}

func TestImprovErrors(t *testing.T) {
	f, _ := newImprovFixture(t, nil)
	dev := f.bz.Connect("00:11:22:33:44:55")
	good := packet(t, improv.CommandDeviceInfo)
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1]++
	tests := []struct {
		name string
		pkt  []byte
		want improv.ErrorCode
	}{
		{"bad checksum", badSum, improv.ErrorInvalidRPC},
		{"more bytes than the length says", []byte{0x03, 0x00, 0x03, 0x00}, improv.ErrorInvalidRPC},
		{"unknown command", []byte{0x7f, 0x00, 0x7f}, improv.ErrorUnknownRPC},
		{"Wi-Fi settings with one string", packet(t, improv.CommandWiFiSettings, "home"), improv.ErrorInvalidRPC},
		{"SSID too long", packet(t, improv.CommandWiFiSettings, strings.Repeat("s", 33), "password1"), improv.ErrorUnableToConnect},
		{"bad host name", packet(t, improv.CommandHostname, "-bad-"), improv.ErrorBadHostname},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.write(dev, improv.RPCCommandUUID, tt.pkt, 517, 0); err != nil {
				t.Fatalf("the write itself failed: %v", err)
			}
			f.expect(improv.ErrorUUID, []byte{byte(tt.want)})
			// A good RPC clears the error.
			if err := f.write(dev, improv.RPCCommandUUID, good, 517, 0); err != nil {
				t.Fatal(err)
			}
			f.expect(improv.ErrorUUID, []byte{byte(improv.ErrorNone)})
		})
	}
	if len(f.wifi.Joins()) != 0 {
		t.Errorf("joins after bad input: %q", f.wifi.Joins())
	}
}

func TestImprovSeparateCentrals(t *testing.T) {
	f, _ := newImprovFixture(t, nil)
	a, b := f.bz.Connect("00:11:22:33:44:01"), f.bz.Connect("00:11:22:33:44:02")
	pa := packet(t, improv.CommandWiFiSettings, "network-a", "password-a")
	pb := packet(t, improv.CommandDeviceInfo)
	// Central a writes half a packet; b's whole packet is not mixed into it.
	if err := f.write(a, improv.RPCCommandUUID, pa[:5], 517, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.write(b, improv.RPCCommandUUID, pb, 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, improv.EncodeDeviceInfo(improv.DeviceInfo{
		FirmwareName: "bluenet", FirmwareVersion: "1.2.3", Hardware: "Test Board", DeviceName: "Test Device"}))
	if err := f.write(a, improv.RPCCommandUUID, pa[5:], 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
	if j := f.waitJoins(1); string(j[0].SSID) != "network-a" {
		t.Errorf("join %q", j)
	}
}

func TestImprovCommands(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "identified")
	aliasFile := filepath.Join(dir, "alias")
	f, hosts := newImprovFixture(t, func(c *Config) {
		c.Improv.IdentifyCommand = "echo x >> " + mark
		c.AliasFile = aliasFile
	})
	dev := f.bz.Connect("00:11:22:33:44:55")
	caps := improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname
	if v := f.read(dev, improv.CapabilitiesUUID); !bytes.Equal(v, []byte{byte(caps)}) {
		t.Errorf("Capabilities % x with an identify command", v)
	}
	// Identify runs the command once per few seconds.
	for range 3 {
		if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandIdentify), 517, 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(mark)
		if len(b) > 0 {
			time.Sleep(200 * time.Millisecond)
			if b, _ := os.ReadFile(mark); string(b) != "x\n" {
				t.Errorf("identify ran %q, want once", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("identify command not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Scan: strongest first, one per SSID, hidden left out.
	f.wifi.SetAccessPoints([]wifi.AccessPoint{
		{SSID: []byte("weak"), Strength: 20, Security: wifi.SecurityPSK, Auth: wifi.AuthWPA2},
		{SSID: []byte("strong"), Strength: 90, Security: wifi.SecuritySAE, Auth: wifi.AuthWPA3},
		{SSID: nil, Strength: 99},
		{SSID: []byte("open"), Strength: 50, Security: wifi.SecurityOpen, Auth: wifi.AuthOpen, RSSI: -71},
		{SSID: []byte("strong"), Strength: 40, Security: wifi.SecuritySAE, Auth: wifi.AuthWPA3},
	})
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandScan), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, result(t, improv.CommandScan, "strong", "-46", "WPA3", "open", "-71", "NO", "weak", "-88", "WPA2"))
	// Host name get and set.
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandHostname), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, result(t, improv.CommandHostname, "pi"))
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandHostname, "kitchen-pi"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, result(t, improv.CommandHostname, "kitchen-pi"))
	if n, _ := hosts.Hostname(f.ctx); n != "kitchen-pi" {
		t.Errorf("host name %q", n)
	}
	// Device name: the adapter's alias, kept in AliasFile.
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandDeviceName, "Kitchen Pi"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, result(t, improv.CommandDeviceName, "Kitchen Pi"))
	if alias, _ := f.bz.AdapterProperty("Alias").Value().(string); alias != "Kitchen Pi" {
		t.Errorf("adapter alias %q", alias)
	}
	if b, _ := os.ReadFile(aliasFile); strings.TrimSpace(string(b)) != "Kitchen Pi" {
		t.Errorf("alias file %q", b)
	}
	if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandDeviceName), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(improv.RPCResultUUID, result(t, improv.CommandDeviceName, "Kitchen Pi"))
}

// TestImprovAdvertisementSettles: Improv's state is notified at once, and
// the advertisement follows it advSettle later, once for a burst of
// changes (each re-registration keeps bluetoothd busy while the phone
// waits for the notification).
func TestImprovAdvertisementSettles(t *testing.T) {
	f, _ := newImprovFixture(t, nil)
	caps := improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname
	waitAdv(t, f, improv.EncodeServiceData(improv.StateAuthorized, caps))
	before, _ := f.bz.AdvertisementUpdates()
	for _, k := range []wifi.Kind{wifi.Connected, wifi.Disconnected, wifi.Connected} {
		f.wifi.SetState(wifi.State{Kind: k, SSID: []byte("home")})
		want := improv.StateProvisioned
		if k != wifi.Connected {
			want = improv.StateAuthorized
		}
		f.expect(improv.StateUUID, []byte{byte(want)})
	}
	waitAdv(t, f, improv.EncodeServiceData(improv.StateProvisioned, caps))
	time.Sleep(2 * advSettle)
	if after, _ := f.bz.AdvertisementUpdates(); after-before > 2 {
		t.Errorf("%d registrations for three changes notified one after the other, want at most two (one per %v)\n%s", after-before, advSettle, f.logs.String())
	}
}
