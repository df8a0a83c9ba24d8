// Package centralfake is BlueZ as a Bluetooth LE central sees it, on a
// private D-Bus (package dbustest): one adapter and remote devices with their
// advertised UUIDs and service data and their resolved GATT characteristics,
// whose reads, writes and notifications a test peripheral answers; and
// Improv and Bluenet, small devices of either protocol written with packages
// protocol/improv and protocol/bluenet.
// Only what package central calls is there. Point DBUS_SYSTEM_BUS_ADDRESS at
// Bus.Address to run the bluenet command against it.
package centralfake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// Bluez is BlueZ as a central sees it, on a private bus: one adapter
// (hci0), remote devices with their advertised UUIDs and service data, and
// their resolved GATT characteristics, whose reads, writes and notifications
// a test peripheral (such as Improv) answers.
type Bluez struct {
	// Address is the private bus's address (for DBUS_SYSTEM_BUS_ADDRESS).
	Address string

	t    testing.TB
	conn *dbus.Conn

	mu        sync.Mutex
	objs      map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	onWrite   map[dbus.ObjectPath]func(value []byte, opts map[string]dbus.Variant) *dbus.Error
	notifying map[dbus.ObjectPath]bool
}

const (
	// AdapterPath is the fake's one adapter.
	AdapterPath = dbus.ObjectPath("/org/bluez/hci0")
	ifDevice    = "org.bluez.Device1"
	ifAdapter   = "org.bluez.Adapter1"
	ifService   = "org.bluez.GattService1"
	ifChar      = "org.bluez.GattCharacteristic1"
	ifProps     = "org.freedesktop.DBus.Properties"
)

// New starts a private bus with the fake on it and returns a connection
// to it for the code under test. Both end with the test.
func New(t testing.TB) (*Bluez, *dbus.Conn) {
	bus := dbustest.New(t)
	f := &Bluez{Address: bus.Address, t: t, conn: bus.Conn(t),
		objs: map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
			AdapterPath: {ifAdapter: {"Address": dbus.MakeVariant("00:AA:01:01:00:01"), "Powered": dbus.MakeVariant(true)}},
		},
		onWrite: map[dbus.ObjectPath]func([]byte, map[string]dbus.Variant) *dbus.Error{}, notifying: map[dbus.ObjectPath]bool{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.conn.Export(objMgr{f}, "/", "org.freedesktop.DBus.ObjectManager"))
	must(f.conn.Export(adapterObj{f}, AdapterPath, ifAdapter))
	must(f.conn.Export(propsObj{f, AdapterPath}, AdapterPath, ifProps))
	reply, err := f.conn.RequestName("org.bluez", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request org.bluez: %v %v", err, reply)
	}
	return f, bus.Conn(t)
}

// DevicePath is where the device with this address is.
func DevicePath(addr string) dbus.ObjectPath {
	return AdapterPath + "/dev_" + dbus.ObjectPath(strings.ReplaceAll(addr, ":", "_"))
}

// Char is a characteristic to add to a device.
type Char struct {
	UUID  string // lower-case 128-bit
	Value []byte // its initial value
	// OnWrite answers WriteValue (opts as BlueZ passes them: "type",
	// "offset"); nil refuses writes with NotPermitted.
	OnWrite func(value []byte, opts map[string]dbus.Variant) *dbus.Error
}

// AddDevice adds an advertising device (RSSI -55) with one primary service
// svcUUID holding chars. uuids are the advertised service UUIDs and
// serviceData the advertised service data, by 128-bit UUID.
func (f *Bluez) AddDevice(addr, name string, uuids []string, serviceData map[string][]byte, svcUUID string, chars []Char) dbus.ObjectPath {
	f.t.Helper()
	dev := DevicePath(addr)
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
			"UUID": dbus.MakeVariant(c.UUID), "Service": dbus.MakeVariant(svc),
			"Value": dbus.MakeVariant(append([]byte{}, c.Value...)), "Flags": dbus.MakeVariant([]string{"read", "write", "notify"})}}
		if c.OnWrite != nil {
			f.onWrite[p] = c.OnWrite
		}
		paths = append(paths, p)
		if err := f.conn.Export(charObj{f, p}, p, ifChar); err != nil {
			f.t.Fatal(err)
		}
	}
	f.mu.Unlock()
	for _, p := range paths {
		if err := f.conn.Export(propsObj{f, p}, p, ifProps); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.conn.Export(deviceObj{f, dev}, dev, ifDevice); err != nil {
		f.t.Fatal(err)
	}
	return dev
}

// set changes properties and sends PropertiesChanged, as BlueZ does.
func (f *Bluez) set(p dbus.ObjectPath, iface string, changed map[string]dbus.Variant) {
	f.mu.Lock()
	maps.Copy(f.objs[p][iface], changed)
	f.mu.Unlock()
	_ = f.conn.Emit(p, ifProps+".PropertiesChanged", iface, changed, []string{})
}

// CharPath finds the characteristic uuid of device dev.
func (f *Bluez) CharPath(dev dbus.ObjectPath, uuid string) dbus.ObjectPath {
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

// Notify sets a characteristic's value and, when a central subscribed,
// notifies it.
func (f *Bluez) Notify(p dbus.ObjectPath, v []byte) {
	f.mu.Lock()
	on := f.notifying[p]
	f.objs[p][ifChar]["Value"] = dbus.MakeVariant(v)
	f.mu.Unlock()
	if on {
		_ = f.conn.Emit(p, ifProps+".PropertiesChanged", ifChar, map[string]dbus.Variant{"Value": dbus.MakeVariant(v)}, []string{})
	}
}

type objMgr struct{ f *Bluez }

func (o objMgr) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
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

type adapterObj struct{ f *Bluez }

func (adapterObj) SetDiscoveryFilter(map[string]dbus.Variant) *dbus.Error { return nil }
func (adapterObj) StartDiscovery() *dbus.Error                            { return nil }
func (adapterObj) StopDiscovery() *dbus.Error                             { return nil }

// RemoveDevice keeps the device: it would come back with its next
// advertisement anyway.
func (adapterObj) RemoveDevice(dbus.ObjectPath) *dbus.Error { return nil }

type propsObj struct {
	f *Bluez
	p dbus.ObjectPath
}

func (o propsObj) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	v, ok := o.f.objs[o.p][iface][name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no property " + name})
	}
	return v, nil
}

func (o propsObj) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	return maps.Clone(o.f.objs[o.p][iface]), nil
}

type deviceObj struct {
	f *Bluez
	p dbus.ObjectPath
}

func (d deviceObj) Connect() *dbus.Error {
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"Connected": dbus.MakeVariant(true)})
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(true)})
	return nil
}

func (d deviceObj) Disconnect() *dbus.Error {
	d.f.set(d.p, ifDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(false), "Connected": dbus.MakeVariant(false)})
	return nil
}

type charObj struct {
	f *Bluez
	p dbus.ObjectPath
}

func (c charObj) ReadValue(map[string]dbus.Variant) ([]byte, *dbus.Error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	v, _ := c.f.objs[c.p][ifChar]["Value"].Value().([]byte)
	return v, nil
}

func (c charObj) WriteValue(value []byte, opts map[string]dbus.Variant) *dbus.Error {
	c.f.mu.Lock()
	fn := c.f.onWrite[c.p]
	c.f.mu.Unlock()
	if fn == nil {
		return dbus.NewError("org.bluez.Error.NotPermitted", []any{"Write not permitted"})
	}
	return fn(value, opts)
}

func (c charObj) StartNotify() *dbus.Error {
	c.f.mu.Lock()
	c.f.notifying[c.p] = true
	c.f.mu.Unlock()
	return nil
}

func (c charObj) StopNotify() *dbus.Error {
	c.f.mu.Lock()
	c.f.notifying[c.p] = false
	c.f.mu.Unlock()
	return nil
}

// Improv is a small Improv Wi-Fi device, written with package
// protocol/improv: enough of the spec to drive a client's flows. Its
// exported fields may be set before the first command arrives.
type Improv struct {
	f   *Bluez
	dev dbus.ObjectPath

	// Password is the one that joins; any other fails with error 0x03.
	Password string
	// URL is the redirect URL of the Wi-Fi settings result; "" sends a
	// result without strings.
	URL string
	// NoResult: Provisioned without an RPC result.
	NoResult bool
	// PerNetworkScan answers a scan as Improv via serial does: a result per
	// network, then an empty one.
	PerNetworkScan bool
	Networks       []improv.Network
	Info           improv.DeviceInfo

	mu         sync.Mutex
	state      improv.State
	errc       improv.ErrorCode
	caps       improv.Capabilities
	asm        improv.Assembler
	hostname   string
	name       string
	identified int
	writeTypes []string
	ssid       string
}

// NewImprov adds an Improv device with this address and name to b, in
// state with capabilities caps (advertised in its service data too). It
// joins with "right-password", answers with the URL http://192.0.2.7/, is
// called esp-plug (host name) and Plug (device name), and reports itself as
// ESPHome 2024.1.0 on an esp32-c3.
func NewImprov(b *Bluez, addr, name string, state improv.State, caps improv.Capabilities) *Improv {
	d := &Improv{f: b, state: state, caps: caps, Password: "right-password", URL: "http://192.0.2.7/",
		hostname: "esp-plug", name: "Plug",
		Info: improv.DeviceInfo{FirmwareName: "ESPHome", FirmwareVersion: "2024.1.0", Hardware: "esp32-c3", DeviceName: "Plug"}}
	d.dev = b.AddDevice(addr, name, []string{improv.ServiceUUID},
		map[string][]byte{improv.ServiceDataUUID: improv.EncodeServiceData(state, caps)}, improv.ServiceUUID,
		[]Char{
			{UUID: improv.StateUUID, Value: []byte{byte(state)}},
			{UUID: improv.ErrorUUID, Value: []byte{0}},
			{UUID: improv.RPCCommandUUID, OnWrite: d.write},
			{UUID: improv.RPCResultUUID},
			{UUID: improv.CapabilitiesUUID, Value: []byte{byte(caps)}},
		})
	return d
}

// Identified is how many Identify commands the device got.
func (d *Improv) Identified() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.identified
}

// SSID is the SSID of the last Wi-Fi settings the device got.
func (d *Improv) SSID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssid
}

// WriteTypes lists every write to RPC Command: "request" (with response)
// or "command" (without).
func (d *Improv) WriteTypes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writeTypes)
}

// Authorize is the button press: the state becomes Authorized.
func (d *Improv) Authorize() { d.setState(improv.StateAuthorized) }

// setState notifies the new state and advertises it in the service data.
func (d *Improv) setState(s improv.State) {
	d.mu.Lock()
	d.state = s
	caps := d.caps
	d.mu.Unlock()
	d.f.Notify(d.f.CharPath(d.dev, improv.StateUUID), []byte{byte(s)})
	d.f.set(d.dev, ifDevice, map[string]dbus.Variant{"ServiceData": dbus.MakeVariant(map[string]dbus.Variant{
		improv.ServiceDataUUID: dbus.MakeVariant(improv.EncodeServiceData(s, caps))})})
}

// setError notifies only changes, as ESPHome does.
func (d *Improv) setError(e improv.ErrorCode) {
	d.mu.Lock()
	changed := d.errc != e
	d.errc = e
	d.mu.Unlock()
	if changed {
		d.f.Notify(d.f.CharPath(d.dev, improv.ErrorUUID), []byte{byte(e)})
	}
}

func (d *Improv) result(b []byte) { d.f.Notify(d.f.CharPath(d.dev, improv.RPCResultUUID), b) }

func (d *Improv) write(value []byte, opts map[string]dbus.Variant) *dbus.Error {
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

func (d *Improv) handle(p improv.Packet) {
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
		if w.Password != d.Password {
			d.setError(improv.ErrorUnableToConnect)
			d.setState(improv.StateAuthorized)
			return
		}
		d.setState(improv.StateProvisioned)
		if !d.NoResult {
			var b []byte
			if d.URL != "" {
				b, _ = improv.EncodeResult(improv.CommandWiFiSettings, d.URL)
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
		d.result(improv.EncodeDeviceInfo(d.Info))
	case improv.CommandScan:
		if !d.PerNetworkScan {
			b, _ := improv.EncodeScanResult(d.Networks)
			d.result(b)
			return
		}
		for _, n := range d.Networks {
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

// Bluenet is a small Bluenet profile device (with the Result
// characteristic), enough to drive a client's flows: writing the password
// "right-password" after an SSID makes it Connecting, then Connected to that
// SSID with Result 0x00; any other password makes it Connecting, then back to
// Disconnected with Result 0x01 (wrong password).
type Bluenet struct {
	f   *Bluez
	dev dbus.ObjectPath

	mu   sync.Mutex
	ssid []byte
}

// NewBluenet adds a Bluenet device with this address and name to b,
// Disconnected, host name "bluenet-host", version 1.0.
func NewBluenet(b *Bluez, addr, name string) *Bluenet {
	d := &Bluenet{f: b}
	d.dev = b.AddDevice(addr, name, []string{bluenet.ServiceUUID}, nil, bluenet.ServiceUUID, []Char{
		{UUID: bluenet.NetworksUUID},
		{UUID: bluenet.StateUUID, Value: bluenet.State{Kind: bluenet.Disconnected}.Encode()},
		{UUID: bluenet.HostnameUUID, Value: []byte("bluenet-host")},
		{UUID: bluenet.VersionUUID, Value: []byte(bluenet.Version)},
		{UUID: bluenet.SSIDUUID, OnWrite: func(v []byte, _ map[string]dbus.Variant) *dbus.Error {
			d.mu.Lock()
			d.ssid = slices.Clone(v)
			d.mu.Unlock()
			return nil
		}},
		{UUID: bluenet.CredentialsUUID, OnWrite: d.credentials},
		{UUID: bluenet.ResultUUID, Value: bluenet.EncodeResult(bluenet.ResultNone)},
	})
	return d
}

func (d *Bluenet) credentials(v []byte, _ map[string]dbus.Variant) *dbus.Error {
	d.mu.Lock()
	ssid := d.ssid
	d.mu.Unlock()
	if ssid == nil {
		return dbus.NewError("org.bluez.Error.NotPermitted", []any{"no SSID"})
	}
	ok := string(v) == "right-password"
	go func() {
		state := d.f.CharPath(d.dev, bluenet.StateUUID)
		result := d.f.CharPath(d.dev, bluenet.ResultUUID)
		d.f.Notify(result, bluenet.EncodeResult(bluenet.ResultInProgress))
		d.f.Notify(state, bluenet.State{Kind: bluenet.Connecting, SSID: ssid}.Encode())
		time.Sleep(50 * time.Millisecond)
		if ok {
			d.f.Notify(state, bluenet.State{Kind: bluenet.Connected, SSID: ssid}.Encode())
			d.f.Notify(result, bluenet.EncodeResult(bluenet.ResultOK))
			return
		}
		d.f.Notify(state, bluenet.State{Kind: bluenet.Disconnected}.Encode())
		d.f.Notify(result, bluenet.EncodeResult(bluenet.ResultWrongPassword))
	}()
	return nil
}
