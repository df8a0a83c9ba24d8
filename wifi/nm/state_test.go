package nm_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/internal/nmfake"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// callCounter counts the method calls a connection sends, by member name,
// through a monitor connection on the same bus.
type callCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func countCalls(t *testing.T, bus *dbustest.Bus, conn *dbus.Conn) *callCounter {
	t.Helper()
	mon := bus.Conn(t)
	cc := &callCounter{counts: map[string]int{}}
	msgs := make(chan *dbus.Message, 256)
	rule := "type='method_call',sender='" + conn.Names()[0] + "'"
	if err := mon.BusObject().Call("org.freedesktop.DBus.Monitoring.BecomeMonitor", 0, []string{rule}, uint32(0)).Err; err != nil {
		t.Fatalf("BecomeMonitor: %v", err)
	}
	mon.Eavesdrop(msgs) // after the call: its reply would go there too
	// Before the connection closes (cleanups run last-in first-out): godbus
	// v5.2.4's Close closes the channel while its reader may still hold a
	// message for it (a send on a closed channel). Eavesdrop(nil) takes the
	// reader's lock, so nothing is sent once it returns.
	t.Cleanup(func() { mon.Eavesdrop(nil); close(msgs) })
	go func() {
		for m := range msgs {
			if m.Type != dbus.TypeMethodCall {
				continue
			}
			member, _ := m.Headers[dbus.FieldMember].Value().(string)
			cc.mu.Lock()
			cc.counts[member]++
			cc.mu.Unlock()
		}
	}()
	return cc
}

func (cc *callCounter) snapshot() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := map[string]int{}
	for k, v := range cc.counts {
		out[k] = v
	}
	return out
}

// TestStateTakesWhatSignalsCarry: an activation walks the device through
// some ten states; the client follows them from the signals' values and
// reads only what no signal carries: the new active connection's profile
// (Connection, GetSettings) and the new IPv4 configuration's address, once
// each. The old client re-read device, connection, settings and address on
// every signal.
func TestStateTakesWhatSignalsCarry(t *testing.T) {
	bus := dbustest.New(t)
	fake := nmfake.New(t, bus, nmfake.Config{})
	fake.AddNetwork(netA)
	conn := bus.Conn(t)
	c, err := nm.New(ctxT(t), nm.Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.State(); got.Kind != wifi.Disconnected {
		t.Fatalf("initial state %v, want disconnected", got)
	}
	cc := countCalls(t, bus, conn)
	// The monitor is in place once it sees a call: read the state once.
	eventually(t, "monitor sees calls", func() bool {
		_ = conn.Object("org.freedesktop.DBus", "/org/freedesktop/DBus").Call("org.freedesktop.DBus.GetId", 0).Err
		return cc.snapshot()["GetId"] > 0
	})
	ch := c.WatchState(ctxT(t))
	p := fake.AddProfile("other", []byte("A"), "password-a", true)
	if err := fake.Activate(p); err != nil {
		t.Fatal(err)
	}
	seen := waitState(t, ch, "connected to A", connectedTo("A"))
	if last := seen[len(seen)-1]; last.IPv4 != netA.IPv4 {
		t.Errorf("IPv4 = %v, want %v", last.IPv4, netA.IPv4)
	}
	time.Sleep(50 * time.Millisecond) // let late calls show
	got := cc.snapshot()
	want := map[string]int{"GetId": got["GetId"], "Get": 2, "GetSettings": 1}
	if len(got) != len(want) || got["Get"] > want["Get"] || got["GetSettings"] > want["GetSettings"] {
		t.Errorf("calls during an activation: %v, want at most %v (Connection, AddressData, the profile's settings)", got, want)
	}
	if got["GetAll"] > 0 {
		t.Errorf("the device was re-read (%d GetAll) although its signals carry State, ActiveConnection and Ip4Config", got["GetAll"])
	}

	// Disconnecting needs no read at all.
	before := cc.snapshot()
	fake.SetWirelessEnabled(false)
	waitState(t, ch, "down (radio off)", kindIs(wifi.Down))
	fake.SetWirelessEnabled(true)
	waitState(t, ch, "disconnected (radio on)", kindIs(wifi.Disconnected))
	time.Sleep(50 * time.Millisecond)
	after := cc.snapshot()
	for _, m := range []string{"Get", "GetAll", "GetSettings"} {
		if after[m] != before[m] {
			t.Errorf("radio off and on: %d more %s calls, want none", after[m]-before[m], m)
		}
	}
}

// TestStartDoesNotWait: Start returns before NetworkManager is read; the
// state arrives through WatchState and Ready is closed then.
func TestStartDoesNotWait(t *testing.T) {
	bus := dbustest.New(t)
	fake := nmfake.New(t, bus, nmfake.Config{})
	fake.AddNetwork(netA)
	p := fake.AddProfile("bluenet", []byte("A"), "password-a", true)
	if err := fake.Activate(p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "fake activated", func() bool { return fake.DeviceState() == nmfake.StateActivated })
	c, err := nm.Start(ctxT(t), nm.Config{Conn: bus.Conn(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch := c.WatchState(ctxT(t))
	waitState(t, ch, "connected to A", connectedTo("A"))
	select {
	case <-c.Ready():
	case <-time.After(guard):
		t.Fatal("Ready not closed after the state arrived")
	}
	eventually(t, "access points", func() bool { return len(c.AccessPoints()) == 1 })
	if err := c.RequestScan(ctxT(t)); err != nil {
		t.Errorf("RequestScan: %v", err)
	}
}

// TestStartBegin: with Config.Begin, NetworkManager is not read before Begin
// is closed (the fake sees no call); then the state arrives as without it.
// A Client closed before Begin closes without reading.
func TestStartBegin(t *testing.T) {
	bus := dbustest.New(t)
	fake := nmfake.New(t, bus, nmfake.Config{})
	fake.AddNetwork(netA)
	begin := make(chan struct{})
	conn := bus.Conn(t)
	c, err := nm.Start(ctxT(t), nm.Config{Conn: conn, Begin: begin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Ready():
		t.Fatal("Ready closed before Begin")
	case <-time.After(100 * time.Millisecond):
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("NetworkManager called before Begin: %v", calls)
	}
	// No signal is wanted before Begin either: a starting daemon decodes
	// none of NetworkManager's.
	if n := matchRules(t, conn); n != 0 {
		t.Errorf("%d match rules before Begin, want 0", n)
	}
	close(begin)
	select {
	case <-c.Ready():
	case <-time.After(guard):
		t.Fatal("Ready not closed after Begin")
	}
	if n := matchRules(t, conn); n < 2 {
		t.Errorf("%d match rules after Begin, want 2", n)
	}
	if s := c.State(); s.Kind != wifi.Disconnected {
		t.Errorf("state %v, want disconnected", s)
	}
	eventually(t, "access points", func() bool { return len(c.AccessPoints()) == 1 })

	never, err := nm.Start(ctxT(t), nm.Config{Conn: bus.Conn(t), Begin: make(chan struct{})})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		never.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(guard):
		t.Fatal("Close blocks while waiting for Begin")
	}
}

// TestStartWithoutNetworkManager: Ready is closed once NetworkManager is
// found missing; the state is Down.
func TestStartWithoutNetworkManager(t *testing.T) {
	bus := dbustest.New(t)
	c, err := nm.Start(ctxT(t), nm.Config{Conn: bus.Conn(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Ready():
	case <-time.After(guard):
		t.Fatal("Ready not closed")
	}
	if s := c.State(); s.Kind != wifi.Down {
		t.Errorf("state %v, want down", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.RequestScan(ctx) // must not block
}

// matchRules is the number of match rules conn has on its bus (dbus-daemon's
// Debug.Stats interface).
func matchRules(t *testing.T, conn *dbus.Conn) uint32 {
	t.Helper()
	var stats map[string]dbus.Variant
	if err := conn.BusObject().Call("org.freedesktop.DBus.Debug.Stats.GetConnectionStats", 0, conn.Names()[0]).Store(&stats); err != nil {
		t.Fatalf("dbus-daemon stats: %v", err)
	}
	n, _ := stats["MatchRules"].Value().(uint32)
	return n
}
