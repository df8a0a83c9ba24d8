// Package gatttest is a fake bluetoothd for testing BLE GATT peripherals
// built with package gatt (or any BlueZ GATT application) without Bluetooth
// hardware or bluetoothd, in the manner of net/http/httptest.
//
// [NewBus] starts a private dbus-daemon; [New] starts the fake on it. The
// fake owns org.bluez and implements the parts of Adapter1, Device1,
// GattManager1 and LEAdvertisingManager1 that peripherals use, on one
// adapter, hci0 ([AdapterPath]). RegisterApplication checks the exported
// tree the way BlueZ 5.66 does (src/gatt-database.c). The test then drives
// the application as bluetoothd would: [Bluez.Connect] a central,
// [Bluez.ReadValue], [Bluez.WriteValue], [Bluez.StartNotify],
// [Bluez.StopNotify] and [Bluez.Confirm] with BlueZ's options ([Options]),
// and watch what the application notifies ([Bluez.Notifications]).
//
// [Bluez.EnableCentral] adds a second adapter, hci1 ([CentralAdapterPath]),
// on which a BlueZ central client (such as package central) discovers the
// advertising applications of hci0, connects, reads, writes and subscribes,
// as if it ran on a second machine: the fake relays each operation to the
// application with the options bluetoothd would send.
//
// The fake is a test double, not an emulator: it has no radio, no pairing and
// no ATT layer; what it checks and relays is documented on each method.
package gatttest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// AdapterPath is the path of the fake's adapter for peripherals, hci0.
const AdapterPath dbus.ObjectPath = "/org/bluez/hci0"

// AdapterAddress is hci0's address.
const AdapterAddress = "00:AA:01:00:00:00"

// Bluez is a fake bluetoothd. Create it with New or Start.
type Bluez struct {
	t    testing.TB // nil when started with Start
	addr string

	mu       sync.Mutex
	conn     *dbus.Conn
	adapter  map[string]dbus.Variant
	devices  map[dbus.ObjectPath]map[string]dbus.Variant
	apps     map[string]*App // key sender+path
	advs     map[string]*Adv
	notifyCh chan Notification
	regCount int
	maxAdvs  int
	// advRegs counts RegisterAdvertisement calls that succeeded,
	// advChanges advertisements changed in place (PropertiesChanged).
	advRegs, advChanges int
	// regDelay holds each RegisterAdvertisement's answer back this long.
	regDelay time.Duration
	// busy counts, per adapter property, the Sets still to be refused
	// with org.bluez.Error.Busy (see SetBusy).
	busy map[string]int

	c centralSide // hci1, see EnableCentral
}

// SetBusy makes the next n Sets of the adapter property name fail with
// org.bluez.Error.Busy and an empty message, as bluetoothd answers while a change
// of that setting is pending, e.g. its own power-on right after it started
// (main.conf AutoEnable). It lasts across Restart.
func (b *Bluez) SetBusy(name string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy == nil {
		b.busy = make(map[string]int)
	}
	b.busy[name] = n
}

// SetRegisterDelay makes RegisterAdvertisement answer d after it has
// registered the advertisement, as bluetoothd answers only when the kernel
// has taken it.
func (b *Bluez) SetRegisterDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.regDelay = d
}

// SetMaxAdvertisements sets the number of advertising slots (default 4).
func (b *Bluez) SetMaxAdvertisements(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxAdvs = n
}

// App is an application registered with the fake.
type App struct {
	Owner    string
	Path     dbus.ObjectPath
	Services []*Service
	// Objects is the raw GetManagedObjects reply.
	Objects map[dbus.ObjectPath]map[string]map[string]dbus.Variant
}

// Service is a parsed GattService1.
type Service struct {
	Path     dbus.ObjectPath
	UUID     string
	Primary  bool
	Includes []dbus.ObjectPath
	Chars    []*Char
}

// Char is a parsed GattCharacteristic1.
type Char struct {
	Path  dbus.ObjectPath
	UUID  string
	Flags []string
	Descs []*Desc
}

// Desc is a parsed GattDescriptor1.
type Desc struct {
	Path  dbus.ObjectPath
	UUID  string
	Flags []string
}

// Adv is a registered advertisement.
type Adv struct {
	Owner string
	Path  dbus.ObjectPath
	Props map[string]dbus.Variant
}

// Notification is a Value change the application emitted (what bluetoothd
// turns into a notification or indication).
type Notification struct {
	Path  dbus.ObjectPath
	Value []byte
}

// New starts a fake bluetoothd on the bus at address (see NewBus) and stops
// it at the end of the test. Methods that find a problem fail the test.
func New(t testing.TB, address string) *Bluez {
	t.Helper()
	b, err := start(t, address)
	if err != nil {
		t.Fatalf("gatttest: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// Start starts a fake bluetoothd on the bus at address outside a test (an
// example, a TestMain); Close stops it. Methods that find a problem panic.
func Start(address string) (*Bluez, error) {
	b, err := start(nil, address)
	if err != nil {
		return nil, fmt.Errorf("gatttest: %w", err)
	}
	return b, nil
}

func start(t testing.TB, address string) (*Bluez, error) {
	b := &Bluez{
		t:        t,
		addr:     address,
		maxAdvs:  4,
		notifyCh: make(chan Notification, 1024),
	}
	b.reset()
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

// Close makes the fake leave the bus for good; it is Stop.
func (b *Bluez) Close() { b.Stop() }

// fatalf fails the test, or panics outside one.
func (b *Bluez) fatalf(format string, args ...any) {
	if b.t == nil {
		panic(fmt.Sprintf("gatttest: "+format, args...))
	}
	b.t.Helper()
	b.t.Fatalf("gatttest: "+format, args...)
}

// logf logs to the test, if there is one.
func (b *Bluez) logf(format string, args ...any) {
	if b.t != nil {
		b.t.Helper()
		b.t.Logf("gatttest: "+format, args...)
	}
}

func (b *Bluez) helper() {
	if b.t != nil {
		b.t.Helper()
	}
}

func (b *Bluez) reset() {
	b.adapter = map[string]dbus.Variant{
		"Address":             dbus.MakeVariant(AdapterAddress),
		"Name":                dbus.MakeVariant("fake"),
		"Alias":               dbus.MakeVariant("fake"),
		"Powered":             dbus.MakeVariant(true),
		"Discoverable":        dbus.MakeVariant(false),
		"DiscoverableTimeout": dbus.MakeVariant(uint32(180)),
		"Pairable":            dbus.MakeVariant(false),
	}
	b.devices = make(map[dbus.ObjectPath]map[string]dbus.Variant)
	b.apps = make(map[string]*App)
	b.advs = make(map[string]*Adv)
	b.c.reset()
}

func (b *Bluez) start(devices ...dbus.ObjectPath) error {
	conn, err := dbus.Connect(b.addr)
	if err != nil {
		return err
	}
	if err := conn.Export(objMgr{b}, "/", bluez.ObjectManager); err != nil {
		conn.Close()
		return err
	}
	if err := conn.Export(gattMgr{b}, AdapterPath, bluez.GattManager1); err != nil {
		conn.Close()
		return err
	}
	if err := conn.Export(advMgr{b}, AdapterPath, bluez.LEAdvertisingManager1); err != nil {
		conn.Close()
		return err
	}
	if err := conn.Export(adapterProps{b}, AdapterPath, bluez.Properties); err != nil {
		conn.Close()
		return err
	}
	b.mu.Lock()
	b.conn = conn
	err = b.exportCentralLocked()
	b.mu.Unlock()
	if err != nil {
		conn.Close()
		return err
	}
	for _, p := range devices {
		b.exportDevice(p)
	}
	// Follow Value changes of every application (filtered in the handler).
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(bluez.Properties), dbus.WithMatchMember("PropertiesChanged")); err != nil {
		conn.Close()
		return err
	}
	// And clients leaving the bus, which end their notify sessions.
	if err := conn.AddMatchSignal(dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		conn.Close()
		return err
	}
	ch := make(chan *dbus.Signal, 1024)
	conn.Signal(ch)
	go b.watch(conn, ch)
	reply, err := conn.RequestName(bluez.BusName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return fmt.Errorf("request org.bluez: %v (reply %v)", err, reply)
	}
	return nil
}

func (b *Bluez) watch(conn *dbus.Conn, ch chan *dbus.Signal) {
	for {
		select {
		case <-conn.Context().Done():
			return
		case sig, ok := <-ch:
			if !ok {
				return
			}
			if sig.Name == "org.freedesktop.DBus.NameOwnerChanged" && len(sig.Body) == 3 {
				name, _ := sig.Body[0].(string)
				if owner, _ := sig.Body[2].(string); owner == "" && strings.HasPrefix(name, ":") {
					b.dropNotifier(name)
				}
				continue
			}
			if sig.Name != bluez.PropertiesChanged || len(sig.Body) < 2 {
				continue
			}
			changed, _ := sig.Body[1].(map[string]dbus.Variant)
			if iface, _ := sig.Body[0].(string); iface == bluez.LEAdvertisement1 {
				b.advChanged(sig.Sender, sig.Path, changed)
				continue
			} else if iface != bluez.GattCharacteristic1 {
				continue
			}
			v, ok := changed["Value"]
			if !ok {
				continue
			}
			// Like gdbus/client.c: only objects under an app's root from
			// that app's owner count.
			b.mu.Lock()
			found := false
			for _, a := range b.apps {
				if a.Owner == sig.Sender && bluez.Under(sig.Path, a.Path) {
					found = true
				}
			}
			b.mu.Unlock()
			if !found {
				continue
			}
			val, _ := v.Value().([]byte)
			b.relayValue(sig.Sender, sig.Path, val)
			select {
			case b.notifyCh <- Notification{Path: sig.Path, Value: val}:
			default:
			}
		}
	}
}

// Stop makes the fake leave the bus, as a stopped bluetoothd does: its
// name disappears and every registration is lost.
func (b *Bluez) Stop() {
	b.mu.Lock()
	conn := b.conn
	b.conn = nil
	b.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// Restart stops the fake and starts a fresh one (new unique name, no
// registrations, same adapter), which announces the adapter with
// InterfacesAdded as bluetoothd does. The devices at connected are
// connected when the new one appears, as LE links survive a bluetoothd
// that was killed.
func (b *Bluez) Restart(connected ...string) {
	b.helper()
	b.restart(true, connected)
}

// RestartPoweredOff is Restart as after bluetoothd was stopped with SIGTERM:
// it powered the adapter off on its way out, and the adapter's alias and
// discoverable state are back to their defaults.
func (b *Bluez) RestartPoweredOff() {
	b.helper()
	b.restart(false, nil)
}

func (b *Bluez) restart(powered bool, connected []string) {
	b.helper()
	b.Stop()
	b.mu.Lock()
	b.reset()
	b.adapter["Powered"] = dbus.MakeVariant(powered)
	var paths []dbus.ObjectPath
	for _, addr := range connected {
		p := DevicePath(addr)
		b.devices[p] = map[string]dbus.Variant{
			"Address":   dbus.MakeVariant(strings.ToUpper(addr)),
			"Adapter":   dbus.MakeVariant(AdapterPath),
			"Connected": dbus.MakeVariant(true),
		}
		paths = append(paths, p)
	}
	props := copyProps(b.adapter)
	b.mu.Unlock()
	if err := b.start(paths...); err != nil {
		b.fatalf("restart: %v", err)
	}
	_ = b.Conn().Emit("/", bluez.InterfacesAdded, AdapterPath, map[string]map[string]dbus.Variant{bluez.Adapter1: props})
}

// Conn returns the fake's current connection.
func (b *Bluez) Conn() *dbus.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn
}

// Registrations returns how many RegisterApplication calls succeeded since
// New (across restarts).
func (b *Bluez) Registrations() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.regCount
}

// Apps returns the registered applications.
func (b *Bluez) Apps() []*App {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*App
	for _, a := range b.apps {
		out = append(out, a)
	}
	return out
}

// Advertisements returns the registered advertisements.
func (b *Bluez) Advertisements() []*Adv {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Adv
	for _, a := range b.advs {
		cp := *a
		out = append(out, &cp)
	}
	return out
}

// AdvertisementUpdates returns how many advertisements were registered
// (RegisterAdvertisement accepted) and how many registered ones were
// changed in place (PropertiesChanged of LEAdvertisement1).
func (b *Bluez) AdvertisementUpdates() (registered, changed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.advRegs, b.advChanges
}

// AdapterProperty returns an Adapter1 property of hci0.
func (b *Bluez) AdapterProperty(name string) dbus.Variant {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.adapter[name]
}

// Notifications returns the channel of Value changes emitted by registered
// applications.
func (b *Bluez) Notifications() <-chan Notification { return b.notifyCh }

// DeviceProperty returns a Device1 property of the device with address addr.
func (b *Bluez) DeviceProperty(addr, name string) dbus.Variant {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.devices[DevicePath(addr)][name]
}

// DevicePath returns the object path of a device address on hci0.
func DevicePath(addr string) dbus.ObjectPath { return bluez.DevicePath(AdapterPath, addr) }

// Connect adds (or updates) a device and marks it connected, emitting
// InterfacesAdded or PropertiesChanged like bluetoothd.
func (b *Bluez) Connect(addr string) dbus.ObjectPath {
	p := DevicePath(addr)
	b.mu.Lock()
	props, exists := b.devices[p]
	if !exists {
		props = map[string]dbus.Variant{
			"Address":   dbus.MakeVariant(strings.ToUpper(addr)),
			"Adapter":   dbus.MakeVariant(AdapterPath),
			"Connected": dbus.MakeVariant(true),
		}
		b.devices[p] = props
	}
	props["Connected"] = dbus.MakeVariant(true)
	conn := b.conn
	cp := copyProps(props)
	b.mu.Unlock()
	if !exists {
		b.exportDevice(p)
		_ = conn.Emit("/", bluez.InterfacesAdded, p, map[string]map[string]dbus.Variant{bluez.Device1: cp})
	} else {
		_ = conn.Emit(p, bluez.PropertiesChanged, bluez.Device1, map[string]dbus.Variant{"Connected": dbus.MakeVariant(true)}, []string{})
	}
	return p
}

// Disconnect marks a device disconnected (PropertiesChanged Connected=false).
func (b *Bluez) Disconnect(addr string) {
	p := DevicePath(addr)
	b.mu.Lock()
	props, ok := b.devices[p]
	if ok {
		props["Connected"] = dbus.MakeVariant(false)
	}
	conn := b.conn
	b.mu.Unlock()
	if ok {
		_ = conn.Emit(p, bluez.PropertiesChanged, bluez.Device1, map[string]dbus.Variant{"Connected": dbus.MakeVariant(false)}, []string{})
	}
	if strings.EqualFold(addr, CentralAddress) {
		b.dropLink() // the link of hci1's central ends on both sides
	}
}

// RemoveDevice removes a device object (InterfacesRemoved).
func (b *Bluez) RemoveDevice(addr string) {
	p := DevicePath(addr)
	b.mu.Lock()
	_, ok := b.devices[p]
	delete(b.devices, p)
	conn := b.conn
	b.mu.Unlock()
	if ok {
		_ = conn.Emit("/", bluez.InterfacesRemoved, p, []string{bluez.Device1})
	}
	if strings.EqualFold(addr, CentralAddress) {
		b.dropLink()
	}
}

func copyProps(m map[string]dbus.Variant) map[string]dbus.Variant {
	out := make(map[string]dbus.Variant, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- org.freedesktop.DBus.ObjectManager on / ---

type objMgr struct{ b *Bluez }

func (o objMgr) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	b := o.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
		AdapterPath: {
			bluez.Adapter1:              copyProps(b.adapter),
			bluez.GattManager1:          {},
			bluez.LEAdvertisingManager1: {"SupportedInstances": dbus.MakeVariant(byte(b.maxAdvs - len(b.advs)))},
		},
	}
	for p, props := range b.devices {
		out[p] = map[string]map[string]dbus.Variant{bluez.Device1: copyProps(props)}
	}
	b.c.addObjects(out)
	return out, nil
}

// --- Adapter1 properties and Device1.Disconnect ---

type adapterProps struct{ b *Bluez }

func (a adapterProps) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	v, ok := a.b.adapter[name]
	if iface != bluez.Adapter1 || !ok {
		return dbus.Variant{}, dbus.NewError(bluez.ErrorInvalidArgs, []any{"No such property " + name})
	}
	return v, nil
}

func (a adapterProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	if iface != bluez.Adapter1 {
		return map[string]dbus.Variant{}, nil
	}
	return copyProps(a.b.adapter), nil
}

func (a adapterProps) Set(iface, name string, v dbus.Variant) *dbus.Error {
	want := map[string]string{"Alias": "s", "Powered": "b", "Discoverable": "b", "DiscoverableTimeout": "u", "Pairable": "b"}
	sig, ok := want[name]
	if iface != bluez.Adapter1 || !ok {
		return dbus.NewError(bluez.ErrorInvalidArgs, []any{"No such property " + name})
	}
	if v.Signature().String() != sig {
		return dbus.NewError(bluez.ErrorInvalidArgs, []any{"Invalid argument type: " + v.Signature().String()})
	}
	a.b.mu.Lock()
	if a.b.busy[name] > 0 {
		a.b.busy[name]--
		a.b.mu.Unlock()
		return dbus.NewError(bluez.ErrorBusy, []any{""}) // bluetoothd: an empty message
	}
	a.b.adapter[name] = v
	conn := a.b.conn
	a.b.mu.Unlock()
	_ = conn.Emit(AdapterPath, bluez.PropertiesChanged, bluez.Adapter1, map[string]dbus.Variant{name: v}, []string{})
	return nil
}

// exportDevice makes Device1.Disconnect callable on p.
func (b *Bluez) exportDevice(p dbus.ObjectPath) {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	_ = conn.ExportMethodTable(map[string]any{
		"Disconnect": func() *dbus.Error {
			b.Disconnect(AddressOf(p))
			return nil
		},
	}, p, bluez.Device1)
}

// AddressOf returns the address of a device path, or "" when p is not one.
func AddressOf(p dbus.ObjectPath) string { return bluez.AddressFromPath(p) }

// --- GattManager1 ---

type gattMgr struct{ b *Bluez }

func errFailed(msg string) *dbus.Error { return dbus.NewError(bluez.ErrorFailed, []any{msg}) }

func (g gattMgr) RegisterApplication(sender dbus.Sender, path dbus.ObjectPath, opts map[string]dbus.Variant) *dbus.Error {
	b := g.b
	key := string(sender) + string(path)
	b.mu.Lock()
	_, dup := b.apps[key]
	conn := b.conn
	b.mu.Unlock()
	if dup {
		return dbus.NewError(bluez.ErrorAlreadyExists, []any{"Already Exists"})
	}
	if !strings.HasPrefix(string(path), "/") {
		return errFailed("Failed to register application")
	}
	// bluetoothd calls back while RegisterApplication is pending.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := conn.Object(string(sender), path).CallWithContext(ctx, bluez.ObjectManager+".GetManagedObjects", 0).Store(&objs); err != nil {
		return errFailed("No object received")
	}
	app, err := parseApp(string(sender), path, objs)
	if err != nil {
		b.logf("RegisterApplication %s: %v", path, err)
		return errFailed(err.Error())
	}
	b.mu.Lock()
	b.apps[key] = app
	b.regCount++
	b.mu.Unlock()
	return nil
}

func (g gattMgr) UnregisterApplication(sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	b := g.b
	b.mu.Lock()
	defer b.mu.Unlock()
	key := string(sender) + string(path)
	if _, ok := b.apps[key]; !ok {
		return dbus.NewError(bluez.ErrorDoesNotExist, []any{"Does Not Exist"})
	}
	delete(b.apps, key)
	return nil
}

var knownChrcFlags = map[string]bool{
	"broadcast": true, "read": true, "write-without-response": true, "write": true, "notify": true,
	"indicate": true, "authenticated-signed-writes": true, "extended-properties": true,
	"reliable-write": true, "writable-auxiliaries": true, "encrypt-read": true, "encrypt-write": true,
	"encrypt-authenticated-read": true, "encrypt-authenticated-write": true, "secure-read": true,
	"secure-write": true, "authorize": true, "encrypt-notify": true, "encrypt-authenticated-notify": true,
	"secure-notify": true, "encrypt-indicate": true, "encrypt-authenticated-indicate": true,
	"secure-indicate": true,
}

var knownDescFlags = map[string]bool{
	"read": true, "write": true, "encrypt-read": true, "encrypt-write": true,
	"encrypt-authenticated-read": true, "encrypt-authenticated-write": true,
	"secure-read": true, "secure-write": true, "authorize": true,
}

// parseUUID accepts what bt_string_to_uuid accepts and rejects GAP/GATT.
func parseUUID(props map[string]dbus.Variant) (string, error) {
	s, ok := props["UUID"].Value().(string)
	if !ok {
		return "", errors.New(`"UUID" missing or not a string`)
	}
	norm, err := NormalizeUUID(s)
	if err != nil {
		return "", err
	}
	if norm == "00001800-0000-1000-8000-00805f9b34fb" || norm == "00001801-0000-1000-8000-00805f9b34fb" {
		return "", fmt.Errorf("GAP/GATT service %s must be handled by BlueZ", s)
	}
	return norm, nil
}

// NormalizeUUID returns the lower-case 128-bit form of a 16-, 32- or
// 128-bit UUID string, as bt_string_to_uuid parses it.
func NormalizeUUID(s string) (string, error) {
	switch len(s) {
	case 4:
		s = "0000" + s + "-0000-1000-8000-00805f9b34fb"
	case 8:
		s = s + "-0000-1000-8000-00805f9b34fb"
	case 36:
	default:
		return "", fmt.Errorf("invalid UUID %q", s)
	}
	if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", fmt.Errorf("invalid UUID %q", s)
	}
	if _, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]); err != nil {
		return "", fmt.Errorf("invalid UUID %q", s)
	}
	return strings.ToLower(s), nil
}

func parseFlags(props map[string]dbus.Variant, known map[string]bool) ([]string, error) {
	fl, ok := props["Flags"].Value().([]string)
	if !ok {
		return nil, errors.New(`"Flags" missing or not "as"`)
	}
	if len(fl) == 0 {
		return nil, errors.New("empty Flags") // parse_chrc_flags' do/while fails
	}
	for _, f := range fl {
		if !known[f] {
			return nil, fmt.Errorf("Invalid flag: %s", f)
		}
	}
	return fl, nil
}

// parseApp validates a GetManagedObjects reply like client_ready_cb and
// database_add_app in BlueZ 5.66.
func parseApp(owner string, root dbus.ObjectPath, objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant) (*App, error) {
	app := &App{Owner: owner, Path: root, Objects: objs}
	var paths []dbus.ObjectPath
	for p := range objs {
		// gdbus/client.c only creates proxies below the root.
		if p == root || strings.HasPrefix(string(p), string(root)+"/") {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, errors.New("No object received")
	}
	sort.Slice(paths, func(i, j int) bool { return paths[i] < paths[j] })
	svcs := map[dbus.ObjectPath]*Service{}
	chars := map[dbus.ObjectPath]*Char{}
	for _, p := range paths {
		props, ok := objs[p][bluez.GattService1]
		if !ok {
			continue
		}
		u, err := parseUUID(props)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", p, err)
		}
		prim, ok := props["Primary"].Value().(bool)
		if !ok {
			return nil, fmt.Errorf(`service %s: "Primary" missing or not "b"`, p)
		}
		sv := &Service{Path: p, UUID: u, Primary: prim}
		if v, ok := props["Includes"]; ok {
			inc, ok := v.Value().([]dbus.ObjectPath)
			if !ok {
				return nil, fmt.Errorf(`service %s: "Includes" not "ao"`, p)
			}
			sv.Includes = inc
		}
		if v, ok := props["Handle"]; ok {
			if _, ok := v.Value().(uint16); !ok {
				return nil, fmt.Errorf(`service %s: "Handle" not "q"`, p)
			}
		}
		svcs[p] = sv
		app.Services = append(app.Services, sv)
	}
	for _, p := range paths {
		props, ok := objs[p][bluez.GattCharacteristic1]
		if !ok {
			continue
		}
		sp, ok := props["Service"].Value().(dbus.ObjectPath)
		if !ok {
			return nil, fmt.Errorf(`characteristic %s: "Service" missing or not "o"`, p)
		}
		sv := svcs[sp]
		if sv == nil {
			return nil, fmt.Errorf("Unable to find service for characteristic: %s", p)
		}
		fl, err := parseFlags(props, knownChrcFlags)
		if err != nil {
			return nil, fmt.Errorf("characteristic %s: %w", p, err)
		}
		u, err := parseUUID(props)
		if err != nil {
			return nil, fmt.Errorf("characteristic %s: %w", p, err)
		}
		c := &Char{Path: p, UUID: u, Flags: fl}
		chars[p] = c
		sv.Chars = append(sv.Chars, c)
	}
	for _, p := range paths {
		props, ok := objs[p][bluez.GattDescriptor1]
		if !ok {
			continue
		}
		cp, ok := props["Characteristic"].Value().(dbus.ObjectPath)
		if !ok {
			return nil, fmt.Errorf(`descriptor %s: "Characteristic" missing or not "o"`, p)
		}
		c := chars[cp]
		if c == nil {
			return nil, fmt.Errorf("Unable to find service for characteristic: %s", cp)
		}
		fl, err := parseFlags(props, knownDescFlags)
		if err != nil {
			return nil, fmt.Errorf("descriptor %s: %w", p, err)
		}
		u, err := parseUUID(props)
		if err != nil {
			return nil, fmt.Errorf("descriptor %s: %w", p, err)
		}
		c.Descs = append(c.Descs, &Desc{Path: p, UUID: u, Flags: fl})
	}
	if len(app.Services) == 0 {
		return nil, errors.New("No valid service object found")
	}
	return app, nil
}

// --- LEAdvertisingManager1 ---

type advMgr struct{ b *Bluez }

func (a advMgr) RegisterAdvertisement(sender dbus.Sender, path dbus.ObjectPath, opts map[string]dbus.Variant) *dbus.Error {
	b := a.b
	key := string(sender) + string(path)
	b.mu.Lock()
	_, dup := b.advs[key]
	full := len(b.advs) >= b.maxAdvs
	conn := b.conn
	b.mu.Unlock()
	if dup {
		return dbus.NewError(bluez.ErrorAlreadyExists, []any{"Already Exists"})
	}
	if full {
		return dbus.NewError(bluez.ErrorNotPermitted, []any{"Maximum advertisements reached"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var props map[string]dbus.Variant
	if err := conn.Object(string(sender), path).CallWithContext(ctx, bluez.Properties+".GetAll", 0, bluez.LEAdvertisement1).Store(&props); err != nil {
		return errFailed("Failed to parse advertisement.")
	}
	if t, _ := props["Type"].Value().(string); t != "peripheral" && t != "broadcast" {
		return errFailed("Failed to parse advertisement.")
	}
	if v, ok := props["ServiceUUIDs"]; ok {
		us, ok := v.Value().([]string)
		if !ok {
			return errFailed("Failed to parse advertisement.")
		}
		for _, u := range us {
			if _, err := NormalizeUUID(u); err != nil {
				return errFailed("Failed to parse advertisement.")
			}
		}
	}
	if v, ok := props["ManufacturerData"]; ok {
		if _, ok := v.Value().(map[uint16]dbus.Variant); !ok {
			return errFailed("Failed to parse advertisement.")
		}
	}
	b.mu.Lock()
	b.advs[key] = &Adv{Owner: string(sender), Path: path, Props: props}
	b.advRegs++
	b.announceLocked()
	delay := b.regDelay
	b.mu.Unlock()
	time.Sleep(delay)
	return nil
}

// advChanged applies a registered advertisement's changed properties, as
// bluetoothd's property watch does (src/advertising.c, properties_changed),
// and shows the new data to hci1.
func (b *Bluez) advChanged(sender string, path dbus.ObjectPath, changed map[string]dbus.Variant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.advs[sender+string(path)]
	if a == nil {
		return
	}
	props := maps.Clone(a.Props)
	maps.Copy(props, changed)
	a.Props = props
	b.advChanges++
	b.announceLocked()
}

func (a advMgr) UnregisterAdvertisement(sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	key := string(sender) + string(path)
	if _, ok := b.advs[key]; !ok {
		return dbus.NewError(bluez.ErrorDoesNotExist, []any{"Does Not Exist"})
	}
	delete(b.advs, key)
	return nil
}

// --- driving the application like bluetoothd ---

// Options builds the options dictionary bluetoothd 5.66 sends: device,
// link "LE", mtu, and offset only when non-zero.
func Options(dev dbus.ObjectPath, mtu, offset uint16) map[string]dbus.Variant {
	o := map[string]dbus.Variant{
		"device": dbus.MakeVariant(dev),
		"link":   dbus.MakeVariant("LE"),
		"mtu":    dbus.MakeVariant(mtu),
	}
	if offset != 0 {
		o["offset"] = dbus.MakeVariant(offset)
	}
	return o
}

// App returns the only registered application, failing the test when
// there is not exactly one.
func (b *Bluez) App() *App {
	b.helper()
	apps := b.Apps()
	if len(apps) != 1 {
		b.fatalf("%d applications registered, want 1", len(apps))
	}
	return apps[0]
}

// Char finds the characteristic with the given (any-form) UUID in the app.
func (a *App) Char(uuid string) *Char {
	u, _ := NormalizeUUID(uuid)
	for _, s := range a.Services {
		for _, c := range s.Chars {
			if c.UUID == u {
				return c
			}
		}
	}
	return nil
}

func (b *Bluez) call(ctx context.Context, owner string, p dbus.ObjectPath, iface, method string, flags dbus.Flags, args ...any) *dbus.Call {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	return conn.Object(owner, p).CallWithContext(ctx, iface+"."+method, flags, args...)
}

func ifaceOf(p dbus.ObjectPath) string {
	if strings.Contains(string(p[strings.LastIndex(string(p), "/"):]), "desc") {
		return bluez.GattDescriptor1
	}
	return bluez.GattCharacteristic1
}

// ReadValue calls ReadValue on the characteristic or descriptor at p of app a.
func (b *Bluez) ReadValue(ctx context.Context, a *App, p dbus.ObjectPath, opts map[string]dbus.Variant) ([]byte, error) {
	var v []byte
	err := b.call(ctx, a.Owner, p, ifaceOf(p), "ReadValue", 0, opts).Store(&v)
	return v, err
}

// WriteValue calls WriteValue and waits for the reply.
func (b *Bluez) WriteValue(ctx context.Context, a *App, p dbus.ObjectPath, value []byte, opts map[string]dbus.Variant) error {
	return b.call(ctx, a.Owner, p, ifaceOf(p), "WriteValue", 0, value, opts).Err
}

// WriteCommand calls WriteValue without expecting a reply, as bluetoothd
// does for characteristics with write-without-response.
func (b *Bluez) WriteCommand(ctx context.Context, a *App, p dbus.ObjectPath, value []byte, opts map[string]dbus.Variant) error {
	return b.call(ctx, a.Owner, p, bluez.GattCharacteristic1, "WriteValue", dbus.FlagNoReplyExpected, value, opts).Err
}

// StartNotify calls StartNotify without waiting, as bluetoothd does.
func (b *Bluez) StartNotify(ctx context.Context, a *App, p dbus.ObjectPath) error {
	return b.call(ctx, a.Owner, p, bluez.GattCharacteristic1, "StartNotify", dbus.FlagNoReplyExpected).Err
}

// StopNotify calls StopNotify without waiting.
func (b *Bluez) StopNotify(ctx context.Context, a *App, p dbus.ObjectPath) error {
	return b.call(ctx, a.Owner, p, bluez.GattCharacteristic1, "StopNotify", dbus.FlagNoReplyExpected).Err
}

// Confirm calls Confirm without waiting (an indication was confirmed).
func (b *Bluez) Confirm(ctx context.Context, a *App, p dbus.ObjectPath) error {
	return b.call(ctx, a.Owner, p, bluez.GattCharacteristic1, "Confirm", dbus.FlagNoReplyExpected).Err
}

// ErrorName returns the D-Bus error name of err, or "".
func ErrorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var dp *dbus.Error
	if errors.As(err, &dp) {
		return dp.Name
	}
	return ""
}
