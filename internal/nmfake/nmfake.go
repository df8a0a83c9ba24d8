// Package nmfake is a fake NetworkManager for tests: it owns the name
// org.freedesktop.NetworkManager on a private bus (internal/dbustest) and
// serves the subset of NetworkManager's D-Bus API that package wifi/nm uses,
// in the manner of net/http/httptest.
//
// The fake simulates one Wi-Fi device and the networks in range. Activations
// walk through the device states real NetworkManager 1.42 goes through
// (including the brief NEED_AUTH on success), and fail the way it does: a
// wrong passphrase ends in FAILED with reason NO_SECRETS (7) after
// SUPPLICANT_DISCONNECT (8), a network that is not in range in FAILED with
// reason SSID_NOT_FOUND (53). Delays are short and configurable.
package nmfake

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/bluenet-project/bluenet/internal/dbustest"
)

const (
	busName         = "org.freedesktop.NetworkManager"
	rootPath        = dbus.ObjectPath("/org/freedesktop/NetworkManager")
	settingsPath    = dbus.ObjectPath("/org/freedesktop/NetworkManager/Settings")
	ifaceNM         = "org.freedesktop.NetworkManager"
	ifaceDevice     = "org.freedesktop.NetworkManager.Device"
	ifaceWireless   = "org.freedesktop.NetworkManager.Device.Wireless"
	ifaceAP         = "org.freedesktop.NetworkManager.AccessPoint"
	ifaceSettings   = "org.freedesktop.NetworkManager.Settings"
	ifaceConnection = "org.freedesktop.NetworkManager.Settings.Connection"
	ifaceActive     = "org.freedesktop.NetworkManager.Connection.Active"
	ifaceIP4Config  = "org.freedesktop.NetworkManager.IP4Config"
)

// Device states (NMDeviceState) used by the fake.
const (
	StateUnavailable  uint32 = 20
	StateDisconnected uint32 = 30
	StatePrepare      uint32 = 40
	StateConfig       uint32 = 50
	StateNeedAuth     uint32 = 60
	StateIPConfig     uint32 = 70
	StateIPCheck      uint32 = 80
	StateSecondaries  uint32 = 90
	StateActivated    uint32 = 100
	StateDeactivating uint32 = 110
	StateFailed       uint32 = 120
)

// Network is a network in range of the fake device (one access point).
type Network struct {
	SSID []byte
	// PSK is the passphrase; empty for an open network.
	PSK string
	// SAE advertises WPA3-SAE; with PSK also set and WPA2 false the network
	// is WPA3-only.
	SAE bool
	// WPA2 advertises WPA2-PSK (default true when PSK is set and SAE is not).
	WPA2 bool
	// Enterprise advertises 802.1X key management.
	Enterprise bool
	// Hidden hides the SSID from scans (the access point has an empty SSID).
	Hidden bool
	// Strength in percent; default 70.
	Strength uint8
	// Frequency in MHz; default 2437.
	Frequency uint32
	// IPv4 is the address the device gets; default 192.168.N.126.
	IPv4 netip.Addr
	// DHCPFails makes IP configuration fail (FAILED, reason 5).
	DHCPFails bool
	// Hang makes association never complete (for timeouts).
	Hang bool
	// LinkDrops is how many activations lose the link right after the key
	// exchange succeeded (IP_CONFIG → NEED_AUTH reason 8 → FAILED reason 7,
	// as NetworkManager reports an access point that ends a completed
	// handshake); later activations succeed.
	LinkDrops int
}

// Config tunes the fake. The zero value is useful.
type Config struct {
	// Interface is the device's interface name. Default "wlan0".
	Interface string
	// Step is the delay between two device states. Default 2 ms.
	Step time.Duration
	// WrongPSKDelay is how long a wrong passphrase takes to fail. Default 20 ms.
	WrongPSKDelay time.Duration
	// NotFoundDelay is how long a missing SSID takes to fail. Default 30 ms.
	NotFoundDelay time.Duration
	// AutoReactivate mimics NetworkManager re-activating, after a failed
	// activation, the profile that was active before it (if it has
	// autoconnect on), after AutoReactivateDelay (default 20 ms).
	AutoReactivate      bool
	AutoReactivateDelay time.Duration
}

// Profile is a connection profile as the fake stores it, secrets included.
type Profile struct {
	Path        dbus.ObjectPath
	ID          string
	SSID        []byte
	KeyMgmt     string // "", "wpa-psk", "sae"
	PSK         string
	Hidden      bool
	Autoconnect bool
	// Persist is "disk" or "memory".
	Persist  string
	Settings map[string]map[string]dbus.Variant
}

// NM is a running fake NetworkManager.
type NM struct {
	t   testing.TB
	bus *dbustest.Bus
	cfg Config

	mu       sync.Mutex
	conn     *dbus.Conn // nil while stopped
	next     int        // object counter
	nets     []*network
	profiles []*profile
	wireless bool
	dev      device
	ac       *active
	ip4      *ip4config
	gen      int // activation generation; a change cancels the running one
	calls    []string
	mgrProps *prop.Properties
	scans    int
	netNum   int
}

type network struct {
	Network
	num   int
	path  dbus.ObjectPath
	props *prop.Properties
}

type profile struct {
	path     dbus.ObjectPath
	settings map[string]map[string]dbus.Variant
	persist  string
}

type device struct {
	path   dbus.ObjectPath
	props  *prop.Properties
	state  uint32
	reason uint32
}

type active struct {
	path  dbus.ObjectPath
	prof  *profile
	state uint32
	props *prop.Properties
}

type ip4config struct {
	path  dbus.ObjectPath
	addr  netip.Addr
	props *prop.Properties
}

// New starts a fake NetworkManager on bus with a device in state
// DISCONNECTED and no networks. It stops when the test ends.
func New(t testing.TB, bus *dbustest.Bus, cfg Config) *NM {
	t.Helper()
	if cfg.Interface == "" {
		cfg.Interface = "wlan0"
	}
	if cfg.Step <= 0 {
		cfg.Step = 2 * time.Millisecond
	}
	if cfg.WrongPSKDelay <= 0 {
		cfg.WrongPSKDelay = 20 * time.Millisecond
	}
	if cfg.NotFoundDelay <= 0 {
		cfg.NotFoundDelay = 30 * time.Millisecond
	}
	if cfg.AutoReactivateDelay <= 0 {
		cfg.AutoReactivateDelay = 20 * time.Millisecond
	}
	f := &NM{t: t, bus: bus, cfg: cfg, wireless: true}
	f.dev.state = StateDisconnected
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

// Start connects the fake to the bus, takes the NetworkManager name and
// exports every object under fresh paths (as a restarted NetworkManager
// would). A device that was activating is DISCONNECTED; an activated one
// stays activated with a new active connection object.
func (f *NM) Start() {
	f.t.Helper()
	conn, err := dbus.Connect(f.bus.Address)
	if err != nil {
		f.t.Fatalf("nmfake: connect: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		_ = conn.Close()
		return
	}
	f.conn = conn
	f.exportAllLocked()
	reply, err := conn.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		f.t.Fatalf("nmfake: request name: %v %v", reply, err)
	}
}

// Stop releases the name and disconnects from the bus, as a NetworkManager
// that exits. The model (networks, profiles, link) is kept for Start.
func (f *NM) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		return
	}
	f.gen++
	_ = f.conn.Close()
	f.conn = nil
	f.mgrProps = nil
	f.dev.props, f.dev.path = nil, ""
	for _, n := range f.nets {
		n.props, n.path = nil, ""
	}
	if f.ac != nil {
		f.ac.props, f.ac.path = nil, ""
	}
	if f.ip4 != nil {
		f.ip4.props, f.ip4.path = nil, ""
	}
	for _, p := range f.profiles {
		p.path = ""
	}
}

// Restart is Stop followed by Start.
func (f *NM) Restart() {
	f.Stop()
	f.Start()
}

func (f *NM) newPath(kind string) dbus.ObjectPath {
	f.next++
	return dbus.ObjectPath(fmt.Sprintf("%s/%s/%d", rootPath, kind, f.next))
}

func (f *NM) export(v any, path dbus.ObjectPath, iface string) {
	if err := f.conn.Export(v, path, iface); err != nil {
		f.t.Errorf("nmfake: export %s %s: %v", path, iface, err)
	}
}

func (f *NM) exportProps(path dbus.ObjectPath, m prop.Map) *prop.Properties {
	for _, props := range m {
		for _, p := range props {
			if p.Emit == prop.EmitFalse {
				p.Emit = prop.EmitTrue
			}
		}
	}
	p, err := prop.Export(f.conn, path, m)
	if err != nil {
		f.t.Errorf("nmfake: export props %s: %v", path, err)
	}
	return p
}

func (f *NM) unexport(path dbus.ObjectPath, ifaces ...string) {
	if f.conn == nil || path == "" {
		return
	}
	for _, i := range append(ifaces, "org.freedesktop.DBus.Properties") {
		_ = f.conn.Export(nil, path, i)
	}
}

func (f *NM) emit(path dbus.ObjectPath, name string, args ...any) {
	if f.conn == nil || path == "" {
		return
	}
	_ = f.conn.Emit(path, name, args...)
}

func (f *NM) exportAllLocked() {
	f.export(&manager{f}, rootPath, ifaceNM)
	f.export(&settingsObj{f}, settingsPath, ifaceSettings)
	f.dev.path = f.newPath("Devices")
	for _, p := range f.profiles {
		p.path = f.newPath("Settings")
		f.export(&connObj{f, p}, p.path, ifaceConnection)
	}
	for _, n := range f.nets {
		f.exportAPLocked(n)
	}
	if f.ac != nil && f.dev.state != StateActivated {
		f.ac = nil
		f.ip4 = nil
		f.dev.state, f.dev.reason = StateDisconnected, 0
	}
	if f.ac != nil {
		f.exportACLocked(f.ac)
	}
	if f.ip4 != nil {
		f.exportIP4Locked(f.ip4)
	}
	f.export(&deviceObj{f}, f.dev.path, ifaceDevice)
	f.export(&wirelessObj{f}, f.dev.path, ifaceWireless)
	f.dev.props = f.exportProps(f.dev.path, prop.Map{
		ifaceDevice: {
			"Interface":        {Value: f.cfg.Interface},
			"DeviceType":       {Value: uint32(2)},
			"Managed":          {Value: true},
			"State":            {Value: f.dev.state},
			"StateReason":      {Value: stateReason{f.dev.state, f.dev.reason}},
			"ActiveConnection": {Value: f.acPathLocked()},
			"Ip4Config":        {Value: f.ip4PathLocked()},
		},
		ifaceWireless: {
			"AccessPoints":      {Value: f.apPathsLocked()},
			"ActiveAccessPoint": {Value: dbus.ObjectPath("/")},
			"LastScan":          {Value: int64(0)},
		},
	})
	f.mgrProps = f.exportProps(rootPath, prop.Map{
		ifaceNM: {
			"WirelessEnabled":   {Value: f.wireless},
			"Devices":           {Value: []dbus.ObjectPath{f.dev.path}},
			"ActiveConnections": {Value: f.activeListLocked()},
			"Version":           {Value: "1.42.4-nmfake"},
		},
	})
}

func (f *NM) acPathLocked() dbus.ObjectPath {
	if f.ac == nil || f.ac.path == "" {
		return "/"
	}
	return f.ac.path
}

func (f *NM) ip4PathLocked() dbus.ObjectPath {
	if f.ip4 == nil || f.ip4.path == "" {
		return "/"
	}
	return f.ip4.path
}

func (f *NM) activeListLocked() []dbus.ObjectPath {
	if f.ac == nil || f.ac.path == "" {
		return []dbus.ObjectPath{}
	}
	return []dbus.ObjectPath{f.ac.path}
}

func (f *NM) apPathsLocked() []dbus.ObjectPath {
	out := []dbus.ObjectPath{}
	for _, n := range f.nets {
		if n.path != "" {
			out = append(out, n.path)
		}
	}
	return out
}

func (f *NM) exportAPLocked(n *network) {
	n.path = f.newPath("AccessPoint")
	ssid := n.SSID
	if n.Hidden {
		ssid = []byte{}
	}
	flags, wpa, rsn := n.flags()
	n.props = f.exportProps(n.path, prop.Map{
		ifaceAP: {
			"Ssid":      {Value: bytes.Clone(ssid)},
			"Strength":  {Value: n.Strength},
			"Frequency": {Value: n.Frequency},
			"HwAddress": {Value: fmt.Sprintf("02:00:00:00:%02x:00", n.num)},
			"Flags":     {Value: flags},
			"WpaFlags":  {Value: wpa},
			"RsnFlags":  {Value: rsn},
			"Mode":      {Value: uint32(2)},
			"LastSeen":  {Value: int32(1)},
		},
	})
}

func (n *network) flags() (flags, wpa, rsn uint32) {
	const ccmp = 0x8 | 0x80
	if n.PSK == "" && !n.Enterprise {
		return 0, 0, 0
	}
	flags = 0x1
	rsn = ccmp
	if n.wpa2() {
		rsn |= 0x100
	}
	if n.SAE {
		rsn |= 0x400
	}
	if n.Enterprise {
		rsn |= 0x200
	}
	return flags, 0, rsn
}

func (n *network) wpa2() bool { return n.PSK != "" && (n.WPA2 || !n.SAE) }

func (f *NM) exportACLocked(a *active) {
	a.path = f.newPath("ActiveConnection")
	id, _ := a.prof.settings["connection"]["id"].Value().(string)
	a.props = f.exportProps(a.path, prop.Map{
		ifaceActive: {
			"Connection": {Value: a.prof.path},
			"Id":         {Value: id},
			"Type":       {Value: "802-11-wireless"},
			"State":      {Value: a.state},
			"Devices":    {Value: []dbus.ObjectPath{f.dev.path}},
			"Ip4Config":  {Value: f.ip4PathLocked()},
		},
	})
}

func (f *NM) exportIP4Locked(c *ip4config) {
	c.path = f.newPath("IP4Config")
	c.props = f.exportProps(c.path, prop.Map{
		ifaceIP4Config: {
			"AddressData": {Value: []map[string]dbus.Variant{{
				"address": dbus.MakeVariant(c.addr.String()),
				"prefix":  dbus.MakeVariant(uint32(24)),
			}}},
		},
	})
}

// ---- test-facing API ----

// AddNetwork puts a network in range (an AccessPointAdded signal).
func (f *NM) AddNetwork(n Network) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netNum++
	nn := &network{Network: n, num: f.netNum}
	nn.SSID = bytes.Clone(n.SSID)
	if nn.Strength == 0 {
		nn.Strength = 70
	}
	if nn.Frequency == 0 {
		nn.Frequency = 2437
	}
	if !nn.IPv4.IsValid() {
		nn.IPv4 = netip.AddrFrom4([4]byte{192, 168, byte(100 + nn.num), 126})
	}
	f.nets = append(f.nets, nn)
	if f.conn == nil {
		return
	}
	f.exportAPLocked(nn)
	f.emit(f.dev.path, ifaceWireless+".AccessPointAdded", nn.path)
	f.dev.props.SetMust(ifaceWireless, "AccessPoints", f.apPathsLocked())
}

// RemoveNetwork takes every network named ssid out of range.
func (f *NM) RemoveNetwork(ssid []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nets = slices.DeleteFunc(f.nets, func(n *network) bool {
		if !bytes.Equal(n.SSID, ssid) {
			return false
		}
		if n.path != "" {
			f.unexport(n.path)
			f.emit(f.dev.path, ifaceWireless+".AccessPointRemoved", n.path)
		}
		return true
	})
	if f.conn != nil {
		f.dev.props.SetMust(ifaceWireless, "AccessPoints", f.apPathsLocked())
	}
}

// SetStrength changes the signal strength of the networks named ssid (an
// AccessPoint PropertiesChanged signal).
func (f *NM) SetStrength(ssid []byte, s uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nets {
		if bytes.Equal(n.SSID, ssid) {
			n.Strength = s
			if n.props != nil {
				n.props.SetMust(ifaceAP, "Strength", s)
			}
		}
	}
}

// SetWirelessEnabled switches the radio. Off makes the device UNAVAILABLE.
func (f *NM) SetWirelessEnabled(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wireless = on
	if f.mgrProps != nil {
		f.mgrProps.SetMust(ifaceNM, "WirelessEnabled", on)
	}
	if !on {
		f.gen++
		f.dropActiveLocked(36)
		f.setDevStateLocked(StateUnavailable, 0)
	} else {
		f.setDevStateLocked(StateDisconnected, 0)
	}
}

// AddProfile stores a profile on "disk" (an existing configuration) and
// returns its path. ssid and psk (empty for open) describe a WPA-PSK
// network.
func (f *NM) AddProfile(id string, ssid []byte, psk string, autoconnect bool) dbus.ObjectPath {
	s := map[string]map[string]dbus.Variant{
		"connection": {
			"id": dbus.MakeVariant(id), "type": dbus.MakeVariant("802-11-wireless"),
			"autoconnect": dbus.MakeVariant(autoconnect),
		},
		"802-11-wireless": {"ssid": dbus.MakeVariant(bytes.Clone(ssid))},
	}
	if psk != "" {
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant("wpa-psk"), "psk": dbus.MakeVariant(psk),
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addProfileLocked(s, "disk").path
}

// AddMemoryProfile stores an in-memory profile (as AddAndActivateConnection2
// with persist "memory" does) named id for a WPA-PSK (or, with psk empty,
// open) network, with autoconnect off, and returns its path. It stands for
// a profile left behind by a client that stopped in the middle of a join.
func (f *NM) AddMemoryProfile(id string, ssid []byte, psk string) dbus.ObjectPath {
	s := map[string]map[string]dbus.Variant{
		"connection": {
			"id": dbus.MakeVariant(id), "type": dbus.MakeVariant("802-11-wireless"),
			"autoconnect": dbus.MakeVariant(false),
		},
		"802-11-wireless": {"ssid": dbus.MakeVariant(bytes.Clone(ssid))},
		"ipv4":            {"method": dbus.MakeVariant("auto"), "may-fail": dbus.MakeVariant(false)},
	}
	if psk != "" {
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant("wpa-psk"), "psk": dbus.MakeVariant(psk),
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	s["connection"]["uuid"] = dbus.MakeVariant(fmt.Sprintf("00000000-0000-4000-8000-%012d", f.next))
	return f.addProfileLocked(s, "memory").path
}

// Activate starts activating the profile at path, as if NetworkManager
// autoconnected it.
func (f *NM) Activate(path dbus.ObjectPath) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.profileLocked(path)
	if p == nil {
		return fmt.Errorf("nmfake: no profile %s", path)
	}
	f.activateLocked(p)
	return nil
}

// Profiles returns the stored profiles, secrets included.
func (f *NM) Profiles() []Profile {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Profile
	for _, p := range f.profiles {
		s := p.settings
		pr := Profile{Path: p.path, Persist: p.persist, Settings: s}
		pr.ID, _ = s["connection"]["id"].Value().(string)
		pr.Autoconnect = true
		if v, ok := s["connection"]["autoconnect"].Value().(bool); ok {
			pr.Autoconnect = v
		}
		pr.SSID, _ = s["802-11-wireless"]["ssid"].Value().([]byte)
		pr.Hidden, _ = s["802-11-wireless"]["hidden"].Value().(bool)
		pr.KeyMgmt, _ = s["802-11-wireless-security"]["key-mgmt"].Value().(string)
		pr.PSK, _ = s["802-11-wireless-security"]["psk"].Value().(string)
		out = append(out, pr)
	}
	return out
}

// DeviceState returns the device's NMDeviceState.
func (f *NM) DeviceState() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dev.state
}

// ActiveSSID returns the SSID of the profile on the device, if any.
func (f *NM) ActiveSSID() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ac == nil {
		return nil
	}
	s, _ := f.ac.prof.settings["802-11-wireless"]["ssid"].Value().([]byte)
	return s
}

// Calls returns the names of the methods called on the fake so far
// (property reads excluded).
func (f *NM) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Scans returns how many RequestScan calls the fake received.
func (f *NM) Scans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans
}

// ---- model ----

func (f *NM) addProfileLocked(s map[string]map[string]dbus.Variant, persist string) *profile {
	p := &profile{settings: s, persist: persist}
	f.profiles = append(f.profiles, p)
	if f.conn != nil {
		p.path = f.newPath("Settings")
		f.export(&connObj{f, p}, p.path, ifaceConnection)
		f.emit(settingsPath, ifaceSettings+".NewConnection", p.path)
	}
	return p
}

func (f *NM) profileLocked(path dbus.ObjectPath) *profile {
	for _, p := range f.profiles {
		if p.path == path && path != "" {
			return p
		}
	}
	return nil
}

func (f *NM) setDevStateLocked(st, reason uint32) {
	old := f.dev.state
	if old == st {
		return
	}
	f.dev.state, f.dev.reason = st, reason
	if f.dev.props == nil {
		return
	}
	f.dev.props.SetMust(ifaceDevice, "State", st)
	f.dev.props.SetMust(ifaceDevice, "StateReason", stateReason{st, reason})
	f.emit(f.dev.path, ifaceDevice+".StateChanged", st, old, reason)
}

func (f *NM) setACStateLocked(a *active, st, reason uint32) {
	a.state = st
	if a.props == nil {
		return
	}
	a.props.SetMust(ifaceActive, "State", st)
	f.emit(a.path, ifaceActive+".StateChanged", st, reason)
}

// dropActiveLocked deactivates the current active connection at once.
func (f *NM) dropActiveLocked(reason uint32) {
	if f.ac == nil {
		return
	}
	a := f.ac
	f.setACStateLocked(a, 3, reason)
	f.setDevStateLocked(StateDeactivating, reason)
	f.setACStateLocked(a, 4, reason)
	f.ac = nil
	f.unexport(a.path)
	if f.ip4 != nil {
		f.unexport(f.ip4.path)
		f.ip4 = nil
	}
	if f.dev.props != nil {
		f.dev.props.SetMust(ifaceDevice, "ActiveConnection", dbus.ObjectPath("/"))
		f.dev.props.SetMust(ifaceDevice, "Ip4Config", dbus.ObjectPath("/"))
		f.mgrProps.SetMust(ifaceNM, "ActiveConnections", f.activeListLocked())
	}
	f.setDevStateLocked(StateDisconnected, reason)
}

// activateLocked starts activating p, replacing the current activation.
func (f *NM) activateLocked(p *profile) *active {
	f.gen++
	prev := f.ac
	var prevProf *profile
	if prev != nil {
		prevProf = prev.prof
	}
	f.dropActiveLocked(60) // NEW_ACTIVATION
	a := &active{prof: p, state: 1}
	f.ac = a
	if f.conn != nil {
		f.exportACLocked(a)
		f.dev.props.SetMust(ifaceDevice, "ActiveConnection", a.path)
		f.mgrProps.SetMust(ifaceNM, "ActiveConnections", f.activeListLocked())
	}
	go f.run(f.gen, a, prevProf)
	return a
}

// run walks an activation through the device states.
func (f *NM) run(gen int, a *active, prev *profile) {
	step := func(d time.Duration, st, reason uint32) bool {
		time.Sleep(d)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.gen != gen {
			return false
		}
		f.setDevStateLocked(st, reason)
		return true
	}
	s := f.cfg.Step
	for _, st := range []uint32{StatePrepare, StateConfig, StateNeedAuth, StatePrepare, StateConfig} {
		if !step(s, st, 0) {
			return
		}
	}
	f.mu.Lock()
	net, verdict := f.matchLocked(a.prof)
	f.mu.Unlock()
	switch verdict {
	case "hang":
		return
	case "notfound":
		if step(f.cfg.NotFoundDelay, StateFailed, 53) {
			f.fail(gen, a, prev)
		}
		return
	case "wrongpsk":
		if step(f.cfg.WrongPSKDelay, StateNeedAuth, 8) && step(s, StateFailed, 7) {
			f.fail(gen, a, prev)
		}
		return
	}
	if !step(s, StateIPConfig, 0) {
		return
	}
	f.mu.Lock()
	drop := net.LinkDrops > 0
	if drop {
		net.LinkDrops--
	}
	f.mu.Unlock()
	if drop {
		if step(s, StateNeedAuth, 8) && step(s, StateFailed, 7) {
			f.fail(gen, a, prev)
		}
		return
	}
	if net.DHCPFails {
		if step(s, StateFailed, 5) {
			f.fail(gen, a, prev)
		}
		return
	}
	for _, st := range []uint32{StateIPCheck, StateSecondaries} {
		if !step(s, st, 0) {
			return
		}
	}
	time.Sleep(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen != gen {
		return
	}
	f.ip4 = &ip4config{addr: net.IPv4}
	if f.conn != nil {
		f.exportIP4Locked(f.ip4)
		f.dev.props.SetMust(ifaceDevice, "Ip4Config", f.ip4.path)
	}
	f.setDevStateLocked(StateActivated, 0)
	f.setACStateLocked(a, 2, 0)
}

// matchLocked decides how an activation of p ends.
func (f *NM) matchLocked(p *profile) (*network, string) {
	ssid, _ := p.settings["802-11-wireless"]["ssid"].Value().([]byte)
	hidden, _ := p.settings["802-11-wireless"]["hidden"].Value().(bool)
	km, _ := p.settings["802-11-wireless-security"]["key-mgmt"].Value().(string)
	psk, _ := p.settings["802-11-wireless-security"]["psk"].Value().(string)
	for _, n := range f.nets {
		if !bytes.Equal(n.SSID, ssid) || (n.Hidden && !hidden) {
			continue
		}
		switch {
		case n.Hang:
			return n, "hang"
		case n.PSK == "" && km == "":
			return n, "ok"
		case n.PSK == "" || km == "":
			return n, "wrongpsk"
		case km == "wpa-psk" && !n.wpa2(), km == "sae" && !n.SAE:
			return n, "wrongpsk"
		case psk != n.PSK:
			return n, "wrongpsk"
		}
		return n, "ok"
	}
	return nil, "notfound"
}

// fail ends a failed activation: FAILED → DISCONNECTED, and maybe
// re-activates the previous profile.
func (f *NM) fail(gen int, a *active, prev *profile) {
	f.mu.Lock()
	if f.gen != gen {
		f.mu.Unlock()
		return
	}
	f.setACStateLocked(a, 4, 0)
	f.ac = nil
	f.unexport(a.path)
	if f.dev.props != nil {
		f.dev.props.SetMust(ifaceDevice, "ActiveConnection", dbus.ObjectPath("/"))
		f.mgrProps.SetMust(ifaceNM, "ActiveConnections", f.activeListLocked())
	}
	f.setDevStateLocked(StateDisconnected, 0)
	auto := f.cfg.AutoReactivate && prev != nil && slices.Contains(f.profiles, prev)
	f.mu.Unlock()
	if !auto {
		return
	}
	time.Sleep(f.cfg.AutoReactivateDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen == gen && f.ac == nil && slices.Contains(f.profiles, prev) {
		if ac, ok := prev.settings["connection"]["autoconnect"].Value().(bool); !ok || ac {
			f.activateLocked(prev)
		}
	}
}

// ---- D-Bus objects ----

type manager struct{ f *NM }

func (m *manager) GetDeviceByIpIface(iface string) (dbus.ObjectPath, *dbus.Error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "GetDeviceByIpIface")
	if iface != f.cfg.Interface {
		return "", dbus.NewError("org.freedesktop.NetworkManager.UnknownDevice", []any{"No device found for the requested iface."})
	}
	return f.dev.path, nil
}

func (m *manager) GetDevices() ([]dbus.ObjectPath, *dbus.Error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return []dbus.ObjectPath{m.f.dev.path}, nil
}

func (m *manager) AddAndActivateConnection2(s map[string]map[string]dbus.Variant, dev, spec dbus.ObjectPath,
	opts map[string]dbus.Variant) (dbus.ObjectPath, dbus.ObjectPath, map[string]dbus.Variant, *dbus.Error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "AddAndActivateConnection2")
	if dev != f.dev.path {
		return "", "", nil, dbus.NewError("org.freedesktop.NetworkManager.UnknownDevice", []any{"unknown device"})
	}
	if f.dev.state < StateDisconnected {
		return "", "", nil, dbus.NewError("org.freedesktop.NetworkManager.UnknownDevice", []any{"device not available"})
	}
	if err := checkTypes(s); err != nil {
		return "", "", nil, err
	}
	if _, ok := s["802-11-wireless"]["ssid"].Value().([]byte); !ok {
		return "", "", nil, dbus.NewError("org.freedesktop.NetworkManager.Settings.Connection.InvalidProperty", []any{"802-11-wireless.ssid: missing"})
	}
	persist := "disk"
	if v, ok := opts["persist"].Value().(string); ok {
		persist = v
	}
	s = cloneSettings(s)
	if s["connection"] == nil {
		s["connection"] = map[string]dbus.Variant{}
	}
	f.next++
	s["connection"]["uuid"] = dbus.MakeVariant(fmt.Sprintf("00000000-0000-4000-8000-%012d", f.next))
	p := f.addProfileLocked(s, persist)
	a := f.activateLocked(p)
	return p.path, a.path, map[string]dbus.Variant{}, nil
}

func (m *manager) ActivateConnection(conn, dev, spec dbus.ObjectPath) (dbus.ObjectPath, *dbus.Error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ActivateConnection")
	p := f.profileLocked(conn)
	if p == nil {
		return "", dbus.NewError("org.freedesktop.NetworkManager.UnknownConnection", []any{"unknown connection"})
	}
	return f.activateLocked(p).path, nil
}

func (m *manager) DeactivateConnection(ac dbus.ObjectPath) *dbus.Error {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DeactivateConnection")
	if f.ac == nil || f.ac.path != ac {
		return dbus.NewError("org.freedesktop.NetworkManager.ConnectionNotActive", []any{"not active"})
	}
	f.gen++
	f.dropActiveLocked(39) // USER_REQUESTED
	return nil
}

type settingsObj struct{ f *NM }

func (s *settingsObj) ListConnections() ([]dbus.ObjectPath, *dbus.Error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ListConnections")
	out := []dbus.ObjectPath{}
	for _, p := range f.profiles {
		out = append(out, p.path)
	}
	return out, nil
}

type connObj struct {
	f *NM
	p *profile
}

func (c *connObj) GetSettings() (map[string]map[string]dbus.Variant, *dbus.Error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.calls = append(c.f.calls, "GetSettings")
	s := cloneSettings(c.p.settings)
	if sec := s["802-11-wireless-security"]; sec != nil {
		delete(sec, "psk") // secrets only through GetSecrets
	}
	// Like NetworkManager, return (empty) address lists, whose types godbus
	// cannot send back unchanged.
	for _, ip := range []string{"ipv4", "ipv6"} {
		if s[ip] == nil {
			s[ip] = map[string]dbus.Variant{}
		}
	}
	s["ipv4"]["addresses"] = dbus.MakeVariant([][]uint32{})
	s["ipv6"]["addresses"] = dbus.MakeVariant([]ip6Address{})
	return s, nil
}

// GetSecrets returns the secrets of one setting (the psk of
// 802-11-wireless-security, the password of 802-1x), as NetworkManager does
// for a privileged caller.
func (c *connObj) GetSecrets(setting string) (map[string]map[string]dbus.Variant, *dbus.Error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.calls = append(c.f.calls, "GetSecrets")
	out := map[string]map[string]dbus.Variant{setting: {}}
	key := map[string]string{"802-11-wireless-security": "psk", "802-1x": "password"}[setting]
	if v, ok := c.p.settings[setting][key]; ok && key != "" {
		out[setting][key] = v
	}
	return out, nil
}

// ip6Address is the (ayuay) element of the deprecated ipv6.addresses.
type ip6Address struct {
	Address []byte
	Prefix  uint32
	Gateway []byte
}

// settingTypes are the D-Bus types of settings that the fake checks, as
// NetworkManager does.
var settingTypes = map[string]string{
	"connection.id":                     "s",
	"connection.autoconnect":            "b",
	"connection.autoconnect-priority":   "i",
	"802-11-wireless.ssid":              "ay",
	"802-11-wireless.hidden":            "b",
	"802-11-wireless-security.key-mgmt": "s",
	"802-11-wireless-security.psk":      "s",
	"ipv4.addresses":                    "aau",
	"ipv4.may-fail":                     "b",
	"ipv6.addresses":                    "a(ayuay)",
}

// checkTypes rejects settings of the wrong D-Bus type, as NetworkManager
// does ("can't set property of type ... from value of type ...").
func checkTypes(s map[string]map[string]dbus.Variant) *dbus.Error {
	for group, m := range s {
		for key, v := range m {
			want, ok := settingTypes[group+"."+key]
			if ok && v.Signature().String() != want {
				return dbus.NewError("org.freedesktop.NetworkManager.Settings.Connection.InvalidProperty",
					[]any{fmt.Sprintf("%s.%s: can't set property of type '%s' from value of type '%s'",
						group, key, want, v.Signature().String())})
			}
		}
	}
	return nil
}

func (c *connObj) Update2(s map[string]map[string]dbus.Variant, flags uint32, args map[string]dbus.Variant) (map[string]dbus.Variant, *dbus.Error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.calls = append(c.f.calls, "Update2")
	if !slices.Contains(c.f.profiles, c.p) {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownMethod", nil)
	}
	if err := checkTypes(s); err != nil {
		return nil, err
	}
	c.p.settings = cloneSettings(s)
	if flags&0x1 != 0 {
		c.p.persist = "disk"
	}
	c.f.emit(c.p.path, ifaceConnection+".Updated")
	return map[string]dbus.Variant{}, nil
}

func (c *connObj) Delete() *dbus.Error {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Delete")
	if !slices.Contains(f.profiles, c.p) {
		return dbus.NewError("org.freedesktop.DBus.Error.UnknownMethod", nil)
	}
	if f.ac != nil && f.ac.prof == c.p {
		f.gen++
		f.dropActiveLocked(38) // CONNECTION_REMOVED
	}
	f.profiles = slices.DeleteFunc(f.profiles, func(p *profile) bool { return p == c.p })
	f.unexport(c.p.path, ifaceConnection)
	f.emit(c.p.path, ifaceConnection+".Removed")
	f.emit(settingsPath, ifaceSettings+".ConnectionRemoved", c.p.path)
	return nil
}

type deviceObj struct{ f *NM }

func (d *deviceObj) Disconnect() *dbus.Error {
	f := d.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Disconnect")
	f.gen++
	f.dropActiveLocked(39)
	return nil
}

type wirelessObj struct{ f *NM }

func (w *wirelessObj) GetAllAccessPoints() ([]dbus.ObjectPath, *dbus.Error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.f.calls = append(w.f.calls, "GetAllAccessPoints")
	return w.f.apPathsLocked(), nil
}

func (w *wirelessObj) RequestScan(opts map[string]dbus.Variant) *dbus.Error {
	f := w.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "RequestScan")
	if f.dev.state < StateDisconnected {
		return dbus.NewError("org.freedesktop.NetworkManager.Device.NotAllowed", []any{"Scanning not allowed while unavailable"})
	}
	f.scans++
	f.dev.props.SetMust(ifaceWireless, "LastScan", time.Now().UnixMilli())
	return nil
}

// stateReason is the (uu) StateReason property.
type stateReason struct{ State, Reason uint32 }

func cloneSettings(s map[string]map[string]dbus.Variant) map[string]map[string]dbus.Variant {
	out := make(map[string]map[string]dbus.Variant, len(s))
	for k, m := range s {
		mm := make(map[string]dbus.Variant, len(m))
		for kk, v := range m {
			mm[kk] = v
		}
		out[k] = mm
	}
	return out
}
