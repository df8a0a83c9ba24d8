//go:build vm

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/gatt"
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
)

const e2eName = "gatt-e2e"

// peripheral is a gatt.Server on hci0 with one characteristic per feature.
type peripheral struct {
	srv      *gatt.Server
	writes   chan gatt.Request // OnWrite of e2eWrite / e2eCmd, Chunk = assembled value
	subs     chan bool
	regs     chan struct{}
	discs    chan gatt.Device
	longVal  []byte
	mu       sync.Mutex
	errNext  error
	readHits int
}

func startPeripheral(t testing.TB, ctx context.Context) *peripheral {
	vmtest.ForgetDevices(t)
	p := &peripheral{
		writes: make(chan gatt.Request, 64),
		subs:   make(chan bool, 64),
		regs:   make(chan struct{}, 16),
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
			UUID: e2eSvc, Primary: true,
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
		}},
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{e2eSvc}, LocalName: e2eName},
		OnRegistered:  func() { p.regs <- struct{}{} },
		OnDisconnect:  func(d gatt.Device) { p.discs <- d },
		OnError:       func(err error) { t.Logf("gatt: %v", err) },
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
	pp, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = pp.Disconnect(context.Background()) })
	return c, pp
}

func chr(t testing.TB, p *central.Peripheral, u gatt.UUID) *central.Characteristic {
	t.Helper()
	ch, err := p.Characteristic(u.String())
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
		adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []string{e2eSvc.String()}})
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
		d, err := ch.Descriptor("2901")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := d.Read(ctx); err != nil || string(v) != "label" {
			t.Errorf("0x2901 = %q, %v", v, err)
		}
		dw, err := ch.Descriptor(e2eDescW.String())
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
}

// TestGATTBluetoothdRestart kills bluetoothd, starts it again and checks
// that the server registers again and a central can connect and read.
func TestGATTBluetoothdRestart(t *testing.T) {
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
	vmtest.Sh(t, `kill $(pidof bluetoothd); wait_for 10 "bluetoothd gone" sh -c '! pidof bluetoothd'`)
	start := time.Now()
	// bluetoothd powers the adapters off when it exits; the bed (like a
	// daemon using Adapter.SetPowered) powers them on again.
	vmtest.Sh(t, `/usr/libexec/bluetooth/bluetoothd -n ${BLUETOOTHD_ARGS:-} >>$L/bluetoothd.log 2>&1 &
		wait_for 15 "bluetoothd on D-Bus" dbus-send --system --print-reply --dest=org.bluez /org/bluez/hci1 org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Address &&
		bt_prop hci0 Powered boolean:true && bt_prop hci1 Powered boolean:true`)
	onBus := time.Since(start)
	recv(t, per.regs, "re-registration")
	registered := time.Since(start)
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pp, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer pp.Disconnect(context.Background())
	v, err := chr(t, pp, e2eRead).Read(ctx)
	if err != nil || string(v) != "hello" {
		t.Fatalf("read after restart = %q, %v", v, err)
	}
	total := time.Since(start)
	t.Logf("bluetoothd restart: on bus %.2fs, app+adv re-registered %.2fs, central connected and read %.2fs after start (%.2fs after re-registration)",
		onBus.Seconds(), registered.Seconds(), total.Seconds(), (total - registered).Seconds())
	// The library's part: the application and advertisement are back within
	// 2 s of bluetoothd. The rest is the central's own recovery, which in this
	// bed is slow for reasons of the bed: the central runs on the same
	// bluetoothd that was restarted, and btvirt reports an advertiser only
	// when scanning starts; a phone keeps its stack and sees the next
	// advertisement. It is logged above, not asserted.
	if registered-onBus > 2*time.Second {
		t.Errorf("application re-registered %.2fs after bluetoothd came back on the bus and powered, want ≤ 2 s", (registered - onBus).Seconds())
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
}

// BenchmarkGATTNotify measures notifications per second delivered to the
// central.
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
	b.Logf("%d notifications delivered in %v: %.0f/s", n, el, float64(n)/el.Seconds())
}
