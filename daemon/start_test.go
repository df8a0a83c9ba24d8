package daemon

import (
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/bluezfake"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/wifitest"
)

// lateBackend is a backend that learns the Wi-Fi state after the daemon
// started (nm.Start): Ready is closed then.
type lateBackend struct {
	*wifitest.Backend
	ready chan struct{}
}

func (b *lateBackend) Ready() <-chan struct{} { return b.ready }

// The daemon publishes and advertises before the backend knows the Wi-Fi
// state; a Connection State read waits for it; the setup window learns
// whether the device is online only then (closed until, in auto mode long
// after boot).
func TestStartBeforeWiFiState(t *testing.T) {
	inner := wifitest.New()
	inner.SetState(wifi.State{Kind: wifi.Down})
	late := &lateBackend{Backend: inner, ready: make(chan struct{})}
	longAgo := func() (time.Duration, error) { return 24 * time.Hour, nil }
	w := setup.New(setup.Config{Mode: setup.Auto, Uptime: longAgo})
	t.Cleanup(w.Close)
	// newFixture returns once the daemon advertises: before Ready.
	f := newFixture(t, func(c *Config) { c.WiFi = late; c.Setup = w })
	if len(f.bz.Advertisements()) != 1 {
		t.Fatalf("%d advertisements before the Wi-Fi state is known, want 1", len(f.bz.Advertisements()))
	}
	dev := f.bz.Connect("00:11:22:33:44:55")
	if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); bluezfake.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
		t.Errorf("SSID write before the Wi-Fi state is known (auto, booted long ago): %v, want NotAuthorized", err)
	}
	got := make(chan []byte, 1)
	go func() { got <- f.read(dev, bluenet.StateUUID) }()
	select {
	case v := <-got:
		t.Fatalf("Connection State read answered %q before the state was known", v)
	case <-time.After(200 * time.Millisecond):
	}
	inner.SetState(wifi.State{Kind: wifi.Disconnected})
	close(late.ready)
	select {
	case v := <-got:
		if string(v) != "\x01" {
			t.Errorf("Connection State = %q, want Disconnected", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Connection State read not answered after the state was known")
	}
	// Offline and never online since start: the window opens.
	deadline := time.Now().Add(10 * time.Second)
	for !w.Open() {
		if time.Now().After(deadline) {
			t.Fatalf("window %+v, want open (offline)", w.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); err != nil {
		t.Errorf("SSID write once offline is known: %v", err)
	}
}

// A phone that writes its network right after subscribing to Available
// Networks gets no scan requested (NetworkManager would defer the join
// until the scan ends); one that lingers on the list gets one after
// ScanDelay.
func TestNetworksScanOnlyWhenLingering(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ScanDelay = 200 * time.Millisecond })
	f.wifi.SetAccessPoints([]wifi.AccessPoint{{SSID: []byte("home"), Strength: 80}})
	time.Sleep(100 * time.Millisecond)
	dev := f.bz.Connect("00:11:22:33:44:55")
	f.subscribe(bluenet.NetworksUUID)
	if err := f.write(dev, bluenet.SSIDUUID, []byte("home"), 517, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if n := f.wifi.Scans(); n != 0 {
		t.Errorf("%d scans requested although the phone wrote its SSID at once, want 0", n)
	}
	if err := f.bz.StopNotify(f.ctx, f.app, f.path(bluenet.NetworksUUID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	f.subscribe(bluenet.NetworksUUID)
	deadline := time.Now().Add(5 * time.Second)
	for f.wifi.Scans() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.wifi.Scans() != 1 {
		t.Errorf("%d scans requested for a phone that stays on the list, want 1", f.wifi.Scans())
	}
}
