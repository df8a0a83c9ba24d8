package daemon

import (
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

// An online device in auto mode (booted long ago) refuses provisioning
// from both protocols and changes nothing; reads stay open; authorizing on
// the device opens the window and provisioning works; it closes again by
// itself.
func TestSetupWindow(t *testing.T) {
	longAgo := func() (time.Duration, error) { return 24 * time.Hour, nil }
	w := setup.New(setup.Config{Mode: setup.Auto, Uptime: longAgo, AuthorizedFor: 2 * time.Second})
	t.Cleanup(w.Close)
	f, _ := newImprovFixture(t, func(c *Config) { c.Setup = w })
	f.subscribe(bluenet.ResultUUID)
	f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
	f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
	dev := f.bz.Connect("00:11:22:33:44:55")

	// Bluenet: Insufficient Authorization, Result "not authorized".
	if err := f.write(dev, bluenet.SSIDUUID, []byte("evil"), 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
		t.Errorf("SSID write with the window closed: %v, want NotAuthorized (ATT 0x08)", err)
	}
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultNotAuthorized))
	if err := f.write(dev, bluenet.CredentialsUUID, []byte("password1"), 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
		t.Errorf("Credentials write with the window closed: %v", err)
	}
	// Improv: error 0x04 for Wi-Fi settings, host name and device name set;
	// device info stays allowed.
	for _, pkt := range [][]byte{
		packet(t, improv.CommandWiFiSettings, "evil", "password1"),
		packet(t, improv.CommandHostname, "evil"),
		packet(t, improv.CommandDeviceName, "evil"),
	} {
		if err := f.write(dev, improv.RPCCommandUUID, pkt, 517, 0); err != nil {
			t.Fatal(err)
		}
		f.expect(improv.ErrorUUID, []byte{byte(improv.ErrorNotAuthorized)})
		if err := f.write(dev, improv.RPCCommandUUID, packet(t, improv.CommandDeviceInfo), 517, 0); err != nil {
			t.Fatal(err)
		}
		f.expect(improv.ErrorUUID, []byte{byte(improv.ErrorNone)})
	}
	if v := f.read(dev, bluenet.StateUUID); string(v) != "\x03home" {
		t.Errorf("Connection State read with the window closed: %q", v)
	}
	if len(f.wifi.Joins()) != 0 {
		t.Fatalf("joins with the window closed: %q", f.wifi.Joins())
	}

	// Authorized on the device (bluenet allow, a button): Improv shows
	// Authorized, and provisioning works.
	w.Authorize(0)
	f.expect(improv.StateUUID, []byte{byte(improv.StateAuthorized)})
	if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); err != nil {
		t.Fatalf("SSID write while authorized: %v", err)
	}
	if err := f.write(dev, bluenet.CredentialsUUID, []byte("password1"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultOK))
	// It closes again by itself.
	f.expect(improv.StateUUID, []byte{byte(improv.StateProvisioned)})
	if err := f.write(dev, bluenet.SSIDUUID, []byte("evil"), 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
		t.Errorf("after the authorization ran out: %v, want NotAuthorized", err)
	}
}

// In button mode a device that is offline says Authorization Required
// until authorized.
func TestSetupButtonOffline(t *testing.T) {
	w := setup.New(setup.Config{Mode: setup.Button})
	t.Cleanup(w.Close)
	f, _ := newImprovFixture(t, func(c *Config) { c.Setup = w })
	dev := f.bz.Connect("00:11:22:33:44:55")
	if v := f.read(dev, improv.StateUUID); v[0] != byte(improv.StateAuthorizationRequired) {
		t.Fatalf("Current State % x, want authorization required", v)
	}
	caps := improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname
	waitAdv(t, f, improv.EncodeServiceData(improv.StateAuthorizationRequired, caps))
	w.Authorize(time.Minute)
	f.expect(improv.StateUUID, []byte{byte(improv.StateAuthorized)})
	waitAdv(t, f, improv.EncodeServiceData(improv.StateAuthorized, caps))
}
