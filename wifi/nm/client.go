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
	acPath   dbus.ObjectPath // device's ActiveConnection (for signal filtering)
	ip4Path  dbus.ObjectPath // device's Ip4Config (for signal filtering)
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
}

type apInfo struct {
	ap              wifi.AccessPoint
	flags, wpa, rsn uint32
}

var _ wifi.Backend = (*Client)(nil)

// New starts a Client. It succeeds even when NetworkManager or the interface
// is missing (the state is then wifi.Down, and the Client picks them up when
// they appear); it fails only when cfg.Conn is nil or the match rules cannot
// be added. ctx bounds the initial D-Bus calls.
func New(ctx context.Context, cfg Config) (*Client, error) {
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
	for i, m := range c.matches {
		if err := c.conn.AddMatchSignalContext(ctx, m...); err != nil {
			for _, m := range c.matches[:i] {
				_ = c.conn.RemoveMatchSignal(m...)
			}
			return nil, fmt.Errorf("nm: add match rule: %w", err)
		}
	}
	c.conn.Signal(c.sigCh)

	var owner string
	if err := c.conn.BusObject().CallWithContext(ctx, ifaceDBus+".GetNameOwner", 0, busName).Store(&owner); err != nil {
		c.log.Info("NetworkManager is not running; waiting for it", "err", err)
	} else {
		c.setOwner(ctx, owner)
	}
	go c.loop()
	return c, nil
}

// Close implements wifi.Backend: it stops watching NetworkManager, removes the
// match rules and closes every Watch channel. A running Join is canceled.
func (c *Client) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		c.conn.RemoveSignal(c.sigCh)
		for _, m := range c.matches {
			_ = c.conn.RemoveMatchSignal(m...)
		}
		<-c.loopEnd
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
func (c *Client) loop() {
	defer close(c.loopEnd)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.done
		cancel()
	}()
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
	owner, dev, ac, ip4 := c.owner, c.dev, c.acPath, c.ip4Path
	_, isAP := c.aps[sig.Path]
	c.mu.Unlock()
	if owner == "" || sig.Sender != owner {
		return
	}
	c.forward(sig)

	switch {
	case sig.Path == rootPath:
		switch sig.Name {
		case ifaceNM + ".DeviceAdded", ifaceNM + ".DeviceRemoved":
			c.resync(ctx)
		case ifaceProperties + ".PropertiesChanged":
			switch {
			case changed(sig, ifaceNM, "Devices", "Startup"):
				// A NetworkManager that just took its bus name may not have
				// its objects yet: look the device up again once it lists
				// its devices or ends its start-up.
				c.resync(ctx)
			case changed(sig, ifaceNM, "WirelessEnabled"):
				c.refreshState(ctx)
			}
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
			c.refreshState(ctx)
		case ifaceProperties + ".PropertiesChanged":
			if changed(sig, ifaceDevice, "State", "ActiveConnection", "Ip4Config") {
				c.refreshState(ctx)
			}
		}
	case isAP && sig.Name == ifaceProperties+".PropertiesChanged":
		c.updateAP(sig)
	case sig.Name == ifaceProperties+".PropertiesChanged" && ac != "" && sig.Path == ac:
		if changed(sig, ifaceActive, "State", "Connection") {
			c.refreshState(ctx)
		}
	case sig.Name == ifaceActive+".StateChanged" && ac != "" && sig.Path == ac:
		c.refreshState(ctx)
	case sig.Name == ifaceProperties+".PropertiesChanged" && ip4 != "" && sig.Path == ip4:
		if changed(sig, ifaceIP4Config, "AddressData", "Addresses") {
			c.refreshState(ctx)
		}
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
	if dev != "" {
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
	c.refreshState(ctx)
	if found {
		// NetworkManager has loaded its profiles by the time it has the
		// device (it takes its bus name earlier).
		c.startReconcile(ctx)
	}
}

// refreshState re-reads the device's state, active connection, SSID and
// IPv4 address, and publishes the state if it changed.
func (c *Client) refreshState(ctx context.Context) {
	c.mu.Lock()
	owner, dev := c.owner, c.dev
	c.mu.Unlock()
	st, ac, ip4 := c.readState(ctx, owner, dev)
	if ctx.Err() != nil {
		return // closing: the reads may have failed half-way
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != owner || c.dev != dev {
		return // a newer resync is under way
	}
	c.acPath, c.ip4Path = ac, ip4
	if st.Equal(c.state) {
		return
	}
	c.log.Info("state", "state", st.String())
	c.state = st
	c.stateHub.Set(st.Clone())
}

func (c *Client) readState(ctx context.Context, owner string, dev dbus.ObjectPath) (st wifi.State, ac, ip4 dbus.ObjectPath) {
	if owner == "" || dev == "" {
		return wifi.State{Kind: wifi.Down}, "", ""
	}
	if v, err := c.getProp(ctx, rootPath, ifaceNM, "WirelessEnabled"); err == nil {
		if on, ok := v.Value().(bool); ok && !on {
			return wifi.State{Kind: wifi.Down}, "", ""
		}
	}
	props, err := c.getAll(ctx, dev, ifaceDevice)
	if err != nil {
		c.log.Debug("read device", "err", err)
		return wifi.State{Kind: wifi.Down}, "", ""
	}
	devState, _ := props["State"].Value().(uint32)
	ac, _ = props["ActiveConnection"].Value().(dbus.ObjectPath)
	ip4, _ = props["Ip4Config"].Value().(dbus.ObjectPath)
	if ac == "/" {
		ac = ""
	}
	if ip4 == "/" {
		ip4 = ""
	}
	st.Kind = kindOf(devState)
	if st.Kind != wifi.Connecting && st.Kind != wifi.Connected {
		return st, ac, ip4
	}
	if ac != "" {
		st.SSID = c.activeSSID(ctx, ac)
	}
	if st.Kind == wifi.Connected && ip4 != "" {
		st.IPv4 = c.readIPv4(ctx, ip4)
	}
	return st, ac, ip4
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

func (c *Client) readIPv4(ctx context.Context, ip4 dbus.ObjectPath) netip.Addr {
	v, err := c.getProp(ctx, ip4, ifaceIP4Config, "AddressData")
	if err != nil {
		return netip.Addr{}
	}
	list, _ := v.Value().([]map[string]dbus.Variant)
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
