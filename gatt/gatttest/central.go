package gatttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// CentralAdapterPath is the path of the central's adapter, hci1 (see
// EnableCentral).
const CentralAdapterPath dbus.ObjectPath = "/org/bluez/hci1"

// CentralAddress is hci1's address, the address from which a central on
// hci1 connects to the applications on hci0.
const CentralAddress = "00:AA:02:00:00:00"

// PeripheralPath is where hci1 shows hci0, the peripheral, once a discovery
// on hci1 has found it.
const PeripheralPath dbus.ObjectPath = CentralAdapterPath + "/dev_00_AA_01_00_00_00"

// DefaultCentralMTU is the ATT MTU of the link between hci1 and hci0 unless
// SetCentralMTU changes it.
const DefaultCentralMTU = 517

// centralRSSI is the signal strength hci1 reports for hci0.
const centralRSSI int16 = -42

// callTimeout bounds the calls the fake makes to applications.
const callTimeout = 5 * time.Second

// centralSide is the state of hci1; guarded by Bluez.mu.
type centralSide struct {
	on          bool
	mtu         uint16
	discovering bool
	filter      []string // discovery filter UUIDs, lower-case 128-bit
	connected   bool
	// objs holds hci1's objects: the adapter, the peripheral device once
	// discovered, and its GATT objects while connected.
	objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	// relays maps each GATT object of hci1 to the application object it
	// stands for; mirrors maps an application characteristic (owner+path)
	// back to it.
	relays  map[dbus.ObjectPath]*relay
	mirrors map[string]dbus.ObjectPath
	// notify holds, per characteristic of hci1, the bus names that called
	// StartNotify.
	notify map[dbus.ObjectPath]map[string]bool
}

// relay is a GATT object of hci1 and the application object behind it.
type relay struct {
	owner string
	path  dbus.ObjectPath
	iface string
	flags []string        // the client-side flags (characteristics)
	ccc   dbus.ObjectPath // for the Client Characteristic Configuration descriptor BlueZ adds: its characteristic
}

func (r *relay) has(flag string) bool { return slices.Contains(r.flags, flag) }

func (c *centralSide) reset() {
	c.discovering, c.filter, c.connected = false, nil, false
	c.objs = map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
		CentralAdapterPath: {bluez.Adapter1: {
			"Address":     dbus.MakeVariant(CentralAddress),
			"AddressType": dbus.MakeVariant("public"),
			"Name":        dbus.MakeVariant("central"),
			"Alias":       dbus.MakeVariant("central"),
			"Powered":     dbus.MakeVariant(true),
			"Discovering": dbus.MakeVariant(false),
		}},
	}
	c.relays = map[dbus.ObjectPath]*relay{}
	c.mirrors = map[string]dbus.ObjectPath{}
	c.notify = map[dbus.ObjectPath]map[string]bool{}
}

// addObjects adds hci1's objects to a GetManagedObjects reply.
func (c *centralSide) addObjects(out map[dbus.ObjectPath]map[string]map[string]dbus.Variant) {
	if !c.on {
		return
	}
	for p, ifaces := range c.objs {
		m := make(map[string]map[string]dbus.Variant, len(ifaces))
		for i, props := range ifaces {
			m[i] = copyProps(props)
		}
		out[p] = m
	}
}

// EnableCentral adds hci1, the adapter of a central, and announces it with
// InterfacesAdded. On hci1 a BlueZ central client finds the applications
// registered on hci0 as one device, PeripheralPath, while one of them
// advertises as "peripheral"; connecting to it connects CentralAddress to
// hci0, which the applications see as a central connecting. The fake then
// relays, with the options bluetoothd 5.66 sends:
//
//   - Adapter1: StartDiscovery (hci0's device appears, with the name,
//     service UUIDs and service data of its advertisements, or its RSSI is
//     reported again, while an advertisement matches the discovery filter's
//     UUIDs), StopDiscovery, SetDiscoveryFilter (UUIDs only), RemoveDevice;
//   - Device1: Connect (the applications' services appear under
//     PeripheralPath, then ServicesResolved), Disconnect;
//   - GattCharacteristic1: ReadValue (as long reads of MTU−1 bytes), WriteValue
//     (without a reply for write commands; bluetoothd 5.66's 510- and
//     508-byte limits), StartNotify and StopNotify (the first and the last
//     subscriber; a subscriber that leaves the bus is unsubscribed; notified values arrive as PropertiesChanged of Value, and
//     indications are confirmed), and the Value property updated by reads
//     (as bluetoothd does, which a subscriber sees as a notification);
//   - GattDescriptor1: ReadValue and WriteValue, and the Client
//     Characteristic Configuration descriptor BlueZ adds to characteristics
//     that notify or indicate.
//
// Errors of the application reach the central as bluetoothd's client side
// reports ATT errors: NotPermitted, InvalidOffset, InvalidValueLength,
// NotAuthorized and NotSupported by name, anything else as
// org.bluez.Error.Failed "Operation failed with ATT error: 0x..".
// Disconnecting on either side (Device1.Disconnect on hci1 or hci0, or
// Bluez.Disconnect(CentralAddress)) ends the link on both. Restart forgets
// hci1's devices; hci1 stays.
func (b *Bluez) EnableCentral() {
	b.helper()
	b.mu.Lock()
	if b.c.on {
		b.mu.Unlock()
		return
	}
	b.c.on = true
	err := b.exportCentralLocked()
	if err == nil {
		err = b.conn.Emit("/", bluez.InterfacesAdded, CentralAdapterPath, b.c.objs[CentralAdapterPath])
	}
	b.mu.Unlock()
	if err != nil {
		b.fatalf("enable central: %v", err)
	}
}

// SetCentralMTU sets the ATT MTU of later links between hci1 and hci0
// (DefaultCentralMTU; 23 is the smallest LE MTU).
func (b *Bluez) SetCentralMTU(mtu uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.c.mtu = max(mtu, 23)
}

// CentralConnected reports whether hci1 has a link to hci0.
func (b *Bluez) CentralConnected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.connected
}

// exportCentralLocked exports hci1 on the current connection.
func (b *Bluez) exportCentralLocked() error {
	if !b.c.on {
		return nil
	}
	if b.c.mtu == 0 {
		b.c.mtu = DefaultCentralMTU
	}
	p := CentralAdapterPath
	if err := b.conn.ExportMethodTable(map[string]any{
		"StartDiscovery":     b.startDiscovery,
		"StopDiscovery":      b.stopDiscovery,
		"SetDiscoveryFilter": b.setDiscoveryFilter,
		"RemoveDevice":       b.removeCentralDevice,
	}, p, bluez.Adapter1); err != nil {
		return err
	}
	return b.conn.ExportMethodTable(b.centralProps(p), p, bluez.Properties)
}

// centralProps is the Properties interface of the hci1 object at p.
func (b *Bluez) centralProps(p dbus.ObjectPath) map[string]any {
	noSuch := func(name string) *dbus.Error {
		return dbus.NewError(bluez.ErrorInvalidArgs, []any{"No such property " + name})
	}
	return map[string]any{
		"Get": func(iface, name string) (dbus.Variant, *dbus.Error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			v, ok := b.c.objs[p][iface][name]
			if !ok {
				return dbus.Variant{}, noSuch(name)
			}
			return v, nil
		},
		"GetAll": func(iface string) (map[string]dbus.Variant, *dbus.Error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			return copyProps(b.c.objs[p][iface]), nil
		},
		"Set": func(iface, name string, v dbus.Variant) *dbus.Error {
			b.mu.Lock()
			defer b.mu.Unlock()
			props := b.c.objs[p][iface]
			old, ok := props[name]
			if !ok || !(iface == bluez.Device1 && name == "Trusted" || iface == bluez.Adapter1 && (name == "Alias" || name == "Powered")) {
				return noSuch(name)
			}
			if old.Signature() != v.Signature() {
				return dbus.NewError(bluez.ErrorInvalidArgs, []any{"Invalid argument type: " + v.Signature().String()})
			}
			b.setLocked(p, iface, map[string]dbus.Variant{name: v})
			return nil
		},
	}
}

// setLocked changes properties of an hci1 object and emits PropertiesChanged.
func (b *Bluez) setLocked(p dbus.ObjectPath, iface string, changed map[string]dbus.Variant) {
	props := b.c.objs[p][iface]
	if props == nil {
		return
	}
	for k, v := range changed {
		props[k] = v
	}
	_ = b.conn.Emit(p, bluez.PropertiesChanged, iface, changed, []string{})
}

// addLocked adds an hci1 object, exports its methods and Properties, and
// emits InterfacesAdded.
func (b *Bluez) addLocked(p dbus.ObjectPath, iface string, props map[string]dbus.Variant, methods map[string]any) {
	b.c.objs[p] = map[string]map[string]dbus.Variant{iface: props}
	_ = b.conn.ExportMethodTable(methods, p, iface)
	_ = b.conn.ExportMethodTable(b.centralProps(p), p, bluez.Properties)
	_ = b.conn.Emit("/", bluez.InterfacesAdded, p, map[string]map[string]dbus.Variant{iface: copyProps(props)})
}

// removeLocked removes hci1 objects, given children first: it forgets them
// and emits InterfacesRemoved in that order, as bluetoothd does, and then
// unexports them parents first. godbus looks up a call to a path that is no
// longer exported by iterating the interfaces of its nearest exported
// ancestor without that ancestor's lock (default_handler.go, v5.2.4), so an
// ancestor must not lose its interfaces while its children are already
// gone; the methods answer from b.c.objs and b.c.relays, not from exports.
func (b *Bluez) removeLocked(paths ...dbus.ObjectPath) {
	ifaces := make([][]string, len(paths))
	for n, p := range paths {
		for i := range b.c.objs[p] {
			ifaces[n] = append(ifaces[n], i)
		}
		delete(b.c.objs, p)
		delete(b.c.relays, p)
		delete(b.c.notify, p)
		_ = b.conn.Emit("/", bluez.InterfacesRemoved, p, ifaces[n])
	}
	for n := len(paths) - 1; n >= 0; n-- {
		for _, i := range ifaces[n] {
			_ = b.conn.Export(nil, paths[n], i)
		}
		_ = b.conn.Export(nil, paths[n], bluez.Properties)
	}
}

// --- Adapter1 of hci1 ---

func (b *Bluez) startDiscovery() *dbus.Error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.c.discovering {
		b.c.discovering = true
		b.setLocked(CentralAdapterPath, bluez.Adapter1, map[string]dbus.Variant{"Discovering": dbus.MakeVariant(true)})
	}
	b.announceLocked()
	return nil
}

func (b *Bluez) stopDiscovery() *dbus.Error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.c.discovering {
		return dbus.NewError(bluez.ErrorFailed, []any{"No discovery started"})
	}
	b.c.discovering = false
	b.setLocked(CentralAdapterPath, bluez.Adapter1, map[string]dbus.Variant{"Discovering": dbus.MakeVariant(false)})
	return nil
}

func (b *Bluez) setDiscoveryFilter(f map[string]dbus.Variant) *dbus.Error {
	var uuids []string
	if v, ok := f["UUIDs"]; ok {
		us, ok := v.Value().([]string)
		if !ok {
			return dbus.NewError(bluez.ErrorInvalidArguments, []any{"Invalid arguments in method call"})
		}
		for _, u := range us {
			n, err := NormalizeUUID(u)
			if err != nil {
				return dbus.NewError(bluez.ErrorInvalidArguments, []any{"Invalid arguments in method call"})
			}
			uuids = append(uuids, n)
		}
	}
	b.mu.Lock()
	b.c.filter = uuids
	b.mu.Unlock()
	return nil
}

func (b *Bluez) removeCentralDevice(p dbus.ObjectPath) *dbus.Error {
	b.mu.Lock()
	_, ok := b.c.objs[p][bluez.Device1]
	connected := b.c.connected
	b.mu.Unlock()
	if !ok {
		return dbus.NewError(bluez.ErrorDoesNotExist, []any{"Does Not Exist"})
	}
	if connected {
		b.Disconnect(CentralAddress)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.c.objs[p]; ok {
		b.removeLocked(p)
	}
	return nil
}

// advertisingLocked reports whether an application on hci0 advertises as
// connectable, and what hci1 sees of it: the name (LocalName, or hci0's
// alias when the advertisement includes the local name) and the service
// UUIDs.
func (b *Bluez) advertisingLocked() (ok bool, name string, uuids []string, data map[string]dbus.Variant) {
	data = map[string]dbus.Variant{}
	keys := make([]string, 0, len(b.advs))
	for k := range b.advs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := b.advs[k]
		if t, _ := a.Props["Type"].Value().(string); t == "peripheral" {
			ok = true
		}
		if n, _ := a.Props["LocalName"].Value().(string); n != "" && name == "" {
			name = n
		}
		if inc, _ := a.Props["Includes"].Value().([]string); slices.Contains(inc, "local-name") && name == "" {
			name, _ = b.adapter["Alias"].Value().(string)
		}
		sd, _ := a.Props["ServiceData"].Value().(map[string]dbus.Variant)
		for u, v := range sd {
			if n, err := NormalizeUUID(u); err == nil {
				data[n] = v
			}
		}
		us, _ := a.Props["ServiceUUIDs"].Value().([]string)
		for _, u := range us {
			if n, err := NormalizeUUID(u); err == nil && !slices.Contains(uuids, n) {
				uuids = append(uuids, n)
			}
		}
	}
	return ok, name, uuids, data
}

// announceLocked makes a discovering hci1 see hci0's advertisement.
func (b *Bluez) announceLocked() {
	if !b.c.on || !b.c.discovering || b.conn == nil {
		return
	}
	ok, name, uuids, data := b.advertisingLocked()
	if !ok {
		return
	}
	if len(b.c.filter) > 0 && !slices.ContainsFunc(uuids, func(u string) bool { return slices.Contains(b.c.filter, u) }) {
		return
	}
	alias := name
	if alias == "" {
		alias = strings.ReplaceAll(AdapterAddress, ":", "-")
	}
	props := map[string]dbus.Variant{
		"Alias": dbus.MakeVariant(alias),
		"UUIDs": dbus.MakeVariant(uuids),
		"RSSI":  dbus.MakeVariant(centralRSSI),
	}
	if len(data) > 0 {
		props["ServiceData"] = dbus.MakeVariant(data)
	}
	if name != "" {
		props["Name"] = dbus.MakeVariant(name)
	}
	if _, known := b.c.objs[PeripheralPath]; known {
		b.setLocked(PeripheralPath, bluez.Device1, props)
		return
	}
	for k, v := range map[string]any{"Address": AdapterAddress, "AddressType": "public", "Adapter": CentralAdapterPath,
		"Connected": false, "ServicesResolved": false, "Paired": false, "Trusted": false, "Blocked": false} {
		props[k] = dbus.MakeVariant(v)
	}
	b.addLocked(PeripheralPath, bluez.Device1, props, map[string]any{
		"Connect":    b.centralConnect,
		"Disconnect": b.centralDisconnect,
	})
}

// --- Device1 of hci0 as hci1 sees it ---

func (b *Bluez) centralConnect() *dbus.Error {
	b.mu.Lock()
	if b.c.connected {
		b.mu.Unlock()
		return nil
	}
	if ok, _, _, _ := b.advertisingLocked(); !ok {
		b.mu.Unlock()
		return dbus.NewError(bluez.ErrorFailed, []any{"le-connection-abort-by-local"})
	}
	b.c.connected = true
	b.mu.Unlock()

	b.Connect(CentralAddress) // the applications see the central connect

	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.c.connected || b.c.objs[PeripheralPath] == nil {
		return dbus.NewError(bluez.ErrorFailed, []any{"le-connection-abort-by-remote"})
	}
	b.setLocked(PeripheralPath, bluez.Device1, map[string]dbus.Variant{"Connected": dbus.MakeVariant(true)})
	b.mirrorLocked()
	b.setLocked(PeripheralPath, bluez.Device1, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(true)})
	return nil
}

func (b *Bluez) centralDisconnect() *dbus.Error {
	if !b.CentralConnected() {
		return dbus.NewError(bluez.ErrorNotConnected, []any{"Not Connected"})
	}
	b.Disconnect(CentralAddress)
	return nil
}

// dropLink ends hci1's link to hci0 on hci1's side: the applications get
// StopNotify for what hci1 was subscribed to, hci0's GATT objects go away,
// and the device is no longer connected.
func (b *Bluez) dropLink() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.c.connected {
		return
	}
	b.c.connected = false
	if b.conn == nil {
		return
	}
	var paths []dbus.ObjectPath
	for p := range b.c.objs {
		if bluez.Under(p, PeripheralPath) {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return paths[i] > paths[j] }) // children first
	for _, p := range paths {
		if r := b.c.relays[p]; r != nil && len(b.c.notify[p]) > 0 {
			_ = b.conn.Object(r.owner, r.path).Call(bluez.GattCharacteristic1+".StopNotify", dbus.FlagNoReplyExpected).Err
		}
	}
	b.removeLocked(paths...)
	clear(b.c.mirrors)
	b.setLocked(PeripheralPath, bluez.Device1, map[string]dbus.Variant{
		"Connected": dbus.MakeVariant(false), "ServicesResolved": dbus.MakeVariant(false)})
}

// clientFlags are the characteristic flags a BlueZ client sees: the
// properties of the characteristic declaration (and of its extended
// properties descriptor), without the server's security requirements.
func clientFlags(server []string) []string {
	var out []string
	add := func(f string) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, f := range server {
		switch f {
		case "broadcast", "read", "write-without-response", "write", "notify", "indicate",
			"authenticated-signed-writes", "extended-properties", "reliable-write", "writable-auxiliaries":
			add(f)
		case "encrypt-read", "encrypt-authenticated-read", "secure-read":
			add("read")
		case "encrypt-write", "encrypt-authenticated-write", "secure-write":
			add("write")
		case "encrypt-notify", "encrypt-authenticated-notify", "secure-notify":
			add("notify")
		case "encrypt-indicate", "encrypt-authenticated-indicate", "secure-indicate":
			add("indicate")
		}
	}
	return out
}

// mirrorLocked shows the applications of hci0 as GATT objects of
// PeripheralPath on hci1, named by handle as bluetoothd names them.
func (b *Bluez) mirrorLocked() {
	keys := make([]string, 0, len(b.apps))
	for k := range b.apps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	handle := uint16(0x000a) // after the GAP and GATT services
	next := func() uint16 { h := handle; handle++; return h }
	for _, k := range keys {
		app := b.apps[k]
		for _, sv := range app.Services {
			sp := PeripheralPath + dbus.ObjectPath(fmt.Sprintf("/service%04x", next()))
			b.addLocked(sp, bluez.GattService1, map[string]dbus.Variant{
				"UUID": dbus.MakeVariant(sv.UUID), "Primary": dbus.MakeVariant(sv.Primary),
				"Device": dbus.MakeVariant(PeripheralPath), "Includes": dbus.MakeVariant([]dbus.ObjectPath{}),
			}, map[string]any{})
			for _, ch := range sv.Chars {
				next() // the declaration
				cp := sp + dbus.ObjectPath(fmt.Sprintf("/char%04x", next()))
				r := &relay{owner: app.Owner, path: ch.Path, iface: bluez.GattCharacteristic1, flags: clientFlags(ch.Flags)}
				props := map[string]dbus.Variant{
					"UUID": dbus.MakeVariant(ch.UUID), "Service": dbus.MakeVariant(sp),
					"Value": dbus.MakeVariant([]byte{}), "Flags": dbus.MakeVariant(r.flags), "MTU": dbus.MakeVariant(b.c.mtu),
				}
				notifies := r.has("notify") || r.has("indicate")
				if notifies {
					props["Notifying"] = dbus.MakeVariant(false)
				}
				b.c.relays[cp] = r
				b.c.mirrors[app.Owner+string(ch.Path)] = cp
				b.addLocked(cp, bluez.GattCharacteristic1, props, map[string]any{
					"ReadValue": func(opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
						return b.relayRead(cp, opts)
					},
					"WriteValue": func(value []byte, opts map[string]dbus.Variant) *dbus.Error {
						return b.relayWrite(cp, value, opts)
					},
					"StartNotify": func(sender dbus.Sender) *dbus.Error { return b.relayStartNotify(cp, string(sender)) },
					"StopNotify":  func(sender dbus.Sender) *dbus.Error { return b.relayStopNotify(cp, string(sender)) },
				})
				descs := ch.Descs
				if notifies {
					descs = append(slices.Clone(descs), &Desc{UUID: "00002902-0000-1000-8000-00805f9b34fb"})
				}
				for _, d := range descs {
					dp := cp + dbus.ObjectPath(fmt.Sprintf("/desc%04x", next()))
					dr := &relay{owner: app.Owner, path: d.Path, iface: bluez.GattDescriptor1}
					if d.Path == "" {
						dr.ccc = cp
					}
					b.c.relays[dp] = dr
					b.addLocked(dp, bluez.GattDescriptor1, map[string]dbus.Variant{
						"UUID": dbus.MakeVariant(d.UUID), "Characteristic": dbus.MakeVariant(cp), "Value": dbus.MakeVariant([]byte{}),
					}, map[string]any{
						"ReadValue": func(opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
							return b.relayRead(dp, opts)
						},
						"WriteValue": func(value []byte, opts map[string]dbus.Variant) *dbus.Error {
							return b.relayWrite(dp, value, opts)
						},
					})
				}
			}
		}
	}
}

// relayed returns what a relayed operation on the hci1 object p needs.
func (b *Bluez) relayed(p dbus.ObjectPath) (*relay, *dbus.Conn, uint16, *dbus.Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.c.relays[p]
	switch {
	case !b.c.connected || b.conn == nil:
		return nil, nil, 0, dbus.NewError(bluez.ErrorNotConnected, []any{"Not Connected"})
	case r == nil:
		return nil, nil, 0, dbus.NewError(bluez.ErrorUnknownObject, []any{"Unknown object " + string(p)})
	}
	return r, b.conn, b.c.mtu, nil
}

// clientError is how bluetoothd's client side reports an error of the
// application, which reached it as an ATT error.
func clientError(err error) *dbus.Error {
	var de dbus.Error
	if !errors.As(err, &de) {
		return dbus.NewError(bluez.ErrorFailed, []any{"Operation failed with ATT error: 0x0e"})
	}
	switch de.Name {
	case bluez.ErrorNotPermitted, bluez.ErrorInvalidOffset, bluez.ErrorInvalidValueLength, bluez.ErrorNotAuthorized, bluez.ErrorNotSupported:
		return dbus.NewError(de.Name, de.Body)
	case bluez.ErrorInProgress:
		return dbus.NewError(bluez.ErrorFailed, []any{"Operation failed with ATT error: 0xfe"})
	case bluez.ErrorFailed:
		// The application's message is the ATT code (0x80-0x9f).
		code := bluez.ErrorMessage(de)
		if !strings.HasPrefix(code, "0x") {
			code = "0x80"
		}
		return dbus.NewError(bluez.ErrorFailed, []any{"Operation failed with ATT error: " + code})
	}
	return dbus.NewError(bluez.ErrorFailed, []any{"Operation failed with ATT error: 0x0e"}) // Unlikely Error
}

func (b *Bluez) relayRead(p dbus.ObjectPath, opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	r, conn, mtu, derr := b.relayed(p)
	if derr != nil {
		return nil, derr
	}
	if r.ccc != "" {
		b.mu.Lock()
		defer b.mu.Unlock()
		v := []byte{0, 0}
		if len(b.c.notify[r.ccc]) > 0 {
			if b.c.relays[r.ccc].has("notify") {
				v[0] = 1
			} else {
				v[0] = 2
			}
		}
		return v, nil
	}
	if r.iface == bluez.GattCharacteristic1 && !r.has("read") {
		return nil, dbus.NewError(bluez.ErrorNotPermitted, []any{"Read not permitted"})
	}
	off, _ := opts["offset"].Value().(uint16)
	var out []byte
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for {
		var v []byte
		err := conn.Object(r.owner, r.path).CallWithContext(ctx, r.iface+".ReadValue", 0,
			Options(DevicePath(CentralAddress), mtu, off)).Store(&v)
		if err != nil {
			return nil, clientError(err)
		}
		if len(v) > int(mtu)-1 {
			v = v[:mtu-1] // what fits in a Read (Blob) Response
		}
		out = append(out, v...)
		// A long read goes on while the reply fills the PDU.
		if len(v) < int(mtu)-1 || len(out) >= 512 {
			break
		}
		off += uint16(len(v))
	}
	b.mu.Lock()
	if b.c.objs[p] != nil {
		b.setLocked(p, r.iface, map[string]dbus.Variant{"Value": dbus.MakeVariant(out)})
	}
	b.mu.Unlock()
	return out, nil
}

func (b *Bluez) relayWrite(p dbus.ObjectPath, value []byte, opts map[string]dbus.Variant) *dbus.Error {
	r, conn, mtu, derr := b.relayed(p)
	if derr != nil {
		return derr
	}
	if r.ccc != "" {
		return dbus.NewError(bluez.ErrorNotPermitted, []any{"Write not permitted"})
	}
	typ, _ := opts["type"].Value().(string)
	off, _ := opts["offset"].Value().(uint16)
	var flags dbus.Flags
	if r.iface == bluez.GattCharacteristic1 {
		switch {
		case typ == "command" && r.has("write-without-response"),
			typ == "" && !r.has("write") && r.has("write-without-response"):
			flags = dbus.FlagNoReplyExpected
		case typ == "reliable" && !r.has("reliable-write"), typ != "command" && !r.has("write"):
			return dbus.NewError(bluez.ErrorNotPermitted, []any{"Write not permitted"})
		case typ == "command":
			return dbus.NewError(bluez.ErrorNotSupported, []any{"Operation is not supported"})
		}
	}
	// bluetoothd 5.66 counts the handle (and the offset of a prepared
	// write) in the 512-byte limit (bluez/bluez#570).
	limit := 510
	if flags == 0 && len(value) > int(mtu)-3 {
		limit = 508
	}
	if int(off)+len(value) > limit {
		return dbus.NewError(bluez.ErrorInvalidValueLength, []any{"Invalid Length"})
	}
	if value == nil {
		value = []byte{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := conn.Object(r.owner, r.path).CallWithContext(ctx, r.iface+".WriteValue", flags, value,
		Options(DevicePath(CentralAddress), mtu, off)).Err
	if err != nil && flags == 0 {
		return clientError(err)
	}
	return nil
}

func (b *Bluez) relayStartNotify(p dbus.ObjectPath, sender string) *dbus.Error {
	r, conn, _, derr := b.relayed(p)
	if derr != nil {
		return derr
	}
	if !r.has("notify") && !r.has("indicate") {
		return dbus.NewError(bluez.ErrorNotSupported, []any{"Operation is not supported"})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c.notify[p][sender] {
		return dbus.NewError(bluez.ErrorInProgress, []any{"In Progress"})
	}
	first := len(b.c.notify[p]) == 0
	if b.c.notify[p] == nil {
		b.c.notify[p] = map[string]bool{}
	}
	b.c.notify[p][sender] = true
	if first {
		// bluetoothd calls StartNotify without waiting for the reply when
		// the central writes the CCC descriptor.
		_ = conn.Object(r.owner, r.path).Call(bluez.GattCharacteristic1+".StartNotify", dbus.FlagNoReplyExpected).Err
		b.setLocked(p, bluez.GattCharacteristic1, map[string]dbus.Variant{"Notifying": dbus.MakeVariant(true)})
	}
	return nil
}

func (b *Bluez) relayStopNotify(p dbus.ObjectPath, sender string) *dbus.Error {
	r, conn, _, derr := b.relayed(p)
	if derr != nil {
		return derr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.c.notify[p][sender] {
		return dbus.NewError(bluez.ErrorFailed, []any{"No notify session started"})
	}
	delete(b.c.notify[p], sender)
	if len(b.c.notify[p]) == 0 {
		_ = conn.Object(r.owner, r.path).Call(bluez.GattCharacteristic1+".StopNotify", dbus.FlagNoReplyExpected).Err
		b.setLocked(p, bluez.GattCharacteristic1, map[string]dbus.Variant{"Notifying": dbus.MakeVariant(false)})
	}
	return nil
}

// relayValue passes a Value the application at path of owner emitted on to
// hci1 when hci1 is subscribed to it, and confirms an indication.
func (b *Bluez) relayValue(owner string, path dbus.ObjectPath, v []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cp, ok := b.c.mirrors[owner+string(path)]
	if !ok || len(b.c.notify[cp]) == 0 || b.conn == nil {
		return
	}
	b.setLocked(cp, bluez.GattCharacteristic1, map[string]dbus.Variant{"Value": dbus.MakeVariant(v)})
	if r := b.c.relays[cp]; r != nil && !r.has("notify") && r.has("indicate") {
		_ = b.conn.Object(owner, path).Call(bluez.GattCharacteristic1+".Confirm", dbus.FlagNoReplyExpected).Err
	}
}

// dropNotifier ends the notify sessions of a client that left the bus, as
// bluetoothd does; the last one ending disables notifications.
func (b *Bluez) dropNotifier(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, set := range b.c.notify {
		if !set[name] {
			continue
		}
		delete(set, name)
		if r := b.c.relays[p]; len(set) == 0 && r != nil && b.conn != nil {
			_ = b.conn.Object(r.owner, r.path).Call(bluez.GattCharacteristic1+".StopNotify", dbus.FlagNoReplyExpected).Err
			b.setLocked(p, bluez.GattCharacteristic1, map[string]dbus.Variant{"Notifying": dbus.MakeVariant(false)})
		}
	}
}
