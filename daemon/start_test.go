package daemon

import (
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
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
	if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
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
