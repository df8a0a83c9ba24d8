//go:build vm

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/att"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

var (
	e2eSvc    = gatt.MustParseUUID("5a1e0001-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eRead   = gatt.MustParseUUID("5a1e0002-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eLong   = gatt.MustParseUUID("5a1e0003-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eWrite  = gatt.MustParseUUID("5a1e0004-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eCmd    = gatt.MustParseUUID("5a1e0005-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eNotify = gatt.MustParseUUID("5a1e0006-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eInd    = gatt.MustParseUUID("5a1e0007-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eErr    = gatt.MustParseUUID("5a1e0008-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eDescW  = gatt.MustParseUUID("5a1e0009-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	e2eSvc2   = gatt.MustParseUUID("5a1e0100-7b3c-4d6e-9f10-2a3b4c5d6e7f") // secondary, included by e2eSvc
	e2eInc    = gatt.MustParseUUID("5a1e0101-7b3c-4d6e-9f10-2a3b4c5d6e7f")
)

// e2eOrder is the declaration order of e2eSvc's characteristics.
var e2eOrder = []gatt.UUID{e2eRead, e2eLong, e2eWrite, e2eCmd, e2eNotify, e2eInd, e2eErr}

const e2eName = "gatt-e2e"

// peripheral is a gatt.Server on hci0 with one characteristic per feature.
type peripheral struct {
	srv      *gatt.Server
	writes   chan gatt.Request // OnWrite of e2eWrite / e2eCmd, Chunk = assembled value
	subs     chan bool
	regs     chan time.Time // OnRegistered, when
	discs    chan gatt.Device
	longVal  []byte
	mu       sync.Mutex
	errNext  error
	readHits int
}

func startPeripheral(t testing.TB, ctx context.Context) *peripheral {
	vmtest.UnstickCentral(t)
	vmtest.ForgetDevices(t)
	p := &peripheral{
		writes: make(chan gatt.Request, 64),
		subs:   make(chan bool, 64),
		regs:   make(chan time.Time, 16),
		discs:  make(chan gatt.Device, 16),
	}
	for i := 0; i < 300; i++ {
		p.longVal = append(p.longVal, byte(i))
	}
	onWrite := func(r *gatt.Request, v []byte) error {
		rr := *r
		rr.Chunk = append([]byte{}, v...)
		p.writes <- rr
		return nil
	}
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:    vmtest.SystemBus(t),
		Adapter: vmtest.PeripheralAdapter,
		Path:    "/org/bluenet/e2e",
		Services: []gatt.Service{{
			UUID: e2eSvc, Primary: true, Includes: []int{1},
			Characteristics: []gatt.Characteristic{
				{UUID: e2eRead, Flags: gatt.FlagRead, Value: []byte("hello"),
					Descriptors: []gatt.Descriptor{
						{UUID: gatt.UUID16(0x2901), Flags: gatt.FlagRead, Value: []byte("label")},
						{UUID: e2eDescW, Flags: gatt.FlagRead | gatt.FlagWrite, Value: []byte("d0")},
					}},
				{UUID: e2eLong, Flags: gatt.FlagRead, OnRead: func(*gatt.Request) ([]byte, error) {
					p.mu.Lock()
					p.readHits++
					p.mu.Unlock()
					return p.longVal, nil
				}},
				{UUID: e2eWrite, Flags: gatt.FlagWrite | gatt.FlagRead, OnWrite: onWrite},
				{UUID: e2eCmd, Flags: gatt.FlagWriteWithoutResponse, OnWrite: onWrite},
				{UUID: e2eNotify, Flags: gatt.FlagNotify | gatt.FlagRead, Value: []byte{0},
					OnSubscribe: func(on bool) { p.subs <- on }},
				{UUID: e2eInd, Flags: gatt.FlagIndicate, Value: []byte{0}},
				{UUID: e2eErr, Flags: gatt.FlagRead | gatt.FlagWrite,
					OnRead: func(*gatt.Request) ([]byte, error) {
						p.mu.Lock()
						defer p.mu.Unlock()
						return []byte("ok"), p.errNext
					},
					OnWrite: func(*gatt.Request, []byte) error {
						p.mu.Lock()
						defer p.mu.Unlock()
						return p.errNext
					}},
			},
		}, {
			UUID: e2eSvc2, Primary: false,
			Characteristics: []gatt.Characteristic{
				{UUID: e2eInc, Flags: gatt.FlagRead, Value: []byte("inc")},
			},
		}},
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{e2eSvc}, LocalName: e2eName},
		OnRegistered:  func() { p.regs <- time.Now() },
		OnDisconnect:  func(d gatt.Device) { p.discs <- d },
		OnError:       func(err error) { t.Logf("gatt: %v", err) },
		Logger:        debugLog(t, "gatt server"),
	})
	if err != nil {
		t.Fatalf("gatt.Open: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p.srv = srv
	return p
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var z T
	return z
}

func connectCentral(t testing.TB, ctx context.Context) (*central.Central, *central.Peripheral) {
	t.Helper()
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// A refused or aborted attempt (btvirt under load, or a connection the
	// guest kernel left stuck: vmtest.UnstickCentral) is tried again, twice.
	pp, err := c.Connect(ctx, vmtest.PeripheralAddress)
	for try := 1; try < 3 && errors.Is(err, central.ErrConnectFailed); try++ {
		t.Logf("connect (try %d): %v; again", try, err)
		vmtest.UnstickCentral(t)
		pp, err = c.Connect(ctx, vmtest.PeripheralAddress)
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = pp.Disconnect(context.Background()) })
	return c, pp
}

func chr(t testing.TB, p *central.Peripheral, u gatt.UUID) *central.Characteristic {
	t.Helper()
	ch, err := p.Characteristic(u)
	if err != nil {
		t.Fatalf("characteristic %s: %v", u, err)
	}
	return ch
}

func TestGATTPeripheral(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	per := startPeripheral(t, ctx)
	recv(t, per.regs, "registration")

	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("discover by service UUID and name", func(t *testing.T) {
		start := time.Now()
		adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{e2eSvc}})
		if err != nil {
			t.Fatal(err)
		}
		if adv.Address != vmtest.PeripheralAddress {
			t.Errorf("found %s, want %s", adv.Address, vmtest.PeripheralAddress)
		}
		// The name travels in the scan response; BlueZ may report it a moment
		// after the UUID.
		for adv.Name != e2eName && ctx.Err() == nil {
			adv, err = c.Find(ctx, central.ScanFilter{Address: vmtest.PeripheralAddress})
			if err != nil {
				t.Fatal(err)
			}
			if adv.Name != e2eName {
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("discovered %s name %q UUIDs %v in %.2fs", adv.Address, adv.Name, adv.UUIDs, time.Since(start).Seconds())
	})

	pp, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}

	t.Run("read", func(t *testing.T) {
		v, err := chr(t, pp, e2eRead).Read(ctx)
		if err != nil || string(v) != "hello" {
			t.Fatalf("read = %q, %v", v, err)
		}
	})
	t.Run("long read", func(t *testing.T) {
		v, err := chr(t, pp, e2eLong).Read(ctx)
		if err != nil || !bytes.Equal(v, per.longVal) {
			t.Fatalf("long read = %d bytes, %v; want %d", len(v), err, len(per.longVal))
		}
		v, err = chr(t, pp, e2eLong).ReadAt(ctx, 250)
		if err != nil || !bytes.Equal(v, per.longVal[250:]) {
			t.Fatalf("read at 250 = %d bytes, %v", len(v), err)
		}
		// BlueZ's client turns ATT 0x07 into InvalidArguments "Invalid offset".
		_, err = chr(t, pp, e2eLong).ReadAt(ctx, 301)
		if err == nil || !strings.Contains(err.Error(), "Invalid offset") {
			t.Errorf("read past end: %v, want ATT Invalid Offset", err)
		}
	})
	t.Run("write", func(t *testing.T) {
		if err := chr(t, pp, e2eWrite).Write(ctx, []byte("abc")); err != nil {
			t.Fatal(err)
		}
		r := recv(t, per.writes, "write")
		if string(r.Chunk) != "abc" || r.Address != vmtest.CentralAddress || r.Link != "LE" || r.MTU == 0 {
			t.Errorf("write request %+v", r)
		}
		t.Logf("write: device %s link %s mtu %d", r.Address, r.Link, r.MTU)
		// A write request of 510 bytes (the most that fits MTU 517 with
		// bluetoothd 5.66) reaches the handler whole. 511 and 512 bytes are
		// refused by bluetoothd 5.66 itself (its length check counts the
		// handle, bluez/bluez#570, fixed in 5.70); a newer one passes them.
		for _, n := range []int{510, 512} {
			val := bytes.Repeat([]byte{byte(n)}, n)
			err := chr(t, pp, e2eWrite).Write(ctx, val)
			if n == 512 && err != nil && strings.Contains(err.Error(), "Invalid Length") {
				t.Logf("write of %d bytes: %v (bluetoothd 5.66, bluez#570)", n, err)
				continue
			}
			if err != nil {
				t.Fatalf("write of %d bytes: %v", n, err)
			}
			if r := recv(t, per.writes, "write"); !bytes.Equal(r.Chunk, val) {
				t.Errorf("write of %d bytes: handler saw %d bytes", n, len(r.Chunk))
			}
		}
	})
	t.Run("long write using offset", func(t *testing.T) {
		val := make([]byte, 512)
		for i := range val {
			val[i] = byte(i * 7)
		}
		ch := chr(t, pp, e2eWrite)
		for off := 0; off < 500; off += 200 {
			end := min(off+200, 500)
			if err := ch.WriteWith(ctx, val[off:end], central.WriteOptions{Offset: uint16(off)}); err != nil {
				t.Fatalf("write at %d: %v", off, err)
			}
			r := recv(t, per.writes, "write")
			if int(r.Offset) != off || !bytes.Equal(r.Chunk, val[:end]) {
				t.Fatalf("write at %d: handler saw offset %d and %d bytes", off, r.Offset, len(r.Chunk))
			}
		}
	})
	t.Run("write without response", func(t *testing.T) {
		if err := chr(t, pp, e2eCmd).WriteWith(ctx, []byte("cmd"), central.WriteOptions{Type: central.WriteCommand}); err != nil {
			t.Fatal(err)
		}
		r := recv(t, per.writes, "write command")
		if string(r.Chunk) != "cmd" || r.Type != gatt.WriteTypeCommand {
			t.Errorf("write command %+v", r)
		}
	})
	t.Run("descriptors", func(t *testing.T) {
		ch := chr(t, pp, e2eRead)
		d, err := ch.Descriptor(gatt.UUID16(0x2901))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := d.Read(ctx); err != nil || string(v) != "label" {
			t.Errorf("0x2901 = %q, %v", v, err)
		}
		dw, err := ch.Descriptor(e2eDescW)
		if err != nil {
			t.Fatal(err)
		}
		if err := dw.Write(ctx, []byte("new")); err != nil {
			t.Fatal(err)
		}
		if v, err := dw.Read(ctx); err != nil || string(v) != "new" {
			t.Errorf("descriptor after write = %q, %v", v, err)
		}
	})
	t.Run("error codes", func(t *testing.T) {
		ch := chr(t, pp, e2eErr)
		// What the central sees is BlueZ's client mapping of the ATT code
		// (src/gatt-client.c create_gatt_dbus_error).
		for _, tt := range []struct {
			err  error
			want string
		}{
			{gatt.ErrInvalidValueLength, "Invalid Length"}, // ATT 0x0d
			{gatt.ErrNotAuthorized, "not authorized"},      // ATT 0x08
			{gatt.ErrNotSupported, "not supported"},        // ATT 0x06
			{gatt.ErrNotPermitted, "not permitted"},        // ATT 0x02 / 0x03
			{gatt.ErrInvalidOffset, "Invalid offset"},      // ATT 0x07
			{gatt.ErrInProgress, "ATT error: 0xfe"},        // ATT 0xfe
			{gatt.ErrFailed, "ATT error: 0x80"},            // application error 0x80
			{gatt.ATTError(0x85), "ATT error: 0x85"},       // application error 0x85
			{errors.New("internal"), "ATT error: 0x80"},    // any other error
		} {
			per.mu.Lock()
			per.errNext = tt.err
			per.mu.Unlock()
			_, rerr := ch.Read(ctx)
			werr := ch.Write(ctx, []byte{1})
			if rerr == nil || werr == nil || !strings.Contains(rerr.Error(), tt.want) || !strings.Contains(werr.Error(), tt.want) {
				t.Errorf("%v: read %v, write %v; want %q", tt.err, rerr, werr, tt.want)
			} else {
				t.Logf("%v → central: %v", tt.err, rerr)
			}
		}
		per.mu.Lock()
		per.errNext = nil
		per.mu.Unlock()
	})
	t.Run("notify", func(t *testing.T) {
		sc := per.srv.Characteristic(e2eNotify)
		_ = sc.Notify([]byte("before")) // nobody subscribed: dropped
		vals, stop, err := chr(t, pp, e2eNotify).Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if !recv(t, per.subs, "StartNotify") {
			t.Fatal("got StopNotify")
		}
		for i := byte(1); i <= 5; i++ {
			if err := sc.Notify([]byte{'n', i}); err != nil {
				t.Fatal(err)
			}
		}
		for i := byte(1); i <= 5; i++ {
			if v := recv(t, vals, "notification"); !bytes.Equal(v, []byte{'n', i}) {
				t.Fatalf("notification %d = %q", i, v)
			}
		}
		stop()
		if recv(t, per.subs, "StopNotify") {
			t.Fatal("got StartNotify")
		}
	})
	t.Run("indicate", func(t *testing.T) {
		sc := per.srv.Characteristic(e2eInd)
		vals, stop, err := chr(t, pp, e2eInd).Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		for !sc.Subscribed() {
			time.Sleep(10 * time.Millisecond)
		}
		ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
		defer icancel()
		if err := sc.Indicate(ictx, []byte("ind")); err != nil {
			t.Fatalf("Indicate (waits for Confirm): %v", err)
		}
		if v := recv(t, vals, "indication"); string(v) != "ind" {
			t.Errorf("indication %q", v)
		}
	})
	t.Run("disconnect ends subscription", func(t *testing.T) {
		sc := per.srv.Characteristic(e2eNotify)
		_, _, err := chr(t, pp, e2eNotify).Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !recv(t, per.subs, "StartNotify") {
			t.Fatal("got StopNotify")
		}
		sess := per.srv.Session(pp.Path())
		if err := pp.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		// The peripheral's view of the central is hci0's device object.
		d := recv(t, per.discs, "disconnect event")
		if d.Address != vmtest.CentralAddress {
			t.Errorf("disconnected %s", d.Address)
		}
		if recv(t, per.subs, "StopNotify after disconnect") || sc.Subscribed() {
			t.Error("still subscribed after disconnect")
		}
		_ = sess
	})
	// bluetoothd lays the attributes out in the order it learns of the
	// objects; package gatt announces them in declaration order, included
	// services first, so both hold on every registration.
	t.Run("includes and handle order", func(t *testing.T) {
		dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
		defer dcancel()
		c, hs := dialKernel(t, dctx, e2eInc[:])
		chars, err := c.Characteristics(dctx)
		if err != nil {
			t.Fatal(err)
		}
		var handles []uint16
		for _, u := range e2eOrder {
			ch, ok := att.Find(chars, u[:])
			if !ok {
				t.Fatalf("no characteristic %s", u)
			}
			handles = append(handles, ch.Handle)
		}
		if !slices.IsSorted(handles) {
			t.Errorf("handles of %v in declaration order: %v, want increasing", e2eOrder, handles)
		}
		// Include Declaration (0x2802): handle of the included service,
		// end group handle (no UUID: it is a 128-bit one).
		h, v, err := c.ReadByUUID(dctx, []byte{0x28, 0x02})
		if err != nil || len(v) < 4 {
			t.Fatalf("include declaration: %d % x, %v", h, v, err)
		}
		start, end := binary.LittleEndian.Uint16(v), binary.LittleEndian.Uint16(v[2:])
		if inc := hs[0].Handle; inc < start || inc > end {
			t.Errorf("include declaration covers 0x%04x-0x%04x, but the included characteristic is at 0x%04x", start, end, inc)
		}
		if got, err := c.Read(dctx, hs[0].ValueHandle); err != nil || string(got) != "inc" {
			t.Errorf("included service's characteristic = %q, %v", got, err)
		}
		t.Logf("include declaration at 0x%04x → service 0x%04x-0x%04x", h, start, end)
	})
	// Two BlueZ stacks agree on MTU 517, so above every value fits one
	// PDU. The kernel's stack with package att keeps the default MTU 23:
	// reads take Read Blob requests and writes Prepare/Execute Write.
	t.Run("long read and long write at MTU 23", func(t *testing.T) {
		dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
		defer dcancel()
		c, hs := dialKernel(t, dctx, e2eLong[:], e2eWrite[:])
		long, w := hs[0], hs[1]
		per.mu.Lock()
		hits := per.readHits
		per.mu.Unlock()
		v, err := c.Read(dctx, long.ValueHandle)
		if err != nil || !bytes.Equal(v, per.longVal) {
			t.Fatalf("long read = %d bytes, %v; want %d", len(v), err, len(per.longVal))
		}
		per.mu.Lock()
		hits = per.readHits - hits
		per.mu.Unlock()
		if want := (len(per.longVal) + c.MTU() - 2) / (c.MTU() - 1); hits != want {
			t.Errorf("long read of %d bytes at MTU %d: %d ReadValue calls, want %d", len(v), c.MTU(), hits, want)
		}
		for len(per.writes) > 0 {
			<-per.writes
		}
		// bluetoothd 5.66 counts the handle and offset in the length of a
		// Prepare Write (bluez#570): a long write ends at 508 bytes there,
		// at 512 (the longest attribute value) in newer versions.
		var offs []uint16
		for _, n := range []int{508, 512} {
			val := make([]byte, n)
			for i := range val {
				val[i] = byte(n - i)
			}
			err := c.Write(dctx, w.ValueHandle, val)
			var ae *att.Error
			if n == 512 && errors.As(err, &ae) && ae.Code == att.ErrCodeInvalidLength {
				t.Logf("long write of %d bytes: %v (bluetoothd 5.66, bluez#570)", n, err)
				continue
			}
			if err != nil {
				t.Fatalf("long write of %d bytes at MTU %d: %v", n, c.MTU(), err)
			}
			offs = offs[:0]
			for {
				r := recv(t, per.writes, "long write")
				offs = append(offs, r.Offset)
				if r.MTU != uint16(c.MTU()) {
					t.Errorf("write request MTU %d, want %d", r.MTU, c.MTU())
				}
				if bytes.Equal(r.Chunk, val) {
					break
				}
				if !bytes.Equal(r.Chunk, val[:min(len(r.Chunk), n)]) {
					t.Fatalf("handler saw % x at offset %d", r.Chunk, r.Offset)
				}
			}
		}
		t.Logf("MTU %d: long read of %d bytes in %d ReadValue calls; long write of 508 bytes reached the handler as WriteValue at offsets %v",
			c.MTU(), len(per.longVal), hits, offs)
	})
}

// TestGATTBluetoothdRestart kills bluetoothd (SIGTERM as systemd stops it,
// SIGKILL as in a crash), starts it again and checks that the server
// registers again and that a central can connect and read within 2 s of
// bluetoothd being back. The central for that check is the kernel's own LE
// stack on hci1 (package att on an L2CAP socket), which does not go down
// with bluetoothd, as a phone's stack would not.
func TestGATTBluetoothdRestart(t *testing.T) {
	vmtest.RestoreBluetoothOnCleanup(t)
	vmtest.DumpLogsOnFailure(t, "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	per := startPeripheral(t, ctx)
	recv(t, per.regs, "registration")
	{
		c, pp := connectCentral(t, ctx)
		if _, err := chr(t, pp, e2eRead).Read(ctx); err != nil {
			t.Fatal(err)
		}
		_ = pp.Disconnect(ctx)
		c.Close()
	}
	bus := vmtest.SystemBus(t)
	for _, sig := range []string{"TERM", "KILL"} {
		t.Run("SIG"+sig, func(t *testing.T) {
			for len(per.regs) > 0 {
				<-per.regs
			}
			restartBluetoothd(t, ctx, bus, restart{
				sig:   sig,
				power: []string{vmtest.PeripheralAdapter, vmtest.CentralAdapter},
				ready: func() time.Time { return recv(t, per.regs, "re-registration") },
				read:  e2eRead,
				want:  func(v []byte) bool { return string(v) == "hello" },
			})
		})
	}
}

// restart says how restartBluetoothd restarts bluetoothd and what it
// reads afterwards.
type restart struct {
	sig   string              // "TERM" or "KILL"
	power []string            // adapters the test powers on again after SIGTERM
	ready func() time.Time    // if set, connect only after it returns (when the server was back)
	read  gatt.UUID           // characteristic read with Read By Type
	want  func(v []byte) bool // accepts the value read
	// within bounds bluetoothd back on the bus → value read (default 2 s).
	within time.Duration
}

// restartBluetoothd kills bluetoothd with r.sig, starts it again, connects
// from hci1 with the kernel's stack (package att, independent of
// bluetoothd) and reads r.read, retrying until it works. It fails the test
// when the read succeeds more than 2 s after bluetoothd is back on the bus.
func restartBluetoothd(t *testing.T, ctx context.Context, bus *dbus.Conn, r restart) {
	owners := make(chan *dbus.Signal, 16)
	bus.Signal(owners)
	defer bus.RemoveSignal(owners)
	if err := bus.AddMatchSignal(dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, "org.bluez")); err != nil {
		t.Fatal(err)
	}
	vmtest.Sh(t, `kill -`+r.sig+` $(pidof bluetoothd); wait_for 10 "bluetoothd gone" sh -c '! pidof bluetoothd'`)
	start := time.Now()
	vmtest.Sh(t, `/usr/libexec/bluetooth/bluetoothd -n ${BLUETOOTHD_ARGS:-} >>$L/bluetoothd.log 2>&1 &`)
	for back := false; !back; {
		select {
		case s := <-owners:
			if s.Name == "org.freedesktop.DBus.NameOwnerChanged" && len(s.Body) == 3 && s.Body[2] != "" {
				back = true
			}
		case <-time.After(20 * time.Second):
			t.Fatal("bluetoothd did not come back on the bus")
		}
	}
	onBus := time.Since(start)
	// bluetoothd powers the adapters off when it stops (not when killed).
	if r.sig == "TERM" {
		for _, hci := range r.power {
			setPowered(t, ctx, bus, hci)
		}
	}
	// Connecting before the application is back works too: after SIGKILL
	// the kernel still sends the old advertisement, and package gatt drops
	// a central that connected before the application was back
	// (TestKilledBluezDisconnectsEarlyCentrals on the fake). Tests that can
	// get there wait for r.ready, because closing an L2CAP socket whose
	// link the peer is tearing down crashes Debian's 6.1 kernel ("kernel BUG
	// at lib/list_debug.c:56" in hci_chan_del).
	ready := "-"
	if r.ready != nil {
		ready = fmt.Sprintf("%.2fs", r.ready().Sub(start).Seconds())
	}
	var (
		v     []byte
		err   error
		tries int
	)
	for ; ctx.Err() == nil; tries++ {
		v, err = dialRead(ctx, r.read)
		if err == nil {
			break
		}
		t.Logf("attempt %d at %.2fs: %v", tries+1, time.Since(start).Seconds(), err)
		time.Sleep(20 * time.Millisecond)
	}
	read := time.Since(start)
	if err != nil || !r.want(v) {
		t.Fatalf("read after restart = %q, %v", v, err)
	}
	t.Logf("bluetoothd SIG%s: back on the bus %.2fs after start, server registered %s, central connected and read %.2fs (%.2fs after bluetoothd was back, %d attempts)",
		r.sig, onBus.Seconds(), ready, read.Seconds(), (read - onBus).Seconds(), tries+1)
	// 2 s is the goal (0.5 s is typical on an idle host); CI's two VMs
	// share two cores, and 2.24 s was seen with a third VM beside them.
	within := r.within
	if within == 0 {
		within = 3 * time.Second
	}
	if read-onBus > within {
		t.Errorf("central read again %.2fs after bluetoothd came back on the bus, want ≤ %v", (read - onBus).Seconds(), within)
	}
}

// dialRead connects from hci1 to hci0 through the kernel's L2CAP socket and
// reads the characteristic u with one Read By Type request. A link made
// while bluetoothd starts may have no ATT server behind it (the kernel hands
// the ATT channel only to a listening bluetoothd): when a request is not
// answered within 500 ms, dialRead waits for the peripheral to drop that
// link (package gatt does, once the application is back), as a phone would
// wait for its ATT timeout.
//
// The socket is closed only while the link is up or well after it went
// down: closing it while the kernel tears the link down can corrupt the
// kernel's channel list (Debian 6.1: "kernel BUG at lib/list_debug.c:56" in
// hci_chan_del from l2cap_sock_release), which takes the whole VM down.
func dialRead(ctx context.Context, u gatt.UUID) ([]byte, error) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := att.Dial(dctx, vmtest.CentralAddress, vmtest.PeripheralAddress)
	if err != nil {
		return nil, err
	}
	closeSafely := func() {
		select {
		case <-c.Done():
			time.Sleep(300 * time.Millisecond)
		default:
		}
		c.Close()
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, v, err := c.ReadByUUID(rctx, u[:])
		rcancel()
		var ae *att.Error
		switch {
		case errors.As(err, &ae) && ae.Code == att.ErrCodeAttrNotFound && dctx.Err() == nil:
			time.Sleep(20 * time.Millisecond) // connected before the application is back
			continue
		case errors.Is(err, context.DeadlineExceeded):
			select { // no ATT server: wait for the link to go
			case <-c.Done():
			case <-time.After(5 * time.Second):
			}
		}
		closeSafely()
		return v, err
	}
}

// dialKernel connects from hci1 to hci0 with the kernel's stack (package
// att), discovers the characteristics and returns those with the given
// UUIDs (big-endian, 2 or 16 bytes), in that order. The connection closes
// at the end of the test.
func dialKernel(t testing.TB, ctx context.Context, uuids ...[]byte) (*att.Conn, []att.Characteristic) {
	t.Helper()
	// btvirt shows a scanner the advertisers of the moment it starts
	// scanning: a connection attempt that began while the peripheral's
	// controller sent another instance can time out. Retry.
	c, err := dialRetry(ctx, t, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	chars, err := c.Characteristics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []att.Characteristic
	for _, u := range uuids {
		ch, ok := att.Find(chars, u)
		if !ok {
			t.Fatalf("no characteristic % x among %+v", u, chars)
		}
		out = append(out, ch)
	}
	return c, out
}

func setPowered(t *testing.T, ctx context.Context, bus *dbus.Conn, hci string) {
	t.Helper()
	obj := bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+hci))
	for {
		err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Set", 0,
			"org.bluez.Adapter1", "Powered", dbus.MakeVariant(true)).Err
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("power %s: %v", hci, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkGATTRead measures read round trips from the central on hci1 to
// the gatt server on hci0 and reports p50/p99 (at least 200 reads).
func BenchmarkGATTRead(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	per := startPeripheral(b, ctx)
	recv(b, per.regs, "registration")
	_, pp := connectCentral(b, ctx)
	ch := chr(b, pp, e2eRead)
	n := max(b.N, 200)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := ch.Read(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.Logf("%d reads: p50 %v p99 %v max %v", n, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	// The same reads from the kernel's stack (no bluetoothd, no D-Bus on the
	// central's side), interleaved with reads of the GAP Device Name, which
	// bluetoothd answers without calling the application: their ratio is
	// what the application's D-Bus round trip adds on the peripheral.
	if err := pp.Disconnect(ctx); err != nil {
		b.Fatal(err)
	}
	recv(b, per.discs, "disconnect")
	dctx, dcancel := context.WithTimeout(ctx, 90*time.Second)
	defer dcancel()
	kc, hs := dialKernel(b, dctx, e2eRead[:], []byte{0x2a, 0x00}) // 0x2a00: GAP Device Name
	app, name := hs[0], hs[1]
	appLat := make([]time.Duration, 0, n)
	nameLat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		for _, r := range []struct {
			h   uint16
			lat *[]time.Duration
		}{{app.ValueHandle, &appLat}, {name.ValueHandle, &nameLat}} {
			t0 := time.Now()
			if _, err := kc.Read(ctx, r.h); err != nil {
				b.Fatal(err)
			}
			*r.lat = append(*r.lat, time.Since(t0))
		}
	}
	for _, l := range [][]time.Duration{appLat, nameLat} {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(appLat[n/2]), "kernel-p50-ms")
	b.ReportMetric(ms(appLat[n*99/100]), "kernel-p99-ms")
	b.ReportMetric(ms(nameLat[n/2]), "bluetoothd-only-p50-ms")
	b.ReportMetric(float64(appLat[n/2])/float64(nameLat[n/2]), "app/bluetoothd-p50")
	b.Logf("kernel central, %d reads each: application p50 %v p99 %v; GAP name (bluetoothd alone) p50 %v p99 %v",
		n, appLat[n/2], appLat[n*99/100], nameLat[n/2], nameLat[n*99/100])
}

// BenchmarkGATTNotify measures the latency of one notification (Notify
// called → value at the central, one at a time: the floor under the
// daemon's notifications, such as BenchmarkBluenetJoin's) and notifications
// per second delivered to the central.
func BenchmarkGATTNotify(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	per := startPeripheral(b, ctx)
	recv(b, per.regs, "registration")
	_, pp := connectCentral(b, ctx)
	vals, stop, err := chr(b, pp, e2eNotify).Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	recv(b, per.subs, "StartNotify")
	sc := per.srv.Characteristic(e2eNotify)
	lat := make([]time.Duration, 0, 50)
	for i := 0; i < cap(lat); i++ {
		v := []byte(fmt.Sprintf("lat%d", i))
		t0 := time.Now()
		if err := sc.Notify(v); err != nil {
			b.Fatal(err)
		}
		if got := recv(b, vals, "notification"); !bytes.Equal(got, v) {
			b.Fatalf("notification %d: got %q, want %q", i, got, v)
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	b.Logf("one notification at a time, %d: p50 %v, min %v, max %v", len(lat), lat[len(lat)/2], lat[0], lat[len(lat)-1])
	n := max(b.N, 200)
	b.ResetTimer()
	t0 := time.Now()
	got := 0
	for i := 0; i < n; i++ {
		_ = sc.Notify([]byte(fmt.Sprint(i)))
		// Keep at most 64 in flight so the central's 256-value buffer
		// never drops.
		for i+1-got > 64 {
			recv(b, vals, "notification")
			got++
		}
	}
	for got < n {
		recv(b, vals, "notification")
		got++
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(n)/el.Seconds(), "notifications/s")
	// After ResetTimer, which drops the metrics reported before it.
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "latency-p50-ms")
	b.Logf("%d notifications delivered in %v: %.0f/s", n, el, float64(n)/el.Seconds())
}

// TestGATTAdvertisingLimits fills the controller's advertising slots with
// one server each until bluetoothd refuses, and checks that the refusal is
// ErrAdvertisingSlotsFull and that it came when bluetoothd said it would
// (LEAdvertisingManager1.SupportedInstances). An advertisement that cannot
// fit in 31 bytes is refused before it reaches bluetoothd.
func TestGATTAdvertisingLimits(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := vmtest.SystemBus(t)
	var free byte
	if err := conn.Object("org.bluez", "/org/bluez/"+vmtest.PeripheralAdapter).CallWithContext(ctx,
		"org.freedesktop.DBus.Properties.Get", 0, "org.bluez.LEAdvertisingManager1", "SupportedInstances").Store(&free); err != nil {
		t.Fatal(err)
	}
	open := func(i int) *gatt.Server {
		srv, err := gatt.Open(ctx, gatt.Config{
			Conn: conn, Adapter: vmtest.PeripheralAdapter, Path: dbus.ObjectPath(fmt.Sprintf("/org/bluenet/limits%d", i)),
			Services: []gatt.Service{{UUID: e2eSvc, Primary: true, Characteristics: []gatt.Characteristic{
				{UUID: e2eRead, Flags: gatt.FlagRead, Value: []byte("x")}}}},
		})
		if err != nil {
			t.Fatalf("open server %d: %v", i, err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		return srv
	}
	var n int
	for ; n <= int(free)+1; n++ {
		err := open(n).Advertise(ctx, gatt.Advertisement{LocalName: fmt.Sprintf("slot %d", n)})
		if errors.Is(err, gatt.ErrAdvertisingSlotsFull) {
			t.Logf("advertisement %d refused: %v", n+1, err)
			break
		}
		if err != nil {
			t.Fatalf("advertisement %d: %v", n+1, err)
		}
	}
	if n != int(free) {
		t.Errorf("%d advertisements registered before ErrAdvertisingSlotsFull, bluetoothd said %d instances were free", n, free)
	}
	big := gatt.Advertisement{ServiceUUIDs: []gatt.UUID{e2eSvc}, ManufacturerData: map[uint16][]byte{0xffff: make([]byte, 20)}}
	if err := open(100).Advertise(ctx, big); !errors.Is(err, gatt.ErrAdvertisementTooLarge) {
		t.Errorf("128-bit UUID + 20 bytes of manufacturer data: %v, want ErrAdvertisementTooLarge", err)
	}
}

// TestGATTAdvertiseChanges changes the data of one of two advertisements
// many times, as the daemon does with Improv's state, and checks after
// each burst that a scanning central sees the last data and that a central
// can connect and read: changing data must not leave the controller
// unreachable (gatt.Server.AdvertiseInstance says why it re-registers).
func TestGATTAdvertiseChanges(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := startPeripheral(t, ctx)
	recv(t, p.regs, "registration")
	sdUUID := gatt.UUID16(0x4677)
	adv := func(b byte) gatt.Advertisement {
		return gatt.Advertisement{ServiceUUIDs: []gatt.UUID{e2eSvc2}, ServiceData: map[gatt.UUID][]byte{sdUUID: {b}}}
	}
	if err := p.srv.AdvertiseInstance(ctx, 1, adv(0)); err != nil {
		t.Fatal(err)
	}
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var b byte
	for burst := 1; burst <= 3; burst++ {
		start := time.Now()
		for range 10 {
			b++
			if err := p.srv.AdvertiseInstance(ctx, 1, adv(b)); err != nil {
				t.Fatalf("burst %d, change %d: %v", burst, b, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("burst %d: 10 changes in %.2fs", burst, time.Since(start).Seconds())
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		var last []byte
		err := c.Scan(sctx, central.ScanFilter{UUIDs: []central.UUID{e2eSvc2}}, func(a central.Advertisement) bool {
			last = a.ServiceData[sdUUID]
			return !bytes.Equal(last, []byte{b})
		})
		scancel()
		if err != nil {
			t.Fatalf("burst %d: a central did not see service data %02x: %v (last % x)", burst, b, err, last)
		}
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		start = time.Now()
		pp, err := c.Connect(cctx, vmtest.PeripheralAddress)
		if err != nil {
			ccancel()
			t.Fatalf("burst %d: connect: %v", burst, err)
		}
		v, err := chr(t, pp, e2eRead).Read(cctx)
		if err != nil || string(v) != "hello" {
			t.Errorf("burst %d: read %q, %v", burst, v, err)
		}
		t.Logf("burst %d: connected and read in %.2fs", burst, time.Since(start).Seconds())
		if err := pp.Disconnect(cctx); err != nil {
			t.Errorf("burst %d: disconnect: %v", burst, err)
		}
		ccancel()
		recv(t, p.discs, "the central's disconnection")
	}
}
