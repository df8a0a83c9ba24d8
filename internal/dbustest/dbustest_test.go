package dbustest_test

import (
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/dbustest"
)

func TestNewBusAnswersPing(t *testing.T) {
	bus := dbustest.New(t)
	a, b := bus.Conn(t), bus.Conn(t)
	if err := a.BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Fatalf("ping bus: %v", err)
	}
	if err := a.Object(b.Names()[0], "/").Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Fatalf("ping peer: %v", err)
	}
}

func TestNewBusWithAwkwardTestName(t *testing.T) {
	t.Run("a, b, and a rather long name that goes on and on and on and on and on and on and on and on", func(t *testing.T) {
		bus := dbustest.New(t)
		if err := bus.Conn(t).BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
			t.Fatalf("ping bus: %v", err)
		}
	})
}

func TestStartClose(t *testing.T) {
	bus := dbustest.New(t) // skips without dbus-daemon
	other, err := dbustest.Start()
	if err != nil {
		t.Fatal(err)
	}
	if other.Address == bus.Address {
		t.Fatalf("two buses share address %s", other.Address)
	}
	c := other.Conn(t)
	if err := c.BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Fatalf("ping bus: %v", err)
	}
	other.Close()
	other.Close() // twice is fine
	select {
	case <-c.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection outlived Close")
	}
}
