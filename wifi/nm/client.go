package nm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/watch"
	"github.com/bluenet-project/bluenet/wifi"
)

// Client is a wifi.Backend on NetworkManager for one interface. Create it
// with New; all methods are safe for concurrent use.
type Client struct {
	cfg  Config
	conn *dbus.Conn
	log  *slog.Logger

	sigCh   chan *dbus.Signal
	matches [][]dbus.MatchOption
	done    chan struct{} // closed by Close
	ready   chan struct{} // closed once NetworkManager's state was first read (or found missing)
	loopEnd chan struct{} // closed when loop returns
	once    sync.Once

	joinMu sync.Mutex // held by the running Join (TryLock → busy) or reconcile

	life   context.Context // canceled by Close; bounds background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // background work (reconcile)

	// mu guards everything below. It is never held across a D-Bus call.
	mu       sync.Mutex
	owner    string          // unique name of NetworkManager, "" when gone
	dev      dbus.ObjectPath // device object of cfg.Interface, "" when missing
	state    wifi.State
	aps      map[dbus.ObjectPath]apInfo
	listener *listener // the running Join's signal feed, or nil
	lastScan time.Time
	closed   bool
	// reconciling is closed when the last reconcile started has ended.
	reconciling chan struct{}

	// The Watch streams; set under mu so that they follow state and aps.
	stateHub *watch.Hub[wifi.State]
	apHub    *watch.Hub[[]wifi.AccessPoint]

	// m is what is known of NetworkManager's objects. Only the goroutine
	// that runs loop touches it (New before loop starts).
	m model
}

// model is the part of NetworkManager's state the Client follows: read once
// (at start, when NetworkManager or the device appears, and when an object
// path changes) and then kept up to date from what the signals carry. Each
// *Seq is the sequence number (godbus's, per connection) of the reply that
// last read the group: a signal received before it is older than the value
// and is ignored.
type model struct {
	wirelessOn bool
	wlSeq      dbus.Sequence

	devState uint32
	ac       dbus.ObjectPath // device's ActiveConnection, "" for none
	ip4      dbus.ObjectPath // device's Ip4Config, "" for none
	devSeq   dbus.Sequence

	ssid []byte // SSID of ac's profile (read once per ac: it never changes)

	addr    netip.Addr // first IPv4 address of ip4
	addrSeq dbus.Sequence
}

type apInfo struct {
	ap              wifi.AccessPoint
	flags, wpa, rsn uint32
}

var _ wifi.Backend = (*Client)(nil)

// New starts a Client and reads NetworkManager's state before it returns. It
// succeeds even when NetworkManager or the interface is missing (the state is
// then wifi.Down, and the Client picks them up when they appear); it fails
// only when cfg.Conn is nil or the match rules cannot be added. ctx bounds
// the initial D-Bus calls.
func New(ctx context.Context, cfg Config) (*Client, error) {
	return start(ctx, cfg, true)
}

// Start is New without the wait: it reads NetworkManager's state in the
// background and returns at once (with Config.Begin set, the match rules are
// added and the state read once Begin is closed; without it, the match rules
// are added before Start returns). Until then State is wifi.Down and the access point list
// is empty; WatchState and WatchAccessPoints report the state when it
// arrives, and Ready is closed then. A daemon uses it to publish its
// Bluetooth service without waiting for NetworkManager.
func Start(ctx context.Context, cfg Config) (*Client, error) {
	return start(ctx, cfg, false)
}

func start(ctx context.Context, cfg Config, wait bool) (*Client, error) {
	if cfg.Conn == nil {
		return nil, errors.New("nm: Config.Conn is nil")
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		conn:     cfg.Conn,
		log:      cfg.Logger.With("iface", cfg.Interface),
		sigCh:    make(chan *dbus.Signal, 1024),
		done:     make(chan struct{}),
		ready:    make(chan struct{}),
		loopEnd:  make(chan struct{}),
		aps:      map[dbus.ObjectPath]apInfo{},
		stateHub: watch.New(wifi.State{Kind: wifi.Down}, wifi.State.Clone),
		apHub:    watch.New[[]wifi.AccessPoint](nil, wifi.CloneAccessPoints),
	}
	c.life, c.cancel = context.WithCancel(context.Background())
	c.matches = [][]dbus.MatchOption{
		{dbus.WithMatchSender(ifaceDBus), dbus.WithMatchInterface(ifaceDBus),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, busName)},
		{dbus.WithMatchSender(busName), dbus.WithMatchPathNamespace(rootPath)},
	}
	if wait || cfg.Begin == nil {
		if err := c.subscribe(ctx); err != nil {
			return nil, err
		}
	}
	if wait {
		c.first(ctx)
	}
	go c.loop(!wait)
	return c, nil
}

// subscribe adds the match rules and starts receiving NetworkManager's signals.
func (c *Client) subscribe(ctx context.Context) error {
	for i, m := range c.matches {
		if err := c.conn.AddMatchSignalContext(ctx, m...); err != nil {
			for _, m := range c.matches[:i] {
				_ = c.conn.RemoveMatchSignal(m...)
			}
			return fmt.Errorf("nm: add match rule: %w", err)
		}
	}
	c.conn.Signal(c.sigCh)
	return nil
}

// first looks NetworkManager up and reads its state, then closes ready.
func (c *Client) first(ctx context.Context) {
	defer close(c.ready)
	var owner string
	if err := c.conn.BusObject().CallWithContext(ctx, ifaceDBus+".GetNameOwner", 0, busName).Store(&owner); err != nil {
		c.log.Info("NetworkManager is not running; waiting for it", "err", err)
		return
	}
	c.setOwner(ctx, owner)
}

// Ready returns a channel that is closed once NetworkManager's state has
// been read for the first time (or NetworkManager was found missing): from
// then on State is NetworkManager's. With New it is closed when New returns.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// waitReady waits for Ready, ctx or Close.
func (c *Client) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errors.New("client closed")
	}
}

// Close implements wifi.Backend: it stops watching NetworkManager, removes the
// match rules and closes every Watch channel. A running Join is canceled.
func (c *Client) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		<-c.loopEnd // it may add the match rules (Start with Begin)
		c.conn.RemoveSignal(c.sigCh)
		for _, m := range c.matches {
			_ = c.conn.RemoveMatchSignal(m...)
		}
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.wg.Wait()
		c.stateHub.Close()
		c.apHub.Close()
	})
	return nil
}

// State implements wifi.Backend.
func (c *Client) State() wifi.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Clone()
}

// WatchState implements wifi.Backend.
func (c *Client) WatchState(ctx context.Context) <-chan wifi.State {
	return c.stateHub.Watch(ctx)
}

// AccessPoints implements wifi.Backend.
func (c *Client) AccessPoints() []wifi.AccessPoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apListLocked()
}

// WatchAccessPoints implements wifi.Backend.
func (c *Client) WatchAccessPoints(ctx context.Context) <-chan []wifi.AccessPoint {
	return c.apHub.Watch(ctx)
}

// RequestScan implements wifi.Backend. It calls Device.Wireless.RequestScan
// at most once per Config.ScanInterval; calls in between return nil at once.
// A scan NetworkManager refuses while the device is usable (it rate-limits
// scans itself) is also absorbed.
func (c *Client) RequestScan(ctx context.Context) error {
	if err := c.waitReady(ctx); err != nil {
		return fmt.Errorf("nm: request scan: %w", err)
	}
	c.mu.Lock()
	dev, kind := c.dev, c.state.Kind
	if dev == "" || kind == wifi.Down {
		c.mu.Unlock()
		return fmt.Errorf("nm: request scan: %w", wifi.ErrUnavailable)
	}
	if !c.lastScan.IsZero() && time.Since(c.lastScan) < c.cfg.ScanInterval {
		c.mu.Unlock()
		c.log.Debug("scan request absorbed by rate limit")
		return nil
	}
	c.lastScan = time.Now()
	c.mu.Unlock()
	err := c.call(ctx, dev, ifaceWireless+".RequestScan", map[string]dbus.Variant{}).Err
	if err != nil {
		var de dbus.Error
		if errors.As(err, &de) && de.Name == "org.freedesktop.NetworkManager.Device.NotAllowed" && c.State().Kind != wifi.Down {
			c.log.Debug("scan request refused by NetworkManager", "err", err)
			return nil
		}
		return fmt.Errorf("nm: request scan: %w", err)
	}
	c.log.Debug("scan requested")
	return nil
}

// call makes a method call on NetworkManager bounded by ctx and CallTimeout.
func (c *Client) call(ctx context.Context, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	return c.conn.Object(busName, path).CallWithContext(ctx, method, 0, args...)
}

func (c *Client) getProp(ctx context.Context, path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := c.call(ctx, path, ifaceProperties+".Get", iface, name).Store(&v)
	return v, err
}

func (c *Client) getAll(ctx context.Context, path dbus.ObjectPath, iface string) (map[string]dbus.Variant, error) {
	var m map[string]dbus.Variant
	err := c.call(ctx, path, ifaceProperties+".GetAll", iface).Store(&m)
	return m, err
}

// loop owns the reaction to signals. It is the only writer of owner, dev,
// aps and state (besides New before it starts).
func (c *Client) loop(first bool) {
	defer close(c.loopEnd)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.done
		cancel()
	}()
	if first {
		if b := c.cfg.Begin; b != nil {
			select {
			case <-b:
			case <-c.done:
				return
			}
			// Signals are only wanted from the first read on: none is
			// decoded while the daemon starts.
			if err := c.subscribe(ctx); err != nil {
				c.log.Error("NetworkManager's signals cannot be followed", "err", err)
			}
		}
		c.first(ctx)
	}
	for {
		select {
		case <-c.done:
			return
		case sig := <-c.sigCh:
			c.handle(ctx, sig)
		}
	}
}

func (c *Client) handle(ctx context.Context, sig *dbus.Signal) {
	if sig.Name == ifaceDBus+".NameOwnerChanged" {
		if len(sig.Body) != 3 {
			return
		}
		name, _ := sig.Body[0].(string)
		newOwner, _ := sig.Body[2].(string)
		if name != busName {
			return
		}
		c.forward(sig)
		c.setOwner(ctx, newOwner)
		return
	}
	c.mu.Lock()
	owner, dev := c.owner, c.dev
	_, isAP := c.aps[sig.Path]
	c.mu.Unlock()
	if owner == "" || sig.Sender != owner {
		return
	}
	c.forward(sig)

	m := &c.m
	switch {
	case sig.Path == rootPath:
		switch sig.Name {
		case ifaceNM + ".DeviceAdded", ifaceNM + ".DeviceRemoved":
			c.resync(ctx)
		case ifaceProperties + ".PropertiesChanged":
			if changed(sig, ifaceNM, "Devices", "Startup") {
				// A NetworkManager that just took its bus name may not have
				// its objects yet: look the device up again once it lists
				// its devices or ends its start-up.
				c.resync(ctx)
				return
			}
			vals, stale, ok := changedValues(sig, ifaceNM, "WirelessEnabled")
			if !ok || sig.Sequence < m.wlSeq {
				return
			}
			if on, isBool := vals["WirelessEnabled"].Value().(bool); isBool && !stale {
				m.wirelessOn = on
			} else {
				c.readWireless(ctx)
			}
			c.publishState()
		}
	case dev != "" && sig.Path == dev:
		switch sig.Name {
		case ifaceWireless + ".AccessPointAdded":
			if p, ok := bodyPath(sig); ok {
				c.addAP(ctx, p)
			}
		case ifaceWireless + ".AccessPointRemoved":
			if p, ok := bodyPath(sig); ok {
				c.removeAP(p)
			}
		case ifaceDevice + ".StateChanged":
			if len(sig.Body) != 3 || sig.Sequence < m.devSeq {
				return
			}
			if st, ok := sig.Body[0].(uint32); ok {
				m.devState = st
				c.publishState()
			}
		case ifaceProperties + ".PropertiesChanged":
			vals, stale, ok := changedValues(sig, ifaceDevice, "State", "ActiveConnection", "Ip4Config")
			if !ok || sig.Sequence < m.devSeq {
				return
			}
			if stale {
				c.readDevice(ctx, dev)
				c.publishState()
				return
			}
			ac, ip4 := m.ac, m.ip4
			if v, ok := vals["State"].Value().(uint32); ok {
				m.devState = v
			}
			if v, ok := vals["ActiveConnection"].Value().(dbus.ObjectPath); ok {
				ac = noPath(v)
			}
			if v, ok := vals["Ip4Config"].Value().(dbus.ObjectPath); ok {
				ip4 = noPath(v)
			}
			c.follow(ctx, ac, ip4)
			c.publishState()
		}
	case isAP && sig.Name == ifaceProperties+".PropertiesChanged":
		c.updateAP(sig)
	case m.ac != "" && sig.Path == m.ac && sig.Name == ifaceProperties+".PropertiesChanged":
		// An active connection's profile is fixed for its life; re-read
		// only if NetworkManager says otherwise.
		if _, _, ok := changedValues(sig, ifaceActive, "Connection"); ok {
			m.ssid = c.activeSSID(ctx, m.ac)
			c.publishState()
		}
	case m.ip4 != "" && sig.Path == m.ip4 && sig.Name == ifaceProperties+".PropertiesChanged":
		vals, stale, ok := changedValues(sig, ifaceIP4Config, "AddressData")
		if !ok || sig.Sequence < m.addrSeq {
			return
		}
		if v, isList := vals["AddressData"].Value().([]map[string]dbus.Variant); isList && !stale {
			m.addr = firstIPv4(v)
		} else {
			c.readAddr(ctx)
		}
		c.publishState()
	}
}

// listener feeds NetworkManager's signals to a running Join.
type listener struct {
	ch   chan *dbus.Signal
	stop chan struct{} // closed when the Join stops reading
}

// listen registers a listener; call the returned function to remove it.
func (c *Client) listen() (<-chan *dbus.Signal, func()) {
	l := &listener{ch: make(chan *dbus.Signal, 256), stop: make(chan struct{})}
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
	return l.ch, func() {
		c.mu.Lock()
		if c.listener == l {
			c.listener = nil
		}
		c.mu.Unlock()
		close(l.stop)
	}
}

// forward hands sig to the running Join, if any. It blocks while the Join's
// buffer is full, so that no signal is lost, but never after it stopped
// reading.
func (c *Client) forward(sig *dbus.Signal) {
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case l.ch <- sig:
	case <-l.stop:
	case <-c.done:
	}
}

// changed reports whether a PropertiesChanged signal for iface names one of
// props as changed or invalidated.
func changed(sig *dbus.Signal, iface string, props ...string) bool {
	if len(sig.Body) < 2 {
		return false
	}
	if i, _ := sig.Body[0].(string); i != iface {
		return false
	}
	m, _ := sig.Body[1].(map[string]dbus.Variant)
	for _, p := range props {
		if _, ok := m[p]; ok {
			return true
		}
	}
	if len(sig.Body) > 2 {
		inv, _ := sig.Body[2].([]string)
		for _, p := range props {
			if slices.Contains(inv, p) {
				return true
			}
		}
	}
	return false
}

// changedValues returns the values a PropertiesChanged signal for iface
// carries, if it names one of props as changed or invalidated (ok); stale
// reports that one of props was invalidated without a value, so it must be
// read.
func changedValues(sig *dbus.Signal, iface string, props ...string) (vals map[string]dbus.Variant, stale, ok bool) {
	if !changed(sig, iface, props...) {
		return nil, false, false
	}
	vals, _ = sig.Body[1].(map[string]dbus.Variant)
	if len(sig.Body) > 2 {
		inv, _ := sig.Body[2].([]string)
		for _, p := range props {
			if slices.Contains(inv, p) {
				stale = true
			}
		}
	}
	return vals, stale, true
}

func bodyPath(sig *dbus.Signal) (dbus.ObjectPath, bool) {
	if len(sig.Body) != 1 {
		return "", false
	}
	p, ok := sig.Body[0].(dbus.ObjectPath)
	return p, ok
}

// setOwner records NetworkManager's unique name ("" when it left the bus)
// and re-reads everything.
func (c *Client) setOwner(ctx context.Context, owner string) {
	c.mu.Lock()
	old := c.owner
	c.owner = owner
	c.mu.Unlock()
	switch {
	case owner == "":
		c.log.Info("NetworkManager left the bus")
	case old == "":
		c.log.Info("NetworkManager found", "owner", owner)
	default:
		c.log.Info("NetworkManager restarted", "owner", owner)
	}
	c.resync(ctx)
}

// resync looks the device up again and re-reads the access points and the
// state.
func (c *Client) resync(ctx context.Context) {
	c.mu.Lock()
	owner := c.owner
	c.mu.Unlock()
	var dev dbus.ObjectPath
	if owner != "" {
		err := c.call(ctx, rootPath, ifaceNM+".GetDeviceByIpIface", c.cfg.Interface).Store(&dev)
		if err != nil {
			c.log.Info("interface not found in NetworkManager", "err", err)
			dev = ""
		}
	}
	c.mu.Lock()
	found := dev != "" && c.dev != dev
	if c.dev != dev {
		c.log.Debug("device", "path", dev)
		c.dev = dev
		clear(c.aps)
		c.publishAPsLocked()
	}
	c.mu.Unlock()
	c.m = model{}
	if dev != "" {
		// The state first: it is what a phone asks for first.
		c.readWireless(ctx)
		c.readDevice(ctx, dev)
		c.publishState()
		var paths []dbus.ObjectPath
		if err := c.call(ctx, dev, ifaceWireless+".GetAllAccessPoints").Store(&paths); err != nil {
			c.log.Warn("list access points", "err", err)
		}
		c.mu.Lock()
		for p := range c.aps {
			if !slices.Contains(paths, p) {
				delete(c.aps, p)
			}
		}
		c.mu.Unlock()
		for _, p := range paths {
			c.addAP(ctx, p)
		}
	}
	c.publishState()
	if found {
		// NetworkManager has loaded its profiles by the time it has the
		// device (it takes its bus name earlier).
		c.startReconcile(ctx)
	}
}

// readWireless reads the radio switch into the model.
func (c *Client) readWireless(ctx context.Context) {
	call := c.call(ctx, rootPath, ifaceProperties+".Get", ifaceNM, "WirelessEnabled")
	var v dbus.Variant
	if err := call.Store(&v); err != nil {
		c.log.Debug("read WirelessEnabled", "err", err)
		c.m.wirelessOn = true // unknown: let the device's state decide
		return
	}
	on, ok := v.Value().(bool)
	c.m.wirelessOn = !ok || on
	c.m.wlSeq = call.ResponseSequence
}

// readDevice reads the device's State, ActiveConnection and Ip4Config into
// the model, and what they lead to.
func (c *Client) readDevice(ctx context.Context, dev dbus.ObjectPath) {
	call := c.call(ctx, dev, ifaceProperties+".GetAll", ifaceDevice)
	var props map[string]dbus.Variant
	if err := call.Store(&props); err != nil {
		c.log.Debug("read device", "err", err)
		c.m.devState = 0 // unknown → Down
		c.follow(ctx, "", "")
		return
	}
	c.m.devSeq = call.ResponseSequence
	c.m.devState, _ = props["State"].Value().(uint32)
	ac, _ := props["ActiveConnection"].Value().(dbus.ObjectPath)
	ip4, _ := props["Ip4Config"].Value().(dbus.ObjectPath)
	c.follow(ctx, noPath(ac), noPath(ip4))
}

// follow moves the model to the device's active connection ac and IPv4
// configuration ip4, reading the SSID and the address once when they are
// new objects.
func (c *Client) follow(ctx context.Context, ac, ip4 dbus.ObjectPath) {
	m := &c.m
	if ac != m.ac {
		m.ac, m.ssid = ac, nil
		if ac != "" {
			m.ssid = c.activeSSID(ctx, ac)
		}
	}
	if ip4 != m.ip4 {
		m.ip4, m.addr = ip4, netip.Addr{}
		if ip4 != "" {
			c.readAddr(ctx)
		}
	}
}

// readAddr reads the model's Ip4Config address.
func (c *Client) readAddr(ctx context.Context) {
	call := c.call(ctx, c.m.ip4, ifaceProperties+".Get", ifaceIP4Config, "AddressData")
	var v dbus.Variant
	if err := call.Store(&v); err != nil {
		c.m.addr = netip.Addr{}
		return
	}
	c.m.addrSeq = call.ResponseSequence
	list, _ := v.Value().([]map[string]dbus.Variant)
	c.m.addr = firstIPv4(list)
}

// stateOf derives the Wi-Fi state from the model.
func (c *Client) stateOf(dev dbus.ObjectPath) wifi.State {
	m := &c.m
	if dev == "" || !m.wirelessOn {
		return wifi.State{Kind: wifi.Down}
	}
	st := wifi.State{Kind: kindOf(m.devState)}
	if st.Kind == wifi.Connecting || st.Kind == wifi.Connected {
		st.SSID = bytes.Clone(m.ssid)
	}
	if st.Kind == wifi.Connected {
		st.IPv4 = m.addr
	}
	return st
}

// publishState publishes the model's state if it changed.
func (c *Client) publishState() {
	c.mu.Lock()
	defer c.mu.Unlock()
	dev := c.dev
	if c.owner == "" {
		dev = ""
	}
	st := c.stateOf(dev)
	if st.Equal(c.state) {
		return
	}
	c.log.Info("state", "state", st.String())
	c.state = st
	c.stateHub.Set(st.Clone())
}

// noPath turns NetworkManager's "no object" path "/" into "".
func noPath(p dbus.ObjectPath) dbus.ObjectPath {
	if p == "/" {
		return ""
	}
	return p
}

// activeSSID returns the SSID of the profile behind an active connection.
func (c *Client) activeSSID(ctx context.Context, ac dbus.ObjectPath) []byte {
	v, err := c.getProp(ctx, ac, ifaceActive, "Connection")
	if err != nil {
		return nil
	}
	conn, _ := v.Value().(dbus.ObjectPath)
	if conn == "" || conn == "/" {
		return nil
	}
	s, err := c.getSettings(ctx, conn)
	if err != nil {
		return nil
	}
	ssid, _ := s["802-11-wireless"]["ssid"].Value().([]byte)
	return ssid
}

// firstIPv4 returns the first IPv4 address of an AddressData list.
func firstIPv4(list []map[string]dbus.Variant) netip.Addr {
	for _, m := range list {
		s, _ := m["address"].Value().(string)
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func (c *Client) addAP(ctx context.Context, p dbus.ObjectPath) {
	props, err := c.getAll(ctx, p, ifaceAP)
	if err != nil {
		c.log.Debug("read access point", "path", p, "err", err)
		return
	}
	var info apInfo
	applyAP(&info, props)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aps[p] = info
	c.publishAPsLocked()
}

func (c *Client) removeAP(p dbus.ObjectPath) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.aps[p]; ok {
		delete(c.aps, p)
		c.publishAPsLocked()
	}
}

func (c *Client) updateAP(sig *dbus.Signal) {
	if len(sig.Body) < 2 {
		return
	}
	if i, _ := sig.Body[0].(string); i != ifaceAP {
		return
	}
	m, _ := sig.Body[1].(map[string]dbus.Variant)
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.aps[sig.Path]
	if !ok {
		return
	}
	before := info.ap
	applyAP(&info, m)
	c.aps[sig.Path] = info
	if !apEqual(before, info.ap) {
		c.publishAPsLocked()
	}
}

// applyAP applies AccessPoint properties to info.
func applyAP(info *apInfo, m map[string]dbus.Variant) {
	if v, ok := m["Ssid"].Value().([]byte); ok {
		info.ap.SSID = bytes.Clone(v)
	}
	if v, ok := m["HwAddress"].Value().(string); ok {
		info.ap.BSSID = v
	}
	if v, ok := m["Strength"].Value().(byte); ok {
		info.ap.Strength = v
	}
	if v, ok := m["Frequency"].Value().(uint32); ok {
		info.ap.Frequency = v
	}
	if v, ok := m["Flags"].Value().(uint32); ok {
		info.flags = v
	}
	if v, ok := m["WpaFlags"].Value().(uint32); ok {
		info.wpa = v
	}
	if v, ok := m["RsnFlags"].Value().(uint32); ok {
		info.rsn = v
	}
	info.ap.Security = securityOf(info.flags, info.wpa, info.rsn)
	info.ap.Auth = authOf(info.flags, info.wpa, info.rsn)
	info.ap.RSSI = wifi.StrengthToDBm(info.ap.Strength)
}

func apEqual(a, b wifi.AccessPoint) bool {
	return bytes.Equal(a.SSID, b.SSID) && a.BSSID == b.BSSID && a.Strength == b.Strength &&
		a.Frequency == b.Frequency && a.Security == b.Security && a.Auth == b.Auth
}

func (c *Client) apListLocked() []wifi.AccessPoint {
	list := make([]wifi.AccessPoint, 0, len(c.aps))
	for _, info := range c.aps {
		ap := info.ap
		ap.SSID = bytes.Clone(ap.SSID)
		list = append(list, ap)
	}
	slices.SortFunc(list, func(a, b wifi.AccessPoint) int {
		if a.Strength != b.Strength {
			return int(b.Strength) - int(a.Strength)
		}
		if d := bytes.Compare(a.SSID, b.SSID); d != 0 {
			return d
		}
		return compareStrings(a.BSSID, b.BSSID)
	})
	return list
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Client) publishAPsLocked() {
	c.apHub.Set(c.apListLocked())
}

// securitiesFor returns the security of every visible access point whose
// SSID is ssid.
func (c *Client) securitiesFor(ssid []byte) []wifi.Security {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wifi.Security
	for _, info := range c.aps {
		if bytes.Equal(info.ap.SSID, ssid) {
			out = append(out, info.ap.Security)
		}
	}
	return out
}
