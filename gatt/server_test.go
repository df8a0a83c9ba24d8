package gatt_test

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

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/godbus/dbus/v5"
)

var (
	svcUUID    = gatt.MustParseUUID("FBE51523-B3E6-4F68-B6DA-410C0BBA1A78")
	readUUID   = gatt.MustParseUUID("FBE51524-B3E6-4F68-B6DA-410C0BBA1A78")
	writeUUID  = gatt.MustParseUUID("FBE51525-B3E6-4F68-B6DA-410C0BBA1A78")
	notifyUUID = gatt.MustParseUUID("FBE51526-B3E6-4F68-B6DA-410C0BBA1A78")
	indUUID    = gatt.MustParseUUID("FBE51527-B3E6-4F68-B6DA-410C0BBA1A78")
	cmdUUID    = gatt.MustParseUUID("FBE51528-B3E6-4F68-B6DA-410C0BBA1A78")
	userDesc   = gatt.UUID16(0x2901)
)

const centralAddr = "00:AA:01:01:00:01"

// wait receives from ch or fails the test after a generous guard timeout
// (a hang detector, not a timing assertion).
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

type env struct {
	bus  *gatttest.Bus
	fake *gatttest.Bluez
	srv  *gatt.Server
	conn *dbus.Conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func start(t *testing.T, cfg gatt.Config) *env {
	t.Helper()
	bus := gatttest.NewBus(t)
	fake := gatttest.New(t, bus.Address)
	conn := bus.Conn(t)
	cfg.Conn = conn
	srv, err := gatt.Open(ctx(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &env{bus: bus, fake: fake, srv: srv, conn: conn}
}

func basicServices(onRead func(*gatt.Request) ([]byte, error), onWrite func(*gatt.Request, []byte) error) []gatt.Service {
	return []gatt.Service{{
		UUID:    svcUUID,
		Primary: true,
		Characteristics: []gatt.Characteristic{
			{UUID: readUUID, Flags: gatt.FlagRead, OnRead: onRead,
				Descriptors: []gatt.Descriptor{{UUID: userDesc, Flags: gatt.FlagRead | gatt.FlagWrite, Value: []byte("label")}}},
			{UUID: writeUUID, Flags: gatt.FlagWrite | gatt.FlagEncryptWrite, OnWrite: onWrite},
			{UUID: notifyUUID, Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{1}},
			{UUID: indUUID, Flags: gatt.FlagIndicate},
			{UUID: cmdUUID, Flags: gatt.FlagWriteWithoutResponse, OnWrite: onWrite},
		},
	}}
}

func TestOpenRegistersTreeAsBluezWants(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	app := e.fake.App()
	if app.Path != e.srv.Root() {
		t.Errorf("registered path %s, want %s", app.Path, e.srv.Root())
	}
	if len(app.Services) != 1 || app.Services[0].UUID != strings.ToLower(svcUUID.String()) || !app.Services[0].Primary {
		t.Fatalf("services = %+v", app.Services)
	}
	chars := app.Services[0].Chars
	if len(chars) != 5 {
		t.Fatalf("%d characteristics, want 5", len(chars))
	}
	want := map[string][]string{
		readUUID.String():   {"read"},
		writeUUID.String():  {"write", "encrypt-write"},
		notifyUUID.String(): {"read", "notify"},
		indUUID.String():    {"indicate"},
		cmdUUID.String():    {"write-without-response"},
	}
	for _, c := range chars {
		if got := strings.Join(c.Flags, ","); got != strings.Join(want[c.UUID], ",") {
			t.Errorf("%s flags %q, want %q", c.UUID, got, want[c.UUID])
		}
	}
	rc := app.Char(readUUID.String())
	if len(rc.Descs) != 1 || rc.Descs[0].UUID != userDesc.String() {
		t.Errorf("descriptors of read char = %+v", rc.Descs)
	}
	// Every UUID on the wire is in the 128-bit string form.
	for p, ifaces := range app.Objects {
		for iface, props := range ifaces {
			u, _ := props["UUID"].Value().(string)
			if len(u) != 36 || u != strings.ToLower(u) {
				t.Errorf("%s %s UUID %q is not lower-case 128-bit", p, iface, u)
			}
		}
	}
}

func TestOpenRejectsWhatBluezRejects(t *testing.T) {
	c := func(f gatt.Flags) []gatt.Service {
		return []gatt.Service{{UUID: svcUUID, Primary: true, Characteristics: []gatt.Characteristic{{UUID: readUUID, Flags: f}}}}
	}
	tests := []struct {
		name string
		svcs []gatt.Service
	}{
		{"no services", nil},
		{"empty flags", c(0)},
		{"unknown flag bit", c(gatt.FlagRead | 1<<30)},
		{"zero service UUID", []gatt.Service{{Primary: true}}},
		{"GAP service", []gatt.Service{{UUID: gatt.UUID16(0x1800), Primary: true}}},
		{"GATT service", []gatt.Service{{UUID: gatt.UUID16(0x1801), Primary: true}}},
		{"zero characteristic UUID", []gatt.Service{{UUID: svcUUID, Characteristics: []gatt.Characteristic{{Flags: gatt.FlagRead}}}}},
		{"own CCC descriptor", []gatt.Service{{UUID: svcUUID, Characteristics: []gatt.Characteristic{{UUID: readUUID, Flags: gatt.FlagNotify,
			Descriptors: []gatt.Descriptor{{UUID: gatt.UUID16(0x2902), Flags: gatt.FlagRead}}}}}}},
		{"notify flag on descriptor", []gatt.Service{{UUID: svcUUID, Characteristics: []gatt.Characteristic{{UUID: readUUID, Flags: gatt.FlagRead,
			Descriptors: []gatt.Descriptor{{UUID: userDesc, Flags: gatt.FlagNotify}}}}}}},
		{"descriptor without flags", []gatt.Service{{UUID: svcUUID, Characteristics: []gatt.Characteristic{{UUID: readUUID, Flags: gatt.FlagRead,
			Descriptors: []gatt.Descriptor{{UUID: userDesc}}}}}}},
		{"include out of range", []gatt.Service{{UUID: svcUUID, Includes: []int{3}}}},
		{"include itself", []gatt.Service{{UUID: svcUUID, Includes: []int{0}}}},
		{"value too long", []gatt.Service{{UUID: svcUUID, Characteristics: []gatt.Characteristic{{UUID: readUUID, Flags: gatt.FlagRead, Value: make([]byte, 513)}}}}},
	}
	bus := gatttest.NewBus(t)
	fake := gatttest.New(t, bus.Address)
	conn := bus.Conn(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := gatt.Open(ctx(t), gatt.Config{Conn: conn, Services: tt.svcs})
			if err == nil {
				srv.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, gatt.ErrInvalidApplication) && !errors.Is(err, gatt.ErrValueTooLong) {
				t.Errorf("error %v is not ErrInvalidApplication", err)
			}
			if n := len(fake.Apps()); n != 0 {
				t.Errorf("%d apps registered", n)
			}
		})
	}
}

func TestOpenFailsWithoutBluezOrAdapter(t *testing.T) {
	bus := gatttest.NewBus(t)
	conn := bus.Conn(t)
	_, err := gatt.Open(ctx(t), gatt.Config{Conn: conn, Services: basicServices(nil, nil)})
	if !errors.Is(err, gatt.ErrBluezNotRunning) {
		t.Errorf("without bluetoothd: %v, want ErrBluezNotRunning", err)
	}
	gatttest.New(t, bus.Address)
	_, err = gatt.Open(ctx(t), gatt.Config{Conn: conn, Adapter: "hci7", Services: basicServices(nil, nil)})
	if !errors.Is(err, gatt.ErrNoAdapter) {
		t.Errorf("hci7: %v, want ErrNoAdapter", err)
	}
	for _, sel := range []string{"", "hci0", gatttest.AdapterAddress, strings.ToLower(gatttest.AdapterAddress)} {
		srv, err := gatt.Open(ctx(t), gatt.Config{Conn: conn, Adapter: sel, Services: basicServices(nil, nil)})
		if err != nil {
			t.Errorf("adapter %q: %v", sel, err)
			continue
		}
		if a := srv.Adapter(); a == nil || a.Path() != gatttest.AdapterPath || a.Name() != "hci0" {
			t.Errorf("adapter %q selected %+v", sel, a)
		}
		srv.Close()
	}
}

func TestReadHonoursOffset(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i)
	}
	e := start(t, gatt.Config{Services: basicServices(func(*gatt.Request) ([]byte, error) { return long, nil }, nil)})
	app := e.fake.App()
	p := app.Char(readUUID.String()).Path
	dev := gatttest.DevicePath(centralAddr)
	tests := []struct {
		offset  uint16
		want    []byte
		errName string
	}{
		{0, long, ""},
		{22, long[22:], ""},
		{299, long[299:], ""},
		{300, []byte{}, ""},
		{301, nil, "org.bluez.Error.InvalidOffset"},
		{65535, nil, "org.bluez.Error.InvalidOffset"},
	}
	for _, tt := range tests {
		got, err := e.fake.ReadValue(ctx(t), app, p, gatttest.Options(dev, 23, tt.offset))
		if name := gatttest.ErrorName(err); name != tt.errName {
			t.Errorf("offset %d: error %v, want %q", tt.offset, err, tt.errName)
			continue
		}
		if tt.errName == "" && !bytes.Equal(got, tt.want) {
			t.Errorf("offset %d: got %d bytes, want %d", tt.offset, len(got), len(tt.want))
		}
	}
	// A long read the way a central does it: keep reading at the offset
	// reached until a short piece arrives.
	var all []byte
	for {
		got, err := e.fake.ReadValue(ctx(t), app, p, gatttest.Options(dev, 23, uint16(len(all))))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 22 {
			got = got[:22] // an ATT Read Blob Response at MTU 23
		}
		all = append(all, got...)
		if len(got) < 22 {
			break
		}
	}
	if !bytes.Equal(all, long) {
		t.Errorf("long read assembled %d bytes, want %d", len(all), len(long))
	}
	// Static values (descriptor) honour offsets too.
	dp := app.Char(readUUID.String()).Descs[0].Path
	got, err := e.fake.ReadValue(ctx(t), app, dp, gatttest.Options(dev, 23, 2))
	if err != nil || string(got) != "bel" {
		t.Errorf("descriptor read at 2 = %q, %v", got, err)
	}
}

func TestRequestCarriesBluezOptions(t *testing.T) {
	reqs := make(chan gatt.Request, 4)
	e := start(t, gatt.Config{Services: basicServices(
		func(r *gatt.Request) ([]byte, error) { reqs <- *r; return []byte("x"), nil },
		func(r *gatt.Request, v []byte) error { reqs <- *r; return nil })})
	app := e.fake.App()
	dev := gatttest.DevicePath(centralAddr)
	if _, err := e.fake.ReadValue(ctx(t), app, app.Char(readUUID.String()).Path, gatttest.Options(dev, 517, 0)); err != nil {
		t.Fatal(err)
	}
	r := wait(t, reqs, "read request")
	if r.Device != dev || r.Address != centralAddr || r.MTU != 517 || r.Link != "LE" || r.Offset != 0 || r.Session == nil {
		t.Errorf("read request = %+v", r)
	}
	if err := e.fake.WriteValue(ctx(t), app, app.Char(writeUUID.String()).Path, []byte("abc"), gatttest.Options(dev, 23, 0)); err != nil {
		t.Fatal(err)
	}
	r = wait(t, reqs, "write request")
	if r.Type != gatt.WriteTypeRequest || string(r.Chunk) != "abc" || r.MTU != 23 {
		t.Errorf("write request = %+v", r)
	}
	if err := e.fake.WriteCommand(ctx(t), app, app.Char(cmdUUID.String()).Path, []byte("cmd"), gatttest.Options(dev, 23, 0)); err != nil {
		t.Fatal(err)
	}
	r = wait(t, reqs, "write command")
	if r.Type != gatt.WriteTypeCommand || string(r.Chunk) != "cmd" {
		t.Errorf("write command = %+v", r)
	}
}

func TestHandlerErrorsMapToBluezNames(t *testing.T) {
	tests := []struct {
		err     error
		name    string
		message string
	}{
		{gatt.ErrFailed, "org.bluez.Error.Failed", "0x80"},
		{gatt.ErrInProgress, "org.bluez.Error.InProgress", ""},
		{gatt.ErrNotPermitted, "org.bluez.Error.NotPermitted", ""},
		{gatt.ErrInvalidValueLength, "org.bluez.Error.InvalidValueLength", ""},
		{gatt.ErrInvalidOffset, "org.bluez.Error.InvalidOffset", ""},
		{gatt.ErrNotAuthorized, "org.bluez.Error.NotAuthorized", ""},
		{gatt.ErrNotSupported, "org.bluez.Error.NotSupported", ""},
		{fmt.Errorf("ssid: %w", gatt.ErrInvalidValueLength), "org.bluez.Error.InvalidValueLength", ""},
		{gatt.ATTError(0x85), "org.bluez.Error.Failed", "0x85"},
		{errors.New("secret detail"), "org.bluez.Error.Failed", "0x80"},
	}
	var mu sync.Mutex
	var next error
	h := func() error { mu.Lock(); defer mu.Unlock(); return next }
	e := start(t, gatt.Config{Services: basicServices(
		func(*gatt.Request) ([]byte, error) { return nil, h() },
		func(*gatt.Request, []byte) error { return h() })})
	app := e.fake.App()
	opts := gatttest.Options(gatttest.DevicePath(centralAddr), 23, 0)
	for _, tt := range tests {
		mu.Lock()
		next = tt.err
		mu.Unlock()
		_, rerr := e.fake.ReadValue(ctx(t), app, app.Char(readUUID.String()).Path, opts)
		werr := e.fake.WriteValue(ctx(t), app, app.Char(writeUUID.String()).Path, []byte{1}, opts)
		for _, err := range []error{rerr, werr} {
			if got := gatttest.ErrorName(err); got != tt.name {
				t.Errorf("%v: got %q, want %q", tt.err, got, tt.name)
			}
			var de dbus.Error
			if tt.message != "" && errors.As(err, &de) {
				if len(de.Body) == 0 || de.Body[0] != tt.message {
					t.Errorf("%v: message %v, want %q (BlueZ parses it as the ATT code)", tt.err, de.Body, tt.message)
				}
			}
			if strings.Contains(fmt.Sprint(err), "secret") {
				t.Errorf("handler error text leaked to the central: %v", err)
			}
		}
	}
}

func TestLongWriteAssembledByOffset(t *testing.T) {
	got := make(chan []byte, 16)
	e := start(t, gatt.Config{Services: basicServices(nil, func(r *gatt.Request, v []byte) error {
		got <- append([]byte(r.Address+"="), v...)
		return nil
	})})
	app := e.fake.App()
	p := app.Char(writeUUID.String()).Path
	a, b := gatttest.DevicePath("00:AA:01:01:00:01"), gatttest.DevicePath("00:AA:01:01:00:02")
	value := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	// Two devices interleave prepared writes of 18 bytes (MTU 23).
	for off := 0; off < len(value); off += 18 {
		end := min(off+18, len(value))
		for _, dev := range []dbus.ObjectPath{a, b} {
			if err := e.fake.WriteValue(ctx(t), app, p, value[off:end], gatttest.Options(dev, 23, uint16(off))); err != nil {
				t.Fatalf("write at %d: %v", off, err)
			}
			v := wait(t, got, "write")
			want := append([]byte(gatt.AddressFromPath(dev)+"="), value[:end]...)
			if !bytes.Equal(v, want) {
				t.Errorf("after write at %d: %q, want %q", off, v, want)
			}
		}
	}
	// Offset beyond what this device wrote.
	err := e.fake.WriteValue(ctx(t), app, p, []byte("x"), gatttest.Options(gatttest.DevicePath("00:AA:01:01:00:03"), 23, 5))
	if gatttest.ErrorName(err) != "org.bluez.Error.InvalidOffset" {
		t.Errorf("write past end: %v, want InvalidOffset", err)
	}
	// Offset 0 starts a new value; a later offset overwrites the tail.
	for _, w := range []struct {
		off  uint16
		data string
		want string
	}{{0, "hello world", "hello world"}, {6, "there", "hello there"}, {5, "!", "hello!"}} {
		if err := e.fake.WriteValue(ctx(t), app, p, []byte(w.data), gatttest.Options(a, 23, w.off)); err != nil {
			t.Fatal(err)
		}
		if v := wait(t, got, "write"); string(v) != gatt.AddressFromPath(a)+"="+w.want {
			t.Errorf("write %q at %d: %q, want %q", w.data, w.off, v, w.want)
		}
	}
	// A value longer than 512 bytes cannot be assembled.
	err = e.fake.WriteValue(ctx(t), app, p, make([]byte, 10), gatttest.Options(a, 23, 508))
	if gatttest.ErrorName(err) != "org.bluez.Error.InvalidOffset" {
		// offset 508 > 6 bytes written so far
		t.Errorf("write at 508: %v", err)
	}
}

func TestStaticValueWrittenAndRead(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	app := e.fake.App()
	opts := gatttest.Options(gatttest.DevicePath(centralAddr), 23, 0)
	dp := app.Char(readUUID.String()).Descs[0].Path
	if err := e.fake.WriteValue(ctx(t), app, dp, []byte("new label"), opts); err != nil {
		t.Fatal(err)
	}
	v, err := e.fake.ReadValue(ctx(t), app, dp, opts)
	if err != nil || string(v) != "new label" {
		t.Errorf("descriptor after write = %q, %v", v, err)
	}
	// A read-only characteristic without OnWrite still gets WriteValue from
	// nobody: BlueZ enforces flags. Reading a static value works.
	v, err = e.fake.ReadValue(ctx(t), app, app.Char(notifyUUID.String()).Path, opts)
	if err != nil || !bytes.Equal(v, []byte{1}) {
		t.Errorf("static read = %v, %v", v, err)
	}
}

func TestNotifyOnlyWhileSubscribed(t *testing.T) {
	subs := make(chan bool, 8)
	svcs := basicServices(nil, nil)
	svcs[0].Characteristics[2].OnSubscribe = func(on bool) { subs <- on }
	e := start(t, gatt.Config{Services: svcs})
	app := e.fake.App()
	ch := e.srv.Characteristic(notifyUUID)
	p := app.Char(notifyUUID.String()).Path
	if ch == nil || ch.Path() != p {
		t.Fatalf("Characteristic(%s) = %v", notifyUUID, ch)
	}
	if err := ch.Notify([]byte("A")); err != nil { // nobody subscribed: not sent
		t.Fatal(err)
	}
	if err := e.fake.StartNotify(ctx(t), app, p); err != nil {
		t.Fatal(err)
	}
	if !wait(t, subs, "subscribe") || !ch.Subscribed() {
		t.Fatal("not subscribed after StartNotify")
	}
	if err := ch.Notify([]byte("B")); err != nil {
		t.Fatal(err)
	}
	// Signals from one connection arrive in order, so had "A" been sent it
	// would come first.
	if n := wait(t, e.fake.Notifications(), "notification"); string(n.Value) != "B" || n.Path != p {
		t.Errorf("first notification %q on %s, want B on %s", n.Value, n.Path, p)
	}
	if err := e.fake.StopNotify(ctx(t), app, p); err != nil {
		t.Fatal(err)
	}
	if wait(t, subs, "unsubscribe") || ch.Subscribed() {
		t.Fatal("still subscribed after StopNotify")
	}
	_ = ch.Notify([]byte("C"))
	_ = e.fake.StartNotify(ctx(t), app, p)
	wait(t, subs, "subscribe")
	// Many goroutines at once.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = ch.Notify([]byte{'D', byte(i)}) }()
	}
	wg.Wait()
	for range 20 {
		if n := wait(t, e.fake.Notifications(), "notification"); n.Value[0] != 'D' {
			t.Fatalf("got %q after resubscribing, want D*", n.Value)
		}
	}
	// Reads return the last notified value.
	v, err := e.fake.ReadValue(ctx(t), app, p, gatttest.Options(gatttest.DevicePath(centralAddr), 23, 0))
	if err != nil || len(v) != 2 || v[0] != 'D' {
		t.Errorf("read after notify = %q, %v", v, err)
	}
	if err := e.srv.Characteristic(readUUID).Notify([]byte("x")); !errors.Is(err, gatt.ErrNotNotifiable) {
		t.Errorf("Notify on read-only characteristic: %v", err)
	}
	if err := ch.Notify(make([]byte, 513)); !errors.Is(err, gatt.ErrValueTooLong) {
		t.Errorf("Notify 513 bytes: %v", err)
	}
}

func TestIndicateWaitsForConfirm(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	app := e.fake.App()
	ch := e.srv.Characteristic(indUUID)
	p := ch.Path()
	// Nobody subscribed: returns at once.
	if err := ch.Indicate(ctx(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = e.fake.StartNotify(ctx(t), app, p)
	for !ch.Subscribed() {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- ch.Indicate(ctx(t), []byte("ind")) }()
	if n := wait(t, e.fake.Notifications(), "indication"); string(n.Value) != "ind" {
		t.Fatalf("indication %q", n.Value)
	}
	select {
	case err := <-done:
		t.Fatalf("Indicate returned %v before Confirm", err)
	default:
	}
	_ = e.fake.Confirm(ctx(t), app, p)
	if err := wait(t, done, "Indicate"); err != nil {
		t.Errorf("Indicate: %v", err)
	}
	// Without confirmation Indicate gives up with the context.
	c, cancel := context.WithCancel(context.Background())
	go func() { done <- ch.Indicate(c, []byte("lost")) }()
	wait(t, e.fake.Notifications(), "indication")
	cancel()
	if err := wait(t, done, "Indicate"); !errors.Is(err, context.Canceled) {
		t.Errorf("Indicate without Confirm: %v", err)
	}
}

func TestOnlyBluezMayCall(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	app := e.fake.App()
	other := e.bus.Conn(t)
	var v []byte
	err := other.Object(app.Owner, app.Char(readUUID.String()).Path).CallWithContext(ctx(t),
		"org.bluez.GattCharacteristic1.ReadValue", 0, map[string]dbus.Variant{}).Store(&v)
	if gatttest.ErrorName(err) != "org.bluez.Error.NotAuthorized" {
		t.Errorf("ReadValue from another peer: %v", err)
	}
}

func TestBluezRestartReRegisters(t *testing.T) {
	registered := make(chan struct{}, 8)
	errs := make(chan error, 8)
	subs := make(chan bool, 8)
	svcs := basicServices(nil, nil)
	svcs[0].Characteristics[2].OnSubscribe = func(on bool) { subs <- on }
	e := start(t, gatt.Config{
		Services:      svcs,
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: "bluenet"},
		OnRegistered:  func() { registered <- struct{}{} },
		OnError:       func(err error) { errs <- err },
	})
	wait(t, registered, "first registration")
	app := e.fake.App()
	p := app.Char(notifyUUID.String()).Path
	_ = e.fake.StartNotify(ctx(t), app, p)
	wait(t, subs, "subscribe")
	first := app.Owner

	e.fake.Stop()
	if err := wait(t, errs, "error report"); !errors.Is(err, gatt.ErrBluezNotRunning) {
		t.Errorf("reported %v, want ErrBluezNotRunning", err)
	}
	if wait(t, subs, "unsubscribe on bluetoothd exit") {
		t.Error("subscription survived bluetoothd")
	}
	if e.srv.Registered() {
		t.Error("Registered() true while bluetoothd is gone")
	}
	e.fake.Restart()
	wait(t, registered, "re-registration")
	select { // the name and the adapter both announce the restart
	case <-registered:
		t.Error("OnRegistered called twice for one restart")
	case <-time.After(300 * time.Millisecond):
	}
	app = e.fake.App()
	if app.Owner != first {
		t.Errorf("app registered by %s, want the server's connection %s", app.Owner, first)
	}
	if n := e.fake.Registrations(); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
	if len(e.fake.Advertisements()) != 1 || !e.srv.Advertising() {
		t.Errorf("advertisement not re-registered: %v", e.fake.Advertisements())
	}
	// The re-registered app answers.
	v, err := e.fake.ReadValue(ctx(t), app, app.Char(notifyUUID.String()).Path, gatttest.Options(gatttest.DevicePath(centralAddr), 23, 0))
	if err != nil || !bytes.Equal(v, []byte{1}) {
		t.Errorf("read after restart: %v, %v", v, err)
	}
}

// TestKilledBluezDisconnectsEarlyCentrals restarts the fake with a central
// still connected (a killed bluetoothd leaves LE links up): once the
// application is registered again, the server disconnects that central, so
// that it reconnects and finds the service; a central connecting afterwards
// is left alone.
func TestKilledBluezDisconnectsEarlyCentrals(t *testing.T) {
	registered := make(chan struct{}, 8)
	disc := make(chan gatt.Device, 8)
	e := start(t, gatt.Config{
		Services:     basicServices(nil, nil),
		OnRegistered: func() { registered <- struct{}{} },
		OnDisconnect: func(d gatt.Device) { disc <- d },
	})
	wait(t, registered, "first registration")
	e.fake.Connect(centralAddr)
	e.fake.Restart(centralAddr)
	if d := wait(t, disc, "disconnect when bluetoothd left"); d.Address != centralAddr {
		t.Fatalf("disconnected %s", d.Address)
	}
	wait(t, registered, "re-registration")
	if d := wait(t, disc, "disconnect of the early central"); d.Address != centralAddr {
		t.Fatalf("disconnected %s, want %s", d.Address, centralAddr)
	}
	if on, _ := e.fake.DeviceProperty(centralAddr, "Connected").Value().(bool); on {
		t.Error("early central still connected at bluetoothd")
	}
	const later = "00:AA:01:01:00:09"
	e.fake.Connect(later)
	select {
	case d := <-disc:
		t.Fatalf("disconnected %s, which connected after registration", d.Address)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestDevicesAndSessions(t *testing.T) {
	conns := make(chan gatt.Device, 8)
	discs := make(chan gatt.Device, 8)
	var sess *gatt.Session
	var mu sync.Mutex
	e := start(t, gatt.Config{
		Services: basicServices(func(r *gatt.Request) ([]byte, error) {
			mu.Lock()
			sess = r.Session
			mu.Unlock()
			r.Session.Store("k", "v")
			return nil, nil
		}, nil),
		OnConnect:    func(d gatt.Device) { conns <- d },
		OnDisconnect: func(d gatt.Device) { discs <- d },
	})
	p := e.fake.Connect(centralAddr)
	if d := wait(t, conns, "connect"); d.Path != p || d.Address != centralAddr {
		t.Errorf("connect event %+v", d)
	}
	if got := e.srv.Devices(); len(got) != 1 || got[0].Address != centralAddr {
		t.Errorf("Devices() = %v", got)
	}
	app := e.fake.App()
	if _, err := e.fake.ReadValue(ctx(t), app, app.Char(readUUID.String()).Path, gatttest.Options(p, 23, 0)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	s := sess
	mu.Unlock()
	if s == nil || s != e.srv.Session(p) || s.Address() != centralAddr {
		t.Fatalf("session %v, server has %v", s, e.srv.Session(p))
	}
	if v, ok := s.Load("k"); !ok || v != "v" {
		t.Errorf("Load = %v, %v", v, ok)
	}
	e.fake.Disconnect(centralAddr)
	if d := wait(t, discs, "disconnect"); d.Address != centralAddr {
		t.Errorf("disconnect event %+v", d)
	}
	wait(t, s.Done(), "session end")
	if _, ok := s.Load("k"); ok {
		t.Error("session kept its values after disconnect")
	}
	// Reconnect, then the device object disappears.
	e.fake.Connect(centralAddr)
	wait(t, conns, "reconnect")
	e.fake.RemoveDevice(centralAddr)
	wait(t, discs, "removal")
	// DisconnectAll calls Device1.Disconnect.
	e.fake.Connect("00:AA:01:01:00:09")
	wait(t, conns, "connect")
	if err := e.srv.DisconnectAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if d := wait(t, discs, "disconnect all"); d.Address != "00:AA:01:01:00:09" {
		t.Errorf("DisconnectAll disconnected %+v", d)
	}
}

func TestAdvertiseAtRunTime(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	if len(e.fake.Advertisements()) != 0 {
		t.Fatal("advertising before Advertise")
	}
	tx := int16(4)
	adv := gatt.Advertisement{
		ServiceUUIDs:     []gatt.UUID{svcUUID},
		LocalName:        "bluenet-test",
		ManufacturerData: map[uint16][]byte{0xffff: {1, 2}},
		Includes:         gatt.IncludeTxPower,
		MinInterval:      100 * time.Millisecond,
		MaxInterval:      200 * time.Millisecond,
		TxPower:          &tx,
	}
	if err := e.srv.Advertise(ctx(t), adv); err != nil {
		t.Fatal(err)
	}
	ads := e.fake.Advertisements()
	if len(ads) != 1 {
		t.Fatalf("%d advertisements", len(ads))
	}
	pr := ads[0].Props
	if pr["Type"].Value() != "peripheral" || pr["LocalName"].Value() != "bluenet-test" ||
		fmt.Sprint(pr["ServiceUUIDs"].Value()) != "["+svcUUID.String()+"]" ||
		pr["MinInterval"].Value() != uint32(100) || pr["MaxInterval"].Value() != uint32(200) ||
		pr["TxPower"].Value() != int16(4) || fmt.Sprint(pr["Includes"].Value()) != "[tx-power]" {
		t.Errorf("advertisement properties %v", pr)
	}
	md, _ := pr["ManufacturerData"].Value().(map[uint16]dbus.Variant)
	if b, _ := md[0xffff].Value().([]byte); !bytes.Equal(b, []byte{1, 2}) {
		t.Errorf("manufacturer data %v", pr["ManufacturerData"])
	}
	// Replace it.
	adv.LocalName = "other"
	if err := e.srv.Advertise(ctx(t), adv); err != nil {
		t.Fatal(err)
	}
	waitAdvs(t, e, "after replace", func(ads []*gatttest.Adv) bool {
		return len(ads) == 1 && ads[0].Props["LocalName"].Value() == "other"
	})
	if err := e.srv.StopAdvertising(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if len(e.fake.Advertisements()) != 0 || e.srv.Advertising() {
		t.Error("still advertising after StopAdvertising")
	}
	if err := e.srv.StopAdvertising(ctx(t)); err != nil {
		t.Errorf("second StopAdvertising: %v", err)
	}
}

func TestAdvertiseErrors(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	big := gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID, readUUID}}
	if err := e.srv.Advertise(ctx(t), big); !errors.Is(err, gatt.ErrAdvertisementTooLarge) {
		t.Errorf("two 128-bit UUIDs: %v, want ErrAdvertisementTooLarge", err)
	}
	name := gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: strings.Repeat("n", 30)}
	if err := e.srv.Advertise(ctx(t), name); !errors.Is(err, gatt.ErrAdvertisementTooLarge) {
		t.Errorf("30-byte name: %v", err)
	}
	e.fake.SetMaxAdvertisements(0)
	err := e.srv.Advertise(ctx(t), gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: "x"})
	if !errors.Is(err, gatt.ErrAdvertisingSlotsFull) {
		t.Errorf("no slots: %v, want ErrAdvertisingSlotsFull", err)
	}
	if e.srv.Advertising() {
		t.Error("Advertising() after failure")
	}
}

func TestAdapterControl(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	a := e.srv.Adapter()
	c := ctx(t)
	// The snapshot is what bluetoothd had when the server registered.
	if snap := a.Snapshot(); snap == nil || snap["Address"].Value() != gatttest.AdapterAddress ||
		snap["Powered"].Value() != e.fake.AdapterProperty("Powered").Value() {
		t.Errorf("Snapshot() = %v", snap)
	}
	if o, err := gatt.OpenAdapter(c, e.conn, "hci0", 0); err != nil || o.Snapshot()["Address"].Value() != gatttest.AdapterAddress {
		t.Errorf("OpenAdapter: %v, snapshot %v", err, o)
	}
	for _, step := range []struct {
		do   func() error
		prop string
		want any
	}{
		{func() error { return a.SetAlias(c, "bluenet") }, "Alias", "bluenet"},
		{func() error { return a.SetPowered(c, false) }, "Powered", false},
		{func() error { return a.SetPowered(c, true) }, "Powered", true},
		{func() error { return a.SetDiscoverable(c, true, 0) }, "Discoverable", true},
		{func() error { return nil }, "DiscoverableTimeout", uint32(0)},
		{func() error { return a.SetPairable(c, true) }, "Pairable", true},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.prop, err)
		}
		if got := e.fake.AdapterProperty(step.prop).Value(); got != step.want {
			t.Errorf("%s = %v, want %v", step.prop, got, step.want)
		}
		v, err := a.Property(c, step.prop)
		if err != nil || v.Value() != step.want {
			t.Errorf("Property(%s) = %v, %v", step.prop, v, err)
		}
	}
	list, err := gatt.Adapters(c, e.conn)
	if err != nil || len(list) != 1 || list[0].Address != gatttest.AdapterAddress {
		t.Errorf("Adapters = %v, %v", list, err)
	}
	b, err := gatt.OpenAdapter(c, e.conn, gatttest.AdapterAddress, 0)
	if err != nil || b.Path() != gatttest.AdapterPath {
		t.Errorf("OpenAdapter = %v, %v", b, err)
	}
}

// TestAdapterSetWaitsOutBusy: bluetoothd answers a Set with
// org.bluez.Error.Busy (and an empty message) while a change of the same
// setting is pending, as right after it started and began powering the
// adapter on by itself. A Set waits that out; one that stays busy beyond
// the call timeout fails with ErrBusy and says so.
func TestAdapterSetWaitsOutBusy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		busy    int
		timeout time.Duration
		wantErr bool
	}{
		{"not busy", 0, time.Second, false},
		{"busy three times", 3, 5 * time.Second, false},
		{"busy beyond the timeout", 1000, 300 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, gatt.Config{Services: basicServices(nil, nil)})
			a, err := gatt.OpenAdapter(ctx(t), e.conn, "hci0", tc.timeout)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.SetPowered(ctx(t), false); err != nil {
				t.Fatal(err)
			}
			e.fake.SetBusy("Powered", tc.busy)
			err = a.SetPowered(ctx(t), true)
			powered := e.fake.AdapterProperty("Powered").Value()
			if tc.wantErr {
				if !errors.Is(err, gatt.ErrBusy) || !strings.Contains(err.Error(), "org.bluez.Error.Busy") || powered != false {
					t.Errorf("SetPowered: %v, powered %v; want ErrBusy naming org.bluez.Error.Busy, still off", err, powered)
				}
				return
			}
			if err != nil || powered != true {
				t.Errorf("SetPowered: %v, powered %v; want on", err, powered)
			}
		})
	}
}

func TestCloseUnregisters(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil),
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}}})
	if len(e.fake.Apps()) != 1 || len(e.fake.Advertisements()) != 1 {
		t.Fatal("not registered")
	}
	root := e.srv.Root()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if len(e.fake.Apps()) != 0 || len(e.fake.Advertisements()) != 0 {
		t.Error("still registered after Close")
	}
	err := e.bus.Conn(t).Object(e.conn.Names()[0], root).CallWithContext(ctx(t), "org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Err
	if err == nil {
		t.Error("objects still exported after Close")
	}
	if err := e.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := e.srv.Characteristic(notifyUUID).Notify([]byte{1}); !errors.Is(err, gatt.ErrClosed) {
		t.Errorf("Notify after Close: %v", err)
	}
}

func TestAdvertiseInstances(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	names := func() []string {
		var out []string
		for _, a := range e.fake.Advertisements() {
			out = append(out, fmt.Sprint(a.Props["LocalName"].Value()))
		}
		sort.Strings(out)
		return out
	}
	for i, name := range []string{"one", "two"} {
		if err := e.srv.AdvertiseInstance(ctx(t), i, gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: name}); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	if got := names(); fmt.Sprint(got) != "[one two]" {
		t.Fatalf("advertisements %v, want [one two]", got)
	}
	// Replacing one instance leaves the other alone.
	if err := e.srv.AdvertiseInstance(ctx(t), 1, gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: "three"}); err != nil {
		t.Fatal(err)
	}
	waitAdvs(t, e, "after replacing 1", func([]*gatttest.Adv) bool { return fmt.Sprint(names()) == "[one three]" })
	// Both come back after bluetoothd restarts.
	e.fake.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.fake.Advertisements()) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := names(); fmt.Sprint(got) != "[one three]" {
		t.Fatalf("after a bluetoothd restart: %v", got)
	}
	if err := e.srv.StopInstance(ctx(t), 0); err != nil {
		t.Fatal(err)
	}
	if got := names(); fmt.Sprint(got) != "[three]" || e.srv.AdvertisingInstance(0) || !e.srv.AdvertisingInstance(1) || !e.srv.Advertising() {
		t.Fatalf("after stopping 0: %v", got)
	}
	if err := e.srv.AdvertiseInstance(ctx(t), gatt.MaxAdvertisements, gatt.Advertisement{}); err == nil {
		t.Error("instance out of range accepted")
	}
	if err := e.srv.StopAdvertising(ctx(t)); err != nil || e.srv.Advertising() || len(names()) != 0 {
		t.Fatalf("StopAdvertising: %v, still %v", err, names())
	}
}

// Every object introspects (built at the first call): its interface, the
// Properties and Introspectable interfaces, and its children.
func TestIntrospect(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	other := e.bus.Conn(t)
	intro := func(p dbus.ObjectPath) string {
		t.Helper()
		var s string
		if err := other.Object(e.conn.Names()[0], p).CallWithContext(ctx(t), "org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&s); err != nil {
			t.Fatalf("Introspect %s: %v", p, err)
		}
		return s
	}
	root := e.srv.Root()
	for _, tc := range []struct {
		path dbus.ObjectPath
		want []string
	}{
		{root, []string{`<interface name="org.freedesktop.DBus.ObjectManager">`, `<method name="GetManagedObjects">`, `<node name="service0">`}},
		{root + "/service0", []string{`<interface name="org.bluez.GattService1">`, `<interface name="org.freedesktop.DBus.Properties">`, `<node name="char0">`}},
		{root + "/service0/char0", []string{`<interface name="org.bluez.GattCharacteristic1">`, `<method name="ReadValue">`, `<interface name="org.freedesktop.DBus.Introspectable">`}},
	} {
		for range 2 { // the second answer is the first's
			got := intro(tc.path)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: no %s in\n%s", tc.path, w, got)
				}
			}
		}
	}
}

// waitAdvs waits up to 5 s until the fake's advertisements satisfy ok.
func waitAdvs(t *testing.T, e *env, what string, ok func([]*gatttest.Adv) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ads := e.fake.Advertisements()
		if ok(ads) {
			return
		}
		if time.Now().After(deadline) {
			var props []map[string]dbus.Variant
			for _, a := range ads {
				props = append(props, a.Props)
			}
			t.Fatalf("%s: advertisements %v", what, props)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAdvertiseReplace checks that replacing a registered advertisement
// re-registers it, never changes it in place (a PropertiesChanged of
// LEAdvertisement1, see AdvertiseInstance), and that the same data changes
// nothing.
// TestAdvertiseWaitsForRegistration: a RegisterAdvertisement that has been
// sent is waited for even when the caller's context ends meanwhile, so that
// StopAdvertising finds the advertisement registered and unregisters it
// (BlueZ 5.66 aborts when an advertisement is unregistered, or its client
// leaves the bus, while its registration is pending); an ended context
// sends nothing.
func TestAdvertiseWaitsForRegistration(t *testing.T) {
	e := start(t, gatt.Config{Services: basicServices(nil, nil)})
	const delay = 300 * time.Millisecond
	e.fake.SetRegisterDelay(delay)
	adv := gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}}

	cctx, cancel := context.WithCancel(ctx(t))
	time.AfterFunc(50*time.Millisecond, cancel)
	t0 := time.Now()
	err := e.srv.Advertise(cctx, adv)
	if took := time.Since(t0); err != nil || took < delay {
		t.Fatalf("Advertise with its context cancelled after 50ms: %v after %v; want success after the answer (%v)", err, took, delay)
	}
	if !e.srv.Advertising() {
		t.Fatal("not advertising after a registration bluetoothd accepted")
	}
	if err := e.srv.StopAdvertising(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitAdvs(t, e, "after StopAdvertising", func(ads []*gatttest.Adv) bool { return len(ads) == 0 })

	regs, _ := e.fake.AdvertisementUpdates()
	ended, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := e.srv.Advertise(ended, adv); !errors.Is(err, context.Canceled) {
		t.Errorf("Advertise with an ended context: %v, want context.Canceled", err)
	}
	if after, _ := e.fake.AdvertisementUpdates(); after != regs {
		t.Errorf("an ended context sent a registration (%d, then %d)", regs, after)
	}
}

func TestAdvertiseReplace(t *testing.T) {
	sdUUID := gatt.UUID16(0x4677) // Improv's service data UUID
	base := gatt.Advertisement{
		ServiceUUIDs: []gatt.UUID{svcUUID},
		ServiceData:  map[gatt.UUID][]byte{sdUUID: {1, 2}},
		LocalName:    "before",
	}
	tests := []struct {
		name   string
		change func(a *gatt.Advertisement)
		same   bool
		check  func(p map[string]dbus.Variant) bool
	}{
		{"same", func(*gatt.Advertisement) {}, true, func(p map[string]dbus.Variant) bool { return p["LocalName"].Value() == "before" }},
		{"service data", func(a *gatt.Advertisement) { a.ServiceData = map[gatt.UUID][]byte{sdUUID: {3}} }, false,
			func(p map[string]dbus.Variant) bool {
				sd, _ := p["ServiceData"].Value().(map[string]dbus.Variant)
				b, _ := sd[sdUUID.String()].Value().([]byte)
				return bytes.Equal(b, []byte{3})
			}},
		{"local name", func(a *gatt.Advertisement) { a.LocalName = "after" }, false, func(p map[string]dbus.Variant) bool { return p["LocalName"].Value() == "after" }},
		{"service data removed", func(a *gatt.Advertisement) { a.ServiceData = nil }, false, func(p map[string]dbus.Variant) bool { _, ok := p["ServiceData"]; return !ok }},
		{"appearance added", func(a *gatt.Advertisement) { a.Appearance = 0x0080 }, false, func(p map[string]dbus.Variant) bool { return p["Appearance"].Value() == uint16(0x0080) }},
		{"duration", func(a *gatt.Advertisement) { a.Duration = 1 }, false, func(p map[string]dbus.Variant) bool { return p["Duration"].Value() == uint16(1) }},
		{"type", func(a *gatt.Advertisement) { a.Type = gatt.AdvertiseBroadcast }, false, func(p map[string]dbus.Variant) bool { return p["Type"].Value() == "broadcast" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, gatt.Config{Services: basicServices(nil, nil)})
			if err := e.srv.Advertise(ctx(t), base); err != nil {
				t.Fatal(err)
			}
			next := base
			tt.change(&next)
			if err := e.srv.Advertise(ctx(t), next); err != nil {
				t.Fatal(err)
			}
			waitAdvs(t, e, "after the replacement", func(ads []*gatttest.Adv) bool { return len(ads) == 1 && tt.check(ads[0].Props) })
			regs, changes := e.fake.AdvertisementUpdates()
			wantRegs := 2
			if tt.same {
				wantRegs = 1
			}
			if regs != wantRegs || changes != 0 {
				t.Errorf("registrations %d, changes in place %d; want %d, 0", regs, changes, wantRegs)
			}
			if !e.srv.Advertising() {
				t.Error("not advertising after the replacement")
			}
		})
	}
}

// TestAdvertiseRegisteredLate: bluetoothd answered a RegisterAdvertisement
// only after the call timeout, and registered it all the same (a busy
// bluetoothd on a slow device). The next registration gets AlreadyExists.
// The same advertisement then counts as registered; a changed one is
// reported and replaced by the next call, never unregistered while the late
// registration might still be pending (BlueZ 5.66 aborts on that).
func TestAdvertiseRegisteredLate(t *testing.T) {
	tests := []struct {
		name    string
		next    string // LocalName of the next Advertise
		wantErr bool   // from that Advertise
	}{
		{"same advertisement", "before", false},
		{"changed advertisement", "after", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, gatt.Config{Services: basicServices(nil, nil), CallTimeout: 200 * time.Millisecond})
			e.fake.SetRegisterDelay(600 * time.Millisecond)
			adv := gatt.Advertisement{ServiceUUIDs: []gatt.UUID{svcUUID}, LocalName: "before"}
			if err := e.srv.Advertise(ctx(t), adv); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Advertise answered after the call timeout: %v, want context.DeadlineExceeded", err)
			}
			waitAdvs(t, e, "registered late", func(ads []*gatttest.Adv) bool { return len(ads) == 1 })
			e.fake.SetRegisterDelay(0)

			adv.LocalName = tt.next
			err := e.srv.Advertise(ctx(t), adv)
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, gatt.ErrAlreadyExists)) {
				t.Fatalf("Advertise after a late registration: %v, want an ErrAlreadyExists error: %v", err, tt.wantErr)
			}
			if !e.srv.Advertising() {
				t.Error("not advertising")
			}
			if tt.wantErr {
				// The next call replaces what bluetoothd registered late.
				if err := e.srv.Advertise(ctx(t), adv); err != nil {
					t.Fatalf("Advertise again: %v", err)
				}
			}
			waitAdvs(t, e, "registered", func(ads []*gatttest.Adv) bool {
				return len(ads) == 1 && ads[0].Props["LocalName"].Value() == tt.next
			})
		})
	}
}
