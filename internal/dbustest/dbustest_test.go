package dbustest_test

import (
	"testing"

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
