package client

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// fakeBluez is BlueZ as a central sees it, on a private bus: one adapter,
// remote devices with their advertised UUIDs and service data, and their
// resolved GATT characteristics, whose reads, writes and notifications a
// test peripheral (fakeImprov) answers. Only what package central calls is
// there.
type fakeBluez struct {
	t    *testing.T
	conn *dbus.Conn

	mu        sync.Mutex
	objs      map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	onWrite   map[dbus.ObjectPath]func(value []byte, opts map[string]dbus.Variant) *dbus.Error
	notifying map[dbus.ObjectPath]bool
}

const (
	fakeAdapter = dbus.ObjectPath("/org/bluez/hci0")
	ifDevice    = "org.bluez.Device1"
	ifAdapter   = "org.bluez.Adapter1"
	ifService   = "org.bluez.GattService1"
	ifChar      = "org.bluez.GattCharacteristic1"
	ifProps     = "org.freedesktop.DBus.Properties"
)

// newFakeBluez starts a private bus with the fake on it and returns a
// connection for the code under test.
func newFakeBluez(t *testing.T) (*fakeBluez, *dbus.Conn) {
	bus := dbustest.New(t)
	f := &fakeBluez{t: t, conn: bus.Conn(t),
		objs: map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
			fakeAdapter: {ifAdapter: {"Address": dbus.MakeVariant("00:AA:01:01:00:01"), "Powered": dbus.MakeVariant(true)}},
		},
		onWrite: map[dbus.ObjectPath]func([]byte, map[string]dbus.Variant) *dbus.Error{}, notifying: map[dbus.ObjectPath]bool{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.conn.Export(fakeObjMgr{f}, "/", "org.freedesktop.DBus.ObjectManager"))
	must(f.conn.Export(fakeAdapterObj{f}, fakeAdapter, ifAdapter))
	must(f.conn.Export(fakeProps{f, fakeAdapter}, fakeAdapter, ifProps))
	reply, err := f.conn.RequestName("org.bluez", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request org.bluez: %v %v", err, reply)
	}
	return f, bus.Conn(t)
}

func devicePath(addr string) dbus.ObjectPath {
	return fakeAdapter + "/dev_" + dbus.ObjectPath(strings.ReplaceAll(addr, ":", "_"))
}

// fakeChar is a characteristic to add to a device.
type fakeChar struct {
	uuid    string
	value   []byte
	onWrite func(value []byte, opts map[string]dbus.Variant) *dbus.Error
}

// addDevice adds an advertising device with one primary service.
func (f *fakeBluez) addDevice(addr, name string, uuids []string, serviceData map[string][]byte, svcUUID string, chars []fakeChar) dbus.ObjectPath {
	f.t.Helper()
	dev := devicePath(addr)
	sd := map[string]dbus.Variant{}
	for k, v := range serviceData {
		sd[k] = dbus.MakeVariant(v)
	}
	f.mu.Lock()
	f.objs[dev] = map[string]map[string]dbus.Variant{ifDevice: {
		"Address": dbus.MakeVariant(addr), "Name": dbus.MakeVariant(name), "Alias": dbus.MakeVariant(name),
		"RSSI": dbus.MakeVariant(int16(-55)), "UUIDs": dbus.MakeVariant(uuids), "ServiceData": dbus.MakeVariant(sd),
		"Connected": dbus.MakeVariant(false), "ServicesResolved": dbus.MakeVariant(false),
		"Paired": dbus.MakeVariant(false), "Trusted": dbus.MakeVariant(false),
	}}
	svc := dev + "/service0001"
	f.objs[svc] = map[string]map[string]dbus.Variant{ifService: {
		"UUID": dbus.MakeVariant(svcUUID), "Device": dbus.MakeVariant(dev), "Primary": dbus.MakeVariant(true)}}
	paths := []dbus.ObjectPath{dev, svc}
	for i, c := range chars {
		p := svc + dbus.ObjectPath(fmt.Sprintf("/char%04x", i+2))
		f.objs[p] = map[string]map[string]dbus.Variant{ifChar: {
			"UUID": dbus.MakeVariant(c.uuid), "Service": dbus.MakeVariant(svc),
			"Value": dbus.MakeVariant(c.value), "Flags": dbus.MakeVariant([]string{"read", "write", "notify"})}}
		if c.onWrite != nil {
			f.onWrite[p] = c.onWrite
		}
		paths = append(paths, p)
		if err := f.conn.Export(fakeCharObj{f, p}, p, ifChar); err != nil {
			f.t.Fatal(err)
		}
	}
	f.mu.Unlock()
	for _, p := range paths {
		if err := f.conn.Export(fakeProps{f, p}, p, ifProps); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.conn.Export(fakeDeviceObj{f, dev}, dev, ifDevice); err != nil {
		f.t.Fatal(err)
	}
	return dev
}

// set changes properties and sends PropertiesChanged, as BlueZ does.
func (f *fakeBluez) set(p dbus.ObjectPath, iface string, changed map[string]dbus.Variant) {
	f.mu.Lock()
	maps.Copy(f.objs[p][iface], changed)
	f.mu.Unlock()
	_ = f.conn.Emit(p, ifProps+".PropertiesChanged", iface, changed, []string{})
}

// charPath finds the characteristic uuid of device dev.
func (f *fakeBluez) charPath(dev dbus.ObjectPath, uuid string) dbus.ObjectPath {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, ifs := range f.objs {
		if c, ok := ifs[ifChar]; ok && strings.HasPrefix(string(p), string(dev)+"/") && c["UUID"].Value().(string) == uuid {
			return p
		}
	}
	f.t.Fatalf("no characteristic %s", uuid)
	return ""
}

// notify sets a characteristic's value and, when a central subscribed,
// notifies it.
func (f *fakeBluez) notify(p dbus.ObjectPath, v []byte) {
	f.mu.Lock()
	on := f.notifying[p]
	f.objs[p][ifChar]["Value"] = dbus.MakeVariant(v)
	f.mu.Unlock()
	if on {
		_ = f.conn.Emit(p, ifProps+".PropertiesChanged", ifChar, map[string]dbus.Variant{"Value": dbus.MakeVariant(v)}, []string{})
	}
}

type fakeObjMgr struct{ f *fakeBluez }

func (o fakeObjMgr) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	out := map[dbus.ObjectPath]map[string]map[string]dbus.Variant{}
	for p, ifs := range o.f.objs {
		out[p] = map[string]map[string]dbus.Variant{}
		for i, props := range ifs {
			out[p][i] = maps.Clone(props)
		}
	}
	return out, nil
}

type fakeAdapterObj struct{ f *fakeBluez }

func (fakeAdapterObj) SetDiscoveryFilter(map[string]dbus.Variant) *dbus.Error { return nil }
func (fakeAdapterObj) StartDiscovery() *dbus.Error                            { return nil }
func (fakeAdapterObj) StopDiscovery() *dbus.Error                             { return nil }

// RemoveDevice keeps the device: it would come back with its next
// advertisement anyway.
func (fakeAdapterObj) RemoveDevice(dbus.ObjectPath) *dbus.Error { return nil }

type fakeProps struct {
	f *fakeBluez
	p dbus.ObjectPath
}

func (o fakeProps) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	v, ok := o.f.objs[o.p][iface][name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no property " + name})
	}
	return v, nil
}

func (o fakeProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	return maps.Clone(o.f.objs[o.p][iface]), nil
}

type fakeDeviceObj struct {
	f *fakeBluez
	p dbus.ObjectPath
}

func (d fakeDeviceObj) Connect() *dbus.Error {
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"Connected": dbus.MakeVariant(true)})
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(true)})
	return nil
}

func (d fakeDeviceObj) Disconnect() *dbus.Error {
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(false), "Connected": dbus.MakeVariant(false)})
	return nil
}

type fakeCharObj struct {
	f *fakeBluez
	p dbus.ObjectPath
}

func (c fakeCharObj) ReadValue(map[string]dbus.Variant) ([]byte, *dbus.Error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	v, _ := c.f.objs[c.p][ifChar]["Value"].Value().([]byte)
	return v, nil
}

func (c fakeCharObj) WriteValue(value []byte, opts map[string]dbus.Variant) *dbus.Error {
	c.f.mu.Lock()
	fn := c.f.onWrite[c.p]
	c.f.mu.Unlock()
	if fn == nil {
		return dbus.NewError("org.bluez.Error.NotPermitted", []any{"Write not permitted"})
	}
	return fn(value, opts)
}

func (c fakeCharObj) StartNotify() *dbus.Error {
	c.f.mu.Lock()
	c.f.notifying[c.p] = true
	c.f.mu.Unlock()
	return nil
}

func (c fakeCharObj) StopNotify() *dbus.Error {
	c.f.mu.Lock()
	c.f.notifying[c.p] = false
	c.f.mu.Unlock()
	return nil
}

// fakeImprov is a small Improv device, written with package improv: enough
// of the spec to drive the client's flows.
type fakeImprov struct {
	f   *fakeBluez
	dev dbus.ObjectPath

	// Set before the test starts.
	password       string // the password that joins; any other fails with 0x03
	url            string // the redirect URL; "" sends an empty result
	noResult       bool   // Provisioned without an RPC result
	perNetworkScan bool   // scan answered as Improv via serial does
	nets           []improv.Network
	info           improv.DeviceInfo

	mu         sync.Mutex
	state      improv.State
	errc       improv.ErrorCode
	caps       improv.Capabilities
	asm        improv.Assembler
	hostname   string
	name       string
	identified int
	writeTypes []string // "request" or "command", one per write
	ssid       string
}

const improvAddr = "00:AA:01:00:00:07"

func newFakeImprov(t *testing.T, state improv.State, caps improv.Capabilities) (*fakeImprov, *dbus.Conn) {
	f, conn := newFakeBluez(t)
	d := &fakeImprov{f: f, state: state, caps: caps, password: "right-password", url: "http://192.0.2.7/",
		hostname: "esp-plug", name: "Plug",
		info: improv.DeviceInfo{FirmwareName: "ESPHome", FirmwareVersion: "2024.1.0", Hardware: "esp32-c3", DeviceName: "Plug"}}
	d.dev = f.addDevice(improvAddr, "esp-plug", []string{improv.ServiceUUID},
		map[string][]byte{improv.ServiceDataUUID: improv.EncodeServiceData(state, caps)}, improv.ServiceUUID,
		[]fakeChar{
			{uuid: improv.StateUUID, value: []byte{byte(state)}},
			{uuid: improv.ErrorUUID, value: []byte{0}},
			{uuid: improv.RPCCommandUUID, onWrite: d.write},
			{uuid: improv.RPCResultUUID},
			{uuid: improv.CapabilitiesUUID, value: []byte{byte(caps)}},
		})
	return d, conn
}

func (d *fakeImprov) setState(s improv.State) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
	d.f.notify(d.f.charPath(d.dev, improv.StateUUID), []byte{byte(s)})
}

// setError notifies only changes, as ESPHome does.
func (d *fakeImprov) setError(e improv.ErrorCode) {
	d.mu.Lock()
	changed := d.errc != e
	d.errc = e
	d.mu.Unlock()
	if changed {
		d.f.notify(d.f.charPath(d.dev, improv.ErrorUUID), []byte{byte(e)})
	}
}

func (d *fakeImprov) result(b []byte) { d.f.notify(d.f.charPath(d.dev, improv.RPCResultUUID), b) }

func (d *fakeImprov) write(value []byte, opts map[string]dbus.Variant) *dbus.Error {
	typ, _ := opts["type"].Value().(string)
	if typ == "" {
		typ = "request"
	}
	off, _ := opts["offset"].Value().(uint16)
	d.mu.Lock()
	d.writeTypes = append(d.writeTypes, typ)
	p, done, err := d.asm.Write(int(off), value)
	d.mu.Unlock()
	if err != nil {
		d.setError(improv.CodeOf(err))
		return nil
	}
	if done {
		go d.handle(p) // answer after the write returns, as a device does
	}
	return nil
}

func (d *fakeImprov) handle(p improv.Packet) {
	d.setError(improv.ErrorNone)
	d.mu.Lock()
	state := d.state
	d.mu.Unlock()
	switch p.Command {
	case improv.CommandWiFiSettings:
		w, err := improv.ParseWiFiSettings(p.Data)
		if err != nil {
			d.setError(improv.ErrorInvalidRPC)
			return
		}
		if state != improv.StateAuthorized {
			d.setError(improv.ErrorNotAuthorized)
			return
		}
		d.mu.Lock()
		d.ssid = w.SSID
		d.mu.Unlock()
		d.setState(improv.StateProvisioning)
		time.Sleep(50 * time.Millisecond)
		if w.Password != d.password {
			d.setError(improv.ErrorUnableToConnect)
			d.setState(improv.StateAuthorized)
			return
		}
		d.setState(improv.StateProvisioned)
		if !d.noResult {
			var b []byte
			if d.url != "" {
				b, _ = improv.EncodeResult(improv.CommandWiFiSettings, d.url)
			} else {
				b, _ = improv.EncodeResult(improv.CommandWiFiSettings)
			}
			d.result(b)
		}
	case improv.CommandIdentify:
		d.mu.Lock()
		d.identified++
		d.mu.Unlock()
	case improv.CommandDeviceInfo:
		d.result(improv.EncodeDeviceInfo(d.info))
	case improv.CommandScan:
		if !d.perNetworkScan {
			b, _ := improv.EncodeScanResult(d.nets)
			d.result(b)
			return
		}
		for _, n := range d.nets {
			b, _ := improv.EncodeResult(improv.CommandScan, n.SSID, fmt.Sprint(n.RSSI), string(n.Auth))
			d.result(b)
			time.Sleep(10 * time.Millisecond)
		}
		b, _ := improv.EncodeResult(improv.CommandScan)
		d.result(b)
	case improv.CommandHostname, improv.CommandDeviceName:
		name, set, _ := improv.ParseNameArgument(p.Data)
		d.mu.Lock()
		target := &d.hostname
		if p.Command == improv.CommandDeviceName {
			target = &d.name
		}
		if set && p.Command == improv.CommandHostname && !improv.ValidHostname(name) {
			d.mu.Unlock()
			d.setError(improv.ErrorBadHostname)
			return
		}
		if set {
			*target = name
		}
		name = *target
		d.mu.Unlock()
		b, _ := improv.EncodeResult(p.Command, name)
		d.result(b)
	default:
		d.setError(improv.ErrorUnknownRPC)
	}
}

// authorize is the button press.
func (d *fakeImprov) authorize() { d.setState(improv.StateAuthorized) }

// newTestClient opens a Client on the fake's bus with short timeouts.
func newTestClient(t *testing.T, conn *dbus.Conn, mod func(*Config)) *Client {
	cfg := Config{Conn: conn, ScanTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second,
		ResultGrace: 300 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
