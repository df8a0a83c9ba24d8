package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/wifitest"
)

// device is the daemon running in-process on the fake bluetoothd's hci0
// and an in-memory Wi-Fi backend, and a client on the fake's hci1: the
// client's whole D-Bus path (discovery, connection, reads, writes,
// notifications) against the real daemon, without Bluetooth.
type device struct {
	wifi *wifitest.Backend
	cl   *client.Client
}

const alias = "Test Device"

func newDevice(t *testing.T) *device {
	t.Helper()
	bus := gatttest.NewBus(t)
	fake := gatttest.New(t, bus.Address)
	fake.EnableCentral()
	w := wifitest.New()
	w.SetAccessPoints([]wifi.AccessPoint{
		{SSID: []byte("cafe"), Strength: 40},
		{SSID: []byte("home"), Strength: 90},
		{SSID: []byte(""), Strength: 70}, // hidden: not sent
	})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Conn: bus.Conn(t), WiFi: w, Adapter: "hci0", Alias: alias, Hostname: "host-%IP",
			CyclePause: 500 * time.Millisecond, NotifyGap: time.Millisecond, JoinDelay: 50 * time.Millisecond,
			OnReady: func() { close(ready) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("daemon.Run did not return")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon.Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon was not ready within 10s")
	}
	cl, err := client.New(ctx, client.Config{Conn: bus.Conn(t), Adapter: "hci1",
		ScanTimeout: 10 * time.Second, CycleGap: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return &device{wifi: w, cl: cl}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (d *device) connect(t *testing.T, ctx context.Context, target string) *client.Session {
	t.Helper()
	s, err := d.cl.Connect(ctx, target)
	if err != nil {
		t.Fatalf("Connect(%q): %v", target, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestInProcessScan(t *testing.T) {
	d := newDevice(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var seen []client.Device
	if err := d.cl.Scan(ctx, func(dev client.Device) {
		mu.Lock()
		seen = append(seen, dev)
		mu.Unlock()
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(seen, func(dev client.Device) bool {
		return dev.Address == gatttest.AdapterAddress && dev.Label() == alias && dev.Seen && dev.RSSI < 0
	}) {
		t.Errorf("the scan did not see %s advertising as %q: %+v", gatttest.AdapterAddress, alias, seen)
	}
}

func TestInProcessInfoAndNetworks(t *testing.T) {
	d := newDevice(t)
	ctx := testCtx(t)
	s := d.connect(t, ctx, alias) // by name, as scan shows it
	if s.Device().Address != gatttest.AdapterAddress || !s.HasResult() {
		t.Errorf("session %+v, Result characteristic %v", s.Device(), s.HasResult())
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.State.Kind != bluenet.Disconnected || info.Version != bluenet.Version || info.Hostname != "host-" ||
		info.LastResult == nil || info.LastResult.Code != bluenet.ResultNone {
		t.Errorf("Info = %+v (last result %v)", info, info.LastResult)
	}
	nets, err := s.Networks(ctx)
	if err != nil {
		t.Fatalf("Networks: %v", err)
	}
	var got []string
	for _, ssid := range nets.SSIDs {
		got = append(got, string(ssid))
	}
	if !nets.Complete || strings.Join(got, ",") != "home,cafe" {
		t.Errorf("Networks = %q complete %v, want home,cafe (strongest first) complete", got, nets.Complete)
	}
	if d.wifi.Scans() == 0 {
		t.Error("subscribing to Available Networks asked for no scan")
	}
}

func TestInProcessProvision(t *testing.T) {
	const secret = "correct horse battery"
	tests := []struct {
		name     string
		join     func(ctx context.Context, ssid []byte, secret string) error
		wantCode bluenet.ResultCode // ResultOK: success
	}{
		{"success", nil, bluenet.ResultOK},
		{"wrong password", func(_ context.Context, ssid []byte, _ string) error {
			return &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonWrongPassword}
		}, bluenet.ResultWrongPassword},
		{"not found", func(_ context.Context, ssid []byte, _ string) error {
			return &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonNotFound}
		}, bluenet.ResultNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			d.wifi.SetJoinFunc(tt.join)
			ctx := testCtx(t)
			s := d.connect(t, ctx, gatttest.AdapterAddress)
			var progress []string
			out, err := s.Provision(ctx, []byte("home"), secret, func(line string) { progress = append(progress, line) })
			if joins := d.wifi.Joins(); len(joins) != 1 || string(joins[0].SSID) != "home" || joins[0].Secret != secret {
				t.Errorf("the backend saw joins %d, want one to home with the password", len(joins))
			}
			for _, line := range progress {
				if strings.Contains(line, secret) {
					t.Errorf("progress line %q holds the password", line)
				}
			}
			if tt.wantCode == bluenet.ResultOK {
				if err != nil {
					t.Fatalf("Provision: %v (progress %q)", err, progress)
				}
				if !out.State.Is(bluenet.Connected, []byte("home")) || out.Hostname != "host-192.0.2.10" {
					t.Errorf("Outcome %+v, hostname %q", out.State, out.Hostname)
				}
				return
			}
			var je *client.JoinError
			if !errors.As(err, &je) || !errors.Is(err, client.ErrJoinFailed) {
				t.Fatalf("Provision: %v, want a JoinError (progress %q)", err, progress)
			}
			if je.Code != tt.wantCode || string(je.SSID) != "home" || strings.Contains(err.Error(), secret) {
				t.Errorf("JoinError code %v SSID %q text %q, want code %v", je.Code, je.SSID, err, tt.wantCode)
			}
		})
	}
}
