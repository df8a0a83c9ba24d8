//go:build vm

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// TestBedWiFiJoin proves the Wi-Fi half of the bed: NetworkManager joins a
// hostapd WPA2 network through AddAndActivateConnection and the client
// interface gets an IPv4 address by DHCP.
func TestBedWiFiJoin(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "NetworkManager", "wpa_supplicant", "hostapd-wlan1")
	ap := vmtest.AP{Iface: "wlan1", SSID: "BedNet", PSK: "bed-pass-123"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid BedNet 90")

	conn := vmtest.SystemBus(t)
	nm := conn.Object("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager")
	var dev dbus.ObjectPath
	if err := nm.Call("org.freedesktop.NetworkManager.GetDeviceByIpIface", 0, "wlan0").Store(&dev); err != nil {
		t.Fatalf("GetDeviceByIpIface: %v", err)
	}
	settings := map[string]map[string]dbus.Variant{
		"connection":               {"id": dbus.MakeVariant("bed"), "type": dbus.MakeVariant("802-11-wireless")},
		"802-11-wireless":          {"ssid": dbus.MakeVariant([]byte(ap.SSID)), "mode": dbus.MakeVariant("infrastructure")},
		"802-11-wireless-security": {"key-mgmt": dbus.MakeVariant("wpa-psk"), "psk": dbus.MakeVariant(ap.PSK)},
		"ipv4":                     {"method": dbus.MakeVariant("auto")},
	}
	start := time.Now()
	var profile, active dbus.ObjectPath
	if err := nm.Call("org.freedesktop.NetworkManager.AddAndActivateConnection", 0,
		settings, dev, dbus.ObjectPath("/")).Store(&profile, &active); err != nil {
		t.Fatalf("AddAndActivateConnection: %v", err)
	}
	t.Cleanup(func() {
		conn.Object("org.freedesktop.NetworkManager", profile).Call("org.freedesktop.NetworkManager.Settings.Connection.Delete", 0)
	})
	devObj := conn.Object("org.freedesktop.NetworkManager", dev)
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := devObj.GetProperty("org.freedesktop.NetworkManager.Device.State")
		if err != nil {
			t.Fatalf("device state: %v", err)
		}
		if st := v.Value().(uint32); st == 100 {
			break
		} else if st == 120 {
			t.Fatalf("device FAILED")
		}
		if time.Now().After(deadline) {
			t.Fatalf("device not ACTIVATED after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("NetworkManager joined %s in %.2fs", ap.SSID, time.Since(start).Seconds())
	addr := vmtest.Sh(t, "ip -4 -br addr show wlan0 | awk '{print $3}'")
	if len(addr) < len("192.168.71.1") || addr[:len("192.168.71.")] != "192.168.71." {
		t.Fatalf("wlan0 has no DHCP address from the AP: %q", addr)
	}
	vmtest.Sh(t, "busybox ping -c1 -W3 "+ap.Gateway())
	t.Logf("wlan0 address %s; AP %s answers ping", addr[:len(addr)-1], ap.Gateway())
}

// TestBedBLE proves the Bluetooth half: BlueZ's own example GATT server and
// advertisement run on hci0, and a central on hci1 discovers the peripheral,
// connects and reads the Battery Level characteristic.
func TestBedBLE(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd", "example-gatt-server", "example-advertisement")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	vmtest.ForgetDevices(t)
	for _, ex := range []string{"example-gatt-server", "example-advertisement"} {
		logf, err := os.Create(filepath.Join(vmtest.LogDir(), ex+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("python3", "-u", filepath.Join(os.Getenv("BLUENET_VM_TOOLS"), "bt-example.py"), vmtest.PeripheralAdapter, ex)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", ex, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	}
	vmtest.Sh(t, `wait_for 60 "GATT application registered" grep -q 'GATT application registered' $L/example-gatt-server.log &&
		wait_for 60 "advertisement registered" grep -q 'Advertisement registered' $L/example-advertisement.log`)

	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{central.UUID16(0x180f)}})
	if err != nil {
		t.Fatalf("discover battery service: %v", err)
	}
	if adv.Address != vmtest.PeripheralAddress {
		t.Fatalf("found %s, want %s", adv.Address, vmtest.PeripheralAddress)
	}
	t.Logf("discovered %s %q in %.2fs", adv.Address, adv.Name, time.Since(start).Seconds())
	p, err := c.Connect(ctx, adv.Address)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer p.Disconnect(context.Background())
	ch, err := p.Characteristic(central.UUID16(0x2a19))
	if err != nil {
		t.Fatal(err)
	}
	v, err := ch.Read(ctx)
	if err != nil {
		t.Fatalf("read battery level: %v", err)
	}
	if len(v) != 1 || v[0] > 100 {
		t.Fatalf("battery level = %v, want one byte 0..100", v)
	}
	t.Logf("connected and read battery level %d%% in %.2fs", v[0], time.Since(start).Seconds())
}
