package gatttest

import (
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/dbustest"
)

// Bus is a private dbus-daemon (a session-type bus that lets every peer own
// any name and call anything), for the fake bluetoothd and the code under
// test to meet on.
type Bus struct {
	// Address is the bus address to pass to dbus.Connect and Start.
	Address string

	d *dbustest.Bus
}

// NewBus starts a private dbus-daemon and stops it when the test ends. It
// skips the test when no dbus-daemon binary is installed (Debian package
// dbus).
func NewBus(t testing.TB) *Bus {
	t.Helper()
	d := dbustest.New(t)
	return &Bus{Address: d.Address, d: d}
}

// StartBus starts a private dbus-daemon outside a test (an example, a
// TestMain); Close stops it. It fails when no dbus-daemon binary is
// installed.
func StartBus() (*Bus, error) {
	d, err := dbustest.Start()
	if err != nil {
		return nil, err
	}
	return &Bus{Address: d.Address, d: d}, nil
}

// Close stops the dbus-daemon; every connection to it ends. A bus from
// NewBus is closed by the test's clean-up.
func (b *Bus) Close() { b.d.Close() }

// Conn opens a new private connection to the bus and closes it when the
// test ends.
func (b *Bus) Conn(t testing.TB) *dbus.Conn {
	t.Helper()
	return b.d.Conn(t)
}
