// Package devicetest runs Bluetooth LE devices for the tests of centrals
// (package client, the bluenet command) without Bluetooth: real GATT
// applications, served with package gatt on the hci0 of the fake
// bluetoothd of package gatt/gatttest, which a central finds and talks to
// on the fake's hci1. A device is either the real daemon (package daemon on
// an in-memory Wi-Fi backend, see Daemon) or Improv, a small scripted Improv
// Wi-Fi device for the behaviours of other firmware (ESPHome's device info,
// Improv via serial's scan results, a missing RPC result).
//
// The fake shows everything registered on hci0 as one device at
// gatttest.AdapterAddress, so a test runs one device per Fake.
package devicetest

import (
	"context"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

// CentralAdapter is the adapter a central under test uses: the fake's hci1.
const CentralAdapter = "hci1"

// Fake is a private bus with the fake bluetoothd on it, its central side
// (hci1) enabled.
type Fake struct {
	// Address is the private bus's address (for DBUS_SYSTEM_BUS_ADDRESS).
	Address string
	// Bluez is the fake bluetoothd.
	Bluez *gatttest.Bluez

	bus *gatttest.Bus
}

// New starts a private bus and the fake bluetoothd with hci1; both stop at
// the end of the test.
func New(t testing.TB) *Fake {
	t.Helper()
	bus := gatttest.NewBus(t)
	b := gatttest.New(t, bus.Address)
	b.EnableCentral()
	return &Fake{Address: bus.Address, Bluez: b, bus: bus}
}

// Conn opens a new private connection to the bus, closed at the end of the
// test. It is opened with gatt.Connect, as the daemon opens its own with
// gatt.ConnectSystemBus, so that a server on it runs a central's write
// commands in the order they were sent (on a plain connection two pieces of
// an Improv command written without response can swap).
func (f *Fake) Conn(t testing.TB) *dbus.Conn {
	t.Helper()
	c, err := gatt.Connect(f.Address)
	if err != nil {
		t.Fatalf("devicetest: connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Daemon runs daemon.Run with cfg on the fake's hci0 (Conn and Adapter are
// set here) and returns once it is ready. The daemon stops at the end of
// the test, which fails if it returned an error or did not stop.
func (f *Fake) Daemon(t testing.TB, cfg daemon.Config) {
	t.Helper()
	cfg.Conn, cfg.Adapter = f.Conn(t), "hci0"
	ready := make(chan struct{})
	cfg.OnReady = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
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
}
