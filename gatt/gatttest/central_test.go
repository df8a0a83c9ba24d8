package gatttest_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

var (
	svc     = gatt.MustParseUUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
	longChr = gatt.MustParseUUID("6e400002-b5a3-f393-e0a9-e50e24dcca9e")
	wrChr   = gatt.MustParseUUID("6e400003-b5a3-f393-e0a9-e50e24dcca9e")
	ntfChr  = gatt.MustParseUUID("6e400004-b5a3-f393-e0a9-e50e24dcca9e")
	indChr  = gatt.MustParseUUID("6e400005-b5a3-f393-e0a9-e50e24dcca9e")
	cmdChr  = gatt.MustParseUUID("6e400006-b5a3-f393-e0a9-e50e24dcca9e")
	errChr  = gatt.MustParseUUID("6e400007-b5a3-f393-e0a9-e50e24dcca9e")
)

// peripheral serves a service on hci0 of a fake with a central side, and
// records what reaches the handlers.
type peripheral struct {
	fake  *gatttest.Bluez
	srv   *gatt.Server
	long  []byte
	phone *dbus.Conn // the central's connection

	mu      sync.Mutex
	writes  []gatt.Request
	events  []string
	changed chan struct{}
}

func (p *peripheral) record(ev string) {
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// waitEvent waits until ev was recorded.
func (p *peripheral) waitEvent(t *testing.T, ev string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if e == ev {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
		select {
		case <-p.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q; events %q", ev, p.events)
		}
	}
}

func newPeripheral(t *testing.T, mtu uint16) (*peripheral, *central.Central) {
	t.Helper()
	bus := gatttest.NewBus(t)
	fake := gatttest.New(t, bus.Address)
	fake.EnableCentral()
	fake.SetCentralMTU(mtu)
	p := &peripheral{fake: fake, changed: make(chan struct{}, 1), long: make([]byte, 300)}
	for i := range p.long {
		p.long[i] = byte(i)
	}
	onWrite := func(r *gatt.Request, v []byte) error {
		p.mu.Lock()
		r.Chunk = bytes.Clone(v)
		p.writes = append(p.writes, *r)
		p.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:    bus.Conn(t),
		Adapter: "hci0",
		Services: []gatt.Service{{UUID: svc, Primary: true, Characteristics: []gatt.Characteristic{
			{UUID: longChr, Flags: gatt.FlagRead, Value: p.long,
				Descriptors: []gatt.Descriptor{{UUID: gatt.UUID16(0x2901), Flags: gatt.FlagRead, Value: []byte("long")}}},
			{UUID: wrChr, Flags: gatt.FlagWrite | gatt.FlagEncryptWrite, OnWrite: onWrite},
			{UUID: ntfChr, Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{0},
				OnSubscribe: func(on bool) { p.record(map[bool]string{true: "subscribed", false: "unsubscribed"}[on]) }},
			{UUID: indChr, Flags: gatt.FlagIndicate},
			{UUID: cmdChr, Flags: gatt.FlagWriteWithoutResponse, OnWrite: onWrite},
			{UUID: errChr, Flags: gatt.FlagRead | gatt.FlagWrite,
				OnRead:  func(*gatt.Request) ([]byte, error) { return nil, gatt.ATTError(0x91) },
				OnWrite: func(*gatt.Request, []byte) error { return gatt.ErrInvalidValueLength }},
		}}},
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svc}, LocalName: "fake-peripheral",
			ServiceData: map[gatt.UUID][]byte{gatt.UUID16(0x4677): {1, 2, 3}}},
		OnConnect:    func(d gatt.Device) { p.record("connect " + d.Address) },
		OnDisconnect: func(d gatt.Device) { p.record("disconnect " + d.Address) },
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p.srv = srv
	p.phone = bus.Conn(t)
	c, err := central.New(ctx, central.Config{Conn: p.phone, Adapter: "hci1"})
	if err != nil {
		t.Fatalf("central.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if c.Adapter() != gatttest.CentralAdapterPath {
		t.Fatalf("central on %s, want hci1", c.Adapter())
	}
	return p, c
}

func TestCentralFindsAndConnects(t *testing.T) {
	p, c := newPeripheral(t, gatttest.DefaultCentralMTU)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{svc}})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if adv.Address != gatttest.AdapterAddress || adv.Name != "fake-peripheral" || adv.RSSI == 0 || len(adv.UUIDs) != 1 || adv.UUIDs[0] != svc ||
		!bytes.Equal(adv.ServiceData[gatt.UUID16(0x4677)], []byte{1, 2, 3}) {
		t.Errorf("advertisement %+v", adv)
	}
	// A filter on another service finds nothing.
	sctx, scancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer scancel()
	if _, err := c.Find(sctx, central.ScanFilter{UUIDs: []central.UUID{gatt.UUID16(0x180d)}}); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("Find of another service: %v, want ErrNotFound", err)
	}

	per, err := c.Connect(ctx, gatttest.AdapterAddress)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	p.waitEvent(t, "connect "+gatttest.CentralAddress)
	for _, u := range []gatt.UUID{longChr, wrChr, ntfChr, indChr, cmdChr, errChr} {
		if !per.HasCharacteristic(u) {
			t.Errorf("no characteristic %s", u)
		}
	}
	if err := per.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p.waitEvent(t, "disconnect "+gatttest.CentralAddress)
	if p.fake.CentralConnected() {
		t.Error("still connected after Close")
	}
}

func TestCentralReadWriteNotify(t *testing.T) {
	p, c := newPeripheral(t, 23) // long reads in 22-byte pieces
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	per, err := c.Connect(ctx, gatttest.AdapterAddress)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer per.Close(ctx)
	ch := func(u gatt.UUID) *central.Characteristic {
		t.Helper()
		ch, err := per.Characteristic(u)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}

	if v, err := ch(longChr).Read(ctx); err != nil || !bytes.Equal(v, p.long) {
		t.Errorf("long read: %d bytes, %v; want %d bytes", len(v), err, len(p.long))
	}
	if v, err := ch(longChr).ReadAt(ctx, 290); err != nil || !bytes.Equal(v, p.long[290:]) {
		t.Errorf("read at 290: %v, %v", v, err)
	}
	d, err := ch(longChr).Descriptor(gatt.UUID16(0x2901))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Read(ctx); err != nil || string(v) != "long" {
		t.Errorf("descriptor read %q, %v", v, err)
	}

	tests := []struct {
		name    string
		uuid    gatt.UUID
		value   []byte
		opts    central.WriteOptions
		wantErr error
		wantTyp gatt.WriteType
	}{
		{"request", wrChr, []byte("hello"), central.WriteOptions{}, nil, gatt.WriteTypeRequest},
		{"long write", wrChr, bytes.Repeat([]byte("x"), 100), central.WriteOptions{}, nil, gatt.WriteTypeRequest},
		{"over bluetoothd 5.66's long write limit", wrChr, make([]byte, 509), central.WriteOptions{}, central.ErrInvalidLength, 0},
		{"command", cmdChr, []byte("cmd"), central.WriteOptions{Type: central.WriteCommand}, nil, gatt.WriteTypeCommand},
		{"command by default", cmdChr, []byte("cmd2"), central.WriteOptions{}, nil, gatt.WriteTypeCommand},
		{"request to a command-only characteristic", cmdChr, []byte("x"), central.WriteOptions{Type: central.WriteRequest}, central.ErrNotPermitted, 0},
		{"not writable", longChr, []byte("x"), central.WriteOptions{}, central.ErrNotPermitted, 0},
		{"handler error", errChr, []byte("x"), central.WriteOptions{}, central.ErrInvalidLength, 0},
	}
	for _, tt := range tests {
		p.mu.Lock()
		n := len(p.writes)
		p.mu.Unlock()
		err := ch(tt.uuid).WriteWith(ctx, tt.value, tt.opts)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if tt.wantErr != nil {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			p.mu.Lock()
			got := p.writes[n:]
			p.mu.Unlock()
			if len(got) == 1 {
				w := got[0]
				if !bytes.Equal(w.Chunk, tt.value) || w.Type != tt.wantTyp || w.Address != gatttest.CentralAddress || w.Link != "LE" || w.MTU != 23 {
					t.Errorf("%s: the handler saw %q type %v from %s link %q mtu %d", tt.name, w.Chunk, w.Type, w.Address, w.Link, w.MTU)
				}
				break
			}
			if len(got) > 1 || time.Now().After(deadline) {
				t.Fatalf("%s: %d writes reached the handler, want 1", tt.name, len(got))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := ch(errChr).Read(ctx); !errors.Is(err, central.ErrRemoteFailed) {
		t.Errorf("read of an application error: %v, want ErrRemoteFailed", err)
	}

	// Notifications reach the subscriber, and only while it is subscribed.
	vals, stop, err := ch(ntfChr).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.waitEvent(t, "subscribed")
	if err := p.srv.Characteristic(ntfChr).Notify([]byte{7}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-vals:
		if !bytes.Equal(v, []byte{7}) {
			t.Errorf("notified %v, want [7]", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	ccc, err := ch(ntfChr).Descriptor(gatt.UUID16(0x2902))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ccc.Read(ctx); err != nil || !bytes.Equal(v, []byte{1, 0}) {
		t.Errorf("CCC %v, %v; want [1 0]", v, err)
	}
	stop()
	p.waitEvent(t, "unsubscribed")

	// An indication is confirmed.
	ivals, istop, err := ch(indChr).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer istop()
	deadline := time.Now().Add(10 * time.Second)
	for !p.srv.Characteristic(indChr).Subscribed() {
		if time.Now().After(deadline) {
			t.Fatal("the indicate characteristic never saw StartNotify")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.srv.Characteristic(indChr).Indicate(ctx, []byte("ind")); err != nil {
		t.Fatalf("Indicate: %v", err)
	}
	if v := <-ivals; string(v) != "ind" {
		t.Errorf("indicated %q", v)
	}

	// The peripheral drops the link: the central sees it.
	p.fake.Disconnect(gatttest.CentralAddress)
	select {
	case <-per.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the central did not see the link drop")
	}
	p.waitEvent(t, "disconnect "+gatttest.CentralAddress)
}

func TestCentralSubscriberLeavesBus(t *testing.T) {
	p, c := newPeripheral(t, gatttest.DefaultCentralMTU)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	per, err := c.Connect(ctx, gatttest.AdapterAddress)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	ch, err := per.Characteristic(ntfChr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitEvent(t, "subscribed")
	_ = p.phone.Close() // gone without StopNotify
	p.waitEvent(t, "unsubscribed")
	if !p.fake.CentralConnected() {
		t.Error("the link went down with the client's bus connection; it belongs to bluetoothd")
	}
}
