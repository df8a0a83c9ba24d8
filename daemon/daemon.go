package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/wifi"
)

// Defaults of Config's timing fields.
const (
	DefaultCyclePause = 3 * time.Second
	// DefaultNotifyGap spaces the Available Networks notifications: 20
	// SSIDs reach the phone in about 0.3 s, while a link carries some 300
	// notifications a second in the test bed. Old phones that drop
	// notifications sent close together want a longer gap (the original
	// used 50 ms): Config.NotifyGap, --notify-gap.
	DefaultNotifyGap = 15 * time.Millisecond
	// DefaultJoinDelay is how long a Credentials write that may be the first
	// piece of a long write waits for more pieces before the join starts.
	DefaultJoinDelay = 200 * time.Millisecond
	// DefaultJoinTimeout bounds one join, rollback included.
	DefaultJoinTimeout = 3 * time.Minute
)

// Protocol names, as --profiles takes them.
const (
	ProtocolBluenet = "bluenet"
	ProtocolImprov  = "improv"
)

// DefaultProtocols is what a daemon speaks when Config.Protocols is empty.
var DefaultProtocols = []string{ProtocolBluenet, ProtocolImprov}

// Config configures the daemon. Conn and WiFi are required.
type Config struct {
	// Conn is a private connection to the system bus (bluetoothd).
	Conn *dbus.Conn
	// WiFi scans and joins networks.
	WiFi wifi.Backend
	// Logger receives logs; nil discards them. Secrets are never logged.
	Logger *slog.Logger
	// Adapter selects the Bluetooth adapter ("hci0", an address, or "" for
	// the first one).
	Adapter string
	// Alias is the adapter's name as phones see it; empty leaves it as is.
	Alias string
	// AliasFile keeps a name a phone gave the device (Improv's Device Name)
	// across restarts: when it exists its content replaces Alias. Empty: a
	// name set by a phone lasts until the daemon stops.
	AliasFile string
	// Hostname is sent in the Hostname characteristic; "%IP" in it is
	// replaced by the Wi-Fi interface's IPv4 address.
	Hostname string
	// Version is what the Version characteristic answers; default "1.0".
	Version string
	// AutoAdvertise stops advertising while Wi-Fi is Connected and no
	// central is connected.
	AutoAdvertise bool
	// KeepBREDR leaves BR/EDR on. By default it is switched off on the
	// adapter, as the original did, because some phones otherwise connect
	// over BR/EDR and see no services.
	KeepBREDR bool
	// Protocols lists the wire formats to speak, in advertising priority
	// order ("bluenet", "improv"); empty means DefaultProtocols. Each gets
	// its own GATT service and advertising instance.
	Protocols []string
	// Improv configures the Improv service (used when Protocols has it).
	Improv ImprovConfig
	// Setup is the setup window: provisioning writes are accepted only
	// while it is open (a setup started in it may finish). The daemon tells
	// it whether Wi-Fi is online. Nil: always open (the original's
	// behaviour).
	Setup *setup.Window
	// Pairing configures LE pairing; the zero value leaves it off (the
	// original's behaviour: no encryption is asked for).
	Pairing PairingConfig
	// LeaseIdle is how long a central that started a setup may stay silent
	// before another central may start one (default one minute).
	LeaseIdle time.Duration

	// CyclePause is the pause after each round of Available Networks
	// notifications (default 3 s); NotifyGap the gap between two SSIDs
	// (default DefaultNotifyGap); JoinDelay see DefaultJoinDelay; JoinTimeout bounds
	// one join (default 3 min).
	CyclePause, NotifyGap, JoinDelay, JoinTimeout time.Duration

	// OnReady is called once, after the GATT application and the
	// advertisement are registered (systemd's READY=1).
	OnReady func()
	// OnStatus is called with the new status after every change, one call
	// at a time and in the order of the changes: the last call has the
	// latest status.
	OnStatus func(Status)
}

// Status is what the daemon reports about itself (bluenet status).
type Status struct {
	State       string   `json:"state"` // down, disconnected, connecting, connected
	SSID        string   `json:"ssid,omitempty"`
	IPv4        string   `json:"ipv4,omitempty"`
	Hostname    string   `json:"hostname"`
	Adapter     string   `json:"adapter"`
	Advertising bool     `json:"advertising"`
	Centrals    []string `json:"centrals"` // addresses of connected centrals
	LastResult  string   `json:"last_result"`
	Protocols   []string `json:"protocols,omitempty"`
	// Setup says whether provisioning writes are accepted: "open" or
	// "closed", with the reason ("open (offline)").
	Setup string `json:"setup,omitempty"`
	// SetupUntil is when an open window closes (RFC 3339; empty: stays
	// open), SetupOpensAt when a closed one opens by itself.
	SetupUntil   string `json:"setup_until,omitempty"`
	SetupOpensAt string `json:"setup_opens_at,omitempty"`
	// Pairing says whether phones must pair: "off", "just works" or
	// "passkey" (with the bond policy: ", bonds kept").
	Pairing string `json:"pairing,omitempty"`
}

// service is one wire format's GATT service on the daemon's core. The core
// calls its methods from its own goroutines; a service guards its state.
type service interface {
	// name is the protocol's name ("bluenet", "improv").
	name() string
	// gattServices returns the GATT services to publish.
	gattServices() []gatt.Service
	// attach is called once the GATT server is open, before the service
	// gets any other call or event.
	attach(srv *gatt.Server)
	// advertisement returns what the service advertises now; the core
	// re-registers its instance when it changes (after poke).
	advertisement() gatt.Advertisement
	// wifiChanged is called on every change of the Wi-Fi state.
	wifiChanged(prev, cur wifi.State)
	// joinChanged is called when a join starts (done false) and when it
	// ends (done true, err its outcome), whichever protocol asked for it.
	joinChanged(done bool, err error)
	// setupChanged is called when the setup window opens or closes.
	setupChanged()
	// disconnected is called when a central disconnects.
	disconnected(dev gatt.Device)
	// stop ends the service's timers; it runs once, at shutdown.
	stop()
}

// daemon is the protocol-neutral core of one Run: adapter, advertising,
// Wi-Fi state, one join at a time, status.
type daemon struct {
	cfg Config
	log *slog.Logger
	srv atomic.Pointer[gatt.Server] // set once Open returns; callbacks may run before
	// adapter is the adapter chosen at start. srv.Adapter() is nil while
	// bluetoothd or the adapter is away, and still nil when OnAdapter
	// reports it back.
	adapter atomic.Pointer[gatt.Adapter]

	// ctx is Run's context: work the daemon owns (joins, network rounds)
	// starts from it and is counted in wg, which Run waits for.
	ctx     context.Context
	wg      sync.WaitGroup
	ownedMu sync.Mutex // guards closing against wg.Add
	closing bool       // set before Run waits for wg: no new owned work

	services []service
	// advertised is what each service's instance was last asked to
	// advertise (nil: not advertising); used by the main loop only.
	advertised []*gatt.Advertisement
	slotsFull  bool // a later instance was refused: logged once

	joinMu   sync.Mutex    // held by the running join
	statusMu sync.Mutex    // held from a status's snapshot to its OnStatus
	window   *setup.Window // Config.Setup, or one that is always open
	gate     *setup.Gate   // the window and one phone at a time

	mu         sync.Mutex
	wifiState  wifi.State
	aps        []wifi.AccessPoint
	apsChanged chan struct{} // closed and replaced when aps changes
	centrals   map[dbus.ObjectPath]string
	paired     map[dbus.ObjectPath]bool // devices the agent let pair (their bond is removed)
	alias      string                   // the adapter's name: Config.Alias, or the one a phone set
	// joining is the SSID of the running join. When the link is Connected
	// to it, the services learn the join succeeded before they notify the
	// Connected state (early), so that a phone that reads the result on
	// Connected never reads "joining"; the join's own end then only reports
	// a failure that came after (saving the profile).
	joining     []byte
	early       bool
	lastJoin    string // status text of the last join
	advertising bool

	kick     chan struct{} // re-evaluate advertising
	settling atomic.Bool   // a pokeSoon is pending

	// known is closed once the backend knows the Wi-Fi state (see
	// readyBackend); until then the setup window is not told whether the
	// device is online.
	known <-chan struct{}
}

// readyBackend is a wifi.Backend that learns its first state after it was
// created (nm.Start): Ready is closed then. The daemon publishes its
// services without waiting for it.
type readyBackend interface {
	Ready() <-chan struct{}
}

// stateWait bounds how long a read of the Wi-Fi state waits for the
// backend's first state at start-up.
const stateWait = 3 * time.Second

// Run publishes the configured protocols' services and serves until ctx is
// done; then it stops advertising, unregisters, waits for the work it
// started and returns nil. Wi-Fi is left as it is.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Conn == nil || cfg.WiFi == nil {
		return errors.New("daemon: Config.Conn and Config.WiFi are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CyclePause <= 0 {
		cfg.CyclePause = DefaultCyclePause
	}
	if cfg.NotifyGap <= 0 {
		cfg.NotifyGap = DefaultNotifyGap
	}
	if cfg.JoinDelay <= 0 {
		cfg.JoinDelay = DefaultJoinDelay
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = DefaultProtocols
	}
	d := &daemon{cfg: cfg, log: cfg.Logger, centrals: map[dbus.ObjectPath]string{}, paired: map[dbus.ObjectPath]bool{},
		apsChanged: make(chan struct{}), lastJoin: "no join yet", kick: make(chan struct{}, 1)}
	d.wifiState = cfg.WiFi.State()
	d.aps = cfg.WiFi.AccessPoints()
	d.window = cfg.Setup
	if d.window == nil {
		d.window = setup.New(setup.Config{Mode: setup.Always})
		defer d.window.Close()
	}
	if r, ok := cfg.WiFi.(readyBackend); ok {
		d.known = r.Ready()
	} else {
		known := make(chan struct{})
		close(known)
		d.known = known
	}
	if d.stateKnown() {
		d.window.SetOnline(d.wifiState.Kind == wifi.Connected)
	}
	d.gate = setup.NewGate(d.window, setup.NewLease(setup.LeaseConfig{Idle: cfg.LeaseIdle}))
	for _, p := range cfg.Protocols {
		switch p {
		case ProtocolBluenet:
			d.services = append(d.services, newBluenet(d))
		case ProtocolImprov:
			d.services = append(d.services, newImprov(d))
		default:
			return fmt.Errorf("daemon: unknown protocol %q (want %q or %q)", p, ProtocolBluenet, ProtocolImprov)
		}
	}
	d.advertised = make([]*gatt.Advertisement, len(d.services))
	d.alias = cfg.Alias
	if cfg.AliasFile != "" {
		if b, err := os.ReadFile(cfg.AliasFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			d.alias = strings.TrimSpace(string(b))
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = runCtx
	err := d.run(runCtx)
	cancel()
	d.ownedMu.Lock()
	d.closing = true
	d.ownedMu.Unlock()
	d.wg.Wait()
	return err
}

func (d *daemon) run(ctx context.Context) error {
	var svcs []gatt.Service
	for _, s := range d.services {
		svcs = append(svcs, s.gattServices()...)
	}
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:         d.cfg.Conn,
		Logger:       d.log.With("component", "gatt"),
		Adapter:      d.cfg.Adapter,
		Services:     svcs,
		OnError:      func(err error) { d.log.Error("bluetooth", "err", err) },
		OnRegistered: func() { d.log.Info("GATT application registered"); d.poke() },
		OnConnect:    d.onConnect,
		OnDisconnect: d.onDisconnect,
		OnAdapter:    d.onAdapter,
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.adapter.Store(srv.Adapter())
	d.srv.Store(srv)
	defer srv.Close()
	agent, err := d.startAgent(ctx)
	if err != nil {
		return err
	}
	if agent != nil {
		defer agent.Close(context.Background())
	}
	for _, s := range d.services {
		s.attach(srv)
	}
	defer func() {
		for _, s := range d.services {
			s.stop()
		}
	}()

	if err := d.setupAdapter(ctx); err != nil {
		return err
	}
	if err := d.updateAdvertising(ctx); err != nil {
		return err
	}
	d.log.Info("advertising", "alias", d.aliasName(), "adapter", d.adapter.Load().Name(), "protocols", d.cfg.Protocols)
	if d.cfg.OnReady != nil {
		d.cfg.OnReady()
	}
	d.publishStatus()

	states := d.cfg.WiFi.WatchState(ctx)
	apLists := d.cfg.WiFi.WatchAccessPoints(ctx)
	windowChanges := d.window.Changes()
	known := d.known
	if d.stateKnown() {
		known = nil
	}
	for {
		select {
		case <-known:
			// The backend's first state: the latest arrives on states
			// (or already did); the window learns it now.
			known = nil
			d.window.SetOnline(d.cfg.WiFi.State().Kind == wifi.Connected)
		case ws, ok := <-windowChanges:
			if !ok {
				windowChanges = nil
				continue
			}
			d.log.Info("setup window", "open", ws.Open, "reason", string(ws.Reason))
			for _, s := range d.services {
				s.setupChanged()
			}
			d.setPairable(ctx, d.adapter.Load())
			d.pokeSoon()
		case <-ctx.Done():
			d.shutdown()
			return nil
		case st, ok := <-states:
			if !ok {
				states = nil
				continue
			}
			d.onWiFiState(st)
		case aps, ok := <-apLists:
			if !ok {
				apLists = nil
				continue
			}
			d.mu.Lock()
			d.aps = aps
			close(d.apsChanged)
			d.apsChanged = make(chan struct{})
			d.mu.Unlock()
		case <-d.kick:
			if err := d.updateAdvertising(ctx); err != nil {
				d.log.Error("advertising", "err", err)
			}
			d.publishStatus()
		}
	}
}

// setupAdapter does what the original did at start-up: BR/EDR off, powered,
// alias, discoverable without timeout, and no stale centrals.
func (d *daemon) setupAdapter(ctx context.Context) error {
	if err := d.prepareAdapter(ctx, d.adapter.Load()); err != nil {
		return err
	}
	if err := d.server().DisconnectAll(ctx); err != nil {
		d.log.Warn("disconnect stale centrals", "err", err)
	}
	return nil
}

// prepareAdapter sets the adapter up; it runs at start and again when the
// adapter comes back (bluetoothd restarted, or the controller was replugged),
// which leaves it powered off.
func (d *daemon) prepareAdapter(ctx context.Context, a *gatt.Adapter) error {
	cycled := false // the controller may have been power-cycled
	if !d.cfg.KeepBREDR {
		// First: the kernel takes it only while powered off, so SetBREDR
		// power-cycles the controller.
		if on, err := a.BREDR(ctx); err != nil || on {
			cycled = true
			if err := a.SetBREDR(ctx, false); err != nil {
				// Not fatal: LE works; some old phones may try BR/EDR.
				d.log.Warn("could not switch BR/EDR off", "adapter", a.Name(), "err", err)
			}
		}
	}
	// What is already set is not set again (a restarted daemon finds the
	// adapter as it left it): one read instead of four writes, and at start
	// not even that (the adapter's properties came with bluetoothd's objects
	// when the application was registered). After a power cycle bluetoothd's
	// properties may lag behind the kernel: set them all.
	var cur map[string]dbus.Variant
	if !cycled {
		cur = a.Snapshot()
	}
	if !cycled && cur == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.cfg.Conn.Object("org.bluez", a.Path()).CallWithContext(cctx,
			"org.freedesktop.DBus.Properties.GetAll", 0, "org.bluez.Adapter1").Store(&cur)
		cancel()
		if err != nil {
			cur = nil
		}
	}
	has := func(name string, v any) bool {
		got, ok := cur[name]
		return ok && reflect.DeepEqual(got.Value(), v)
	}
	if !has("Powered", true) {
		if err := a.SetPowered(ctx, true); err != nil {
			return fmt.Errorf("daemon: power on %s: %w", a.Name(), err)
		}
	}
	if alias := d.aliasName(); alias != "" && !has("Alias", alias) {
		if err := a.SetAlias(ctx, alias); err != nil {
			return fmt.Errorf("daemon: set alias: %w", err)
		}
	}
	if !has("Discoverable", true) || !has("DiscoverableTimeout", uint32(0)) {
		if err := a.SetDiscoverable(ctx, true, 0); err != nil {
			return fmt.Errorf("daemon: discoverable: %w", err)
		}
	}
	d.setPairable(ctx, a)
	return nil
}

// onAdapter sets our adapter up again when it reappears (same object path
// or same address).
func (d *daemon) onAdapter(ev gatt.AdapterEvent) {
	ours := d.adapter.Load()
	if !ev.Added || ours == nil || (ev.Path != ours.Path() && !strings.EqualFold(ev.Address, ours.Address())) {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	a, err := gatt.OpenAdapter(ctx, d.cfg.Conn, string(ev.Path), 0)
	if err == nil {
		err = d.prepareAdapter(ctx, a)
	}
	if err != nil {
		d.log.Error("adapter came back but could not be set up", "adapter", ev.Path, "err", err)
		return
	}
	d.adapter.Store(a)
	d.log.Info("adapter set up again", "adapter", ev.Path)
}

func (d *daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.server().StopAdvertising(ctx); err != nil {
		d.log.Debug("stop advertising", "err", err)
	}
	d.log.Info("stopped")
}

func (d *daemon) server() *gatt.Server { return d.srv.Load() }

// poke asks the main loop to re-evaluate advertising and status.
func (d *daemon) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// advSettle is how long after a change of Wi-Fi state or of the setup
// window the advertisements follow it (Improv's state byte). Re-registering
// an advertisement keeps bluetoothd busy for tens of milliseconds; the
// notifications of the same change go first, so that a connected phone
// hears "connected" without waiting for it (in the bed, NetworkManager's
// ACTIVATED -> Connection State at the central: a median of 89 ms with the
// advertisement re-registered at once, 48 ms with it settling). Changes
// within advSettle share one re-registration.
const advSettle = 250 * time.Millisecond

// pokeSoon asks the main loop to re-evaluate advertising advSettle from
// now, once for all the calls until then.
func (d *daemon) pokeSoon() {
	if d.settling.CompareAndSwap(false, true) {
		time.AfterFunc(advSettle, func() {
			d.settling.Store(false)
			d.poke()
		})
	}
}

// goOwned runs f on its own goroutine with the daemon's context; Run waits
// for it before it returns. Once Run is returning, f is not run.
func (d *daemon) goOwned(f func(ctx context.Context)) {
	d.ownedMu.Lock()
	defer d.ownedMu.Unlock()
	if d.closing {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f(d.ctx)
	}()
}

// aliasName returns the adapter's name as phones should see it.
func (d *daemon) aliasName() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.alias
}

// setAlias renames the device: the adapter's alias, the advertised name,
// and, with Config.AliasFile, the name used after a restart.
func (d *daemon) setAlias(ctx context.Context, name string) error {
	a := d.adapter.Load()
	if a == nil {
		return gatt.ErrNoAdapter
	}
	if err := a.SetAlias(ctx, name); err != nil {
		return fmt.Errorf("daemon: set alias: %w", err)
	}
	d.mu.Lock()
	d.alias = name
	d.mu.Unlock()
	if d.cfg.AliasFile != "" {
		if err := os.WriteFile(d.cfg.AliasFile, []byte(name+"\n"), 0o644); err != nil {
			d.log.Warn("the new device name is not kept across restarts", "file", d.cfg.AliasFile, "err", err)
		}
	}
	d.log.Info("device renamed", "alias", name)
	d.poke()
	return nil
}

func (d *daemon) currentState() wifi.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wifiState
}

// stateKnown reports whether the backend knows the Wi-Fi state.
func (d *daemon) stateKnown() bool {
	select {
	case <-d.known:
		return true
	default:
		return false
	}
}

// waitState returns the Wi-Fi state for a phone's read: at start-up, once
// the backend knows it (at most stateWait).
func (d *daemon) waitState() wifi.State {
	if d.stateKnown() {
		return d.currentState()
	}
	t := time.NewTimer(stateWait)
	defer t.Stop()
	select {
	case <-d.known:
		return d.cfg.WiFi.State()
	case <-t.C:
		return d.currentState()
	}
}

// setupOpen reports whether provisioning writes are accepted now.
func (d *daemon) setupOpen() bool { return d.window.Open() }

// setupAuthorized reports whether someone authorized a setup on the device
// (a button or bluenet allow), as opposed to a window that is open by
// itself.
func (d *daemon) setupAuthorized() bool { return d.window.State().Authorized }

// startSetup checks that central dev may provision now: the window must be
// open (setup.ErrNotAuthorized), unless dev's own setup runs, and no other
// central mid-setup (setup.ErrBusy). It counts as the central's activity.
func (d *daemon) startSetup(dev dbus.ObjectPath) error { return d.gate.Write(string(dev)) }

// accessPoints returns the latest scan results and a channel closed when
// they change.
func (d *daemon) accessPoints() ([]wifi.AccessPoint, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aps, d.apsChanged
}

func (d *daemon) hostnameValue() string {
	return ExpandHostname(d.cfg.Hostname, d.currentState().IPv4)
}

// join joins ssid for a central (addr, for the log) and tells every service
// when it starts and ends; one join runs at a time, a second one gets a
// wifi.ErrBusy JoinError at once and tells nobody. It blocks until the
// outcome is known.
func (d *daemon) join(ctx context.Context, dev dbus.ObjectPath, addr string, ssid []byte, cred wifi.Credentials) error {
	if !d.lockJoin(ctx) {
		d.log.Info("join refused: another join is running", "ssid", string(ssid), "central", addr)
		return &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonBusy}
	}
	defer d.joinMu.Unlock()
	d.log.Info("join requested", "ssid", string(ssid), "central", addr)
	d.setLastJoin("joining")
	for _, s := range d.services {
		s.joinChanged(false, nil)
	}
	// The central's setup may outlast the lease's idle time while it joins;
	// it ends with the join (Done or Failed below).
	end := d.gate.Joining(string(dev))
	ctx, cancel := context.WithTimeout(ctx, d.cfg.JoinTimeout)
	defer cancel()
	d.mu.Lock()
	d.joining, d.early = ssid, false
	d.mu.Unlock()
	start := time.Now()
	select { // at start-up, the backend may not know the device yet
	case <-d.known:
	case <-ctx.Done():
	}
	err := d.cfg.WiFi.Join(ctx, ssid, cred)
	d.mu.Lock()
	early := d.early
	d.joining = nil // early stays set until the next join starts: lockJoin reads it
	d.mu.Unlock()
	end()
	if err != nil {
		d.gate.Failed(string(dev)) // the lease is free, an authorization starts over
	} else {
		d.gate.Done(string(dev)) // the lease is free, an authorization ends
	}
	if errors.Is(err, wifi.ErrBusy) {
		// Someone else (bluenet join on the device) is joining; the running
		// join keeps its own result.
		d.log.Info("join refused: the backend is busy", "ssid", string(ssid))
		d.setLastJoin(joinText(err))
		return err
	}
	if err != nil {
		d.log.Warn("join failed", "ssid", string(ssid), "reason", wifi.ReasonOf(err).String(), "err", err,
			"seconds", time.Since(start).Seconds())
	} else {
		d.log.Info("joined", "ssid", string(ssid), "seconds", time.Since(start).Seconds())
	}
	d.setLastJoin(joinText(err))
	if err != nil || !early {
		for _, s := range d.services {
			s.joinChanged(true, err)
		}
	}
	return err
}

// joinText is the status text of a join's outcome.
func joinText(err error) string {
	switch wifi.ReasonOf(err) {
	case wifi.ReasonNone:
		return "connected"
	case wifi.ReasonWrongPassword:
		return "wrong password"
	case wifi.ReasonNotFound:
		return "network not found"
	case wifi.ReasonTimeout:
		return "timed out"
	case wifi.ReasonDHCPFailed:
		return "no IP address (DHCP failed)"
	case wifi.ReasonBusy:
		return "busy: another join is running"
	case wifi.ReasonInvalid:
		return "invalid input"
	}
	return "failed"
}

func (d *daemon) setLastJoin(text string) {
	d.mu.Lock()
	d.lastJoin = text
	d.mu.Unlock()
	d.publishStatus()
}

// lockJoin takes the join lock. While another join runs it fails, unless
// that join has already succeeded (its link is Connected, the result is
// out) and only finishes its bookkeeping: then it waits for it, so that a
// phone that starts its next join on the result is not told "busy".
func (d *daemon) lockJoin(ctx context.Context) bool {
	for !d.joinMu.TryLock() {
		d.mu.Lock()
		finishing := d.early
		d.mu.Unlock()
		if !finishing {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// joinedEarly tells the services that the running join succeeded when
// the link becomes Connected to its network, before that state is
// notified; it reports whether it did.
func (d *daemon) joinedEarly(st wifi.State) bool {
	d.mu.Lock()
	ok := d.joining != nil && !d.early && st.Kind == wifi.Connected && bytes.Equal(st.SSID, d.joining)
	if ok {
		d.early = true
	}
	d.mu.Unlock()
	if ok {
		for _, s := range d.services {
			s.joinChanged(true, nil)
		}
	}
	return ok
}

func (d *daemon) onWiFiState(st wifi.State) {
	d.joinedEarly(st)
	d.mu.Lock()
	prev := d.wifiState
	d.wifiState = st
	d.mu.Unlock()
	if d.stateKnown() {
		d.window.SetOnline(st.Kind == wifi.Connected)
	}
	if !st.Equal(prev) {
		d.log.Info("wifi", "state", st.String())
	}
	for _, s := range d.services {
		s.wifiChanged(prev, st)
	}
	d.pokeSoon()
	d.publishStatus()
}

func (d *daemon) notify(c *gatt.Char, v []byte) {
	if err := c.Notify(v); err != nil {
		d.log.Debug("notify", "uuid", c.UUID().String(), "err", err)
	}
}

// wantAdvertising says whether to advertise now.
func (d *daemon) wantAdvertising() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.cfg.AutoAdvertise || d.wifiState.Kind != wifi.Connected || len(d.centrals) > 0
}

// updateAdvertising registers, replaces or removes each service's
// advertising instance (instance i for service i). It runs on the main
// loop only. A controller with fewer instances than services advertises
// the first ones (in Config.Protocols order) and logs which are left out.
func (d *daemon) updateAdvertising(ctx context.Context) error {
	want := d.wantAdvertising()
	var errs []error
	for i, s := range d.services {
		if !want {
			if d.advertised[i] == nil {
				continue
			}
			if err := d.server().StopInstance(ctx, i); err != nil {
				errs = append(errs, fmt.Errorf("daemon: stop advertising %s: %w", s.name(), err))
				continue
			}
			d.advertised[i] = nil
			d.log.Info("advertising stopped: Wi-Fi connected and no central connected", "protocol", s.name())
			continue
		}
		adv := s.advertisement()
		if d.advertised[i] != nil && reflect.DeepEqual(*d.advertised[i], adv) {
			continue
		}
		err := d.server().AdvertiseInstance(ctx, i, adv)
		if err != nil {
			d.advertised[i] = nil
			if i > 0 && errors.Is(err, gatt.ErrAdvertisingSlotsFull) {
				if !d.slotsFull {
					d.log.Warn("the controller has no free advertising instance: this protocol is not advertised (phones that know the device can still connect)",
						"protocol", s.name())
					d.slotsFull = true
				}
				continue
			}
			errs = append(errs, fmt.Errorf("daemon: advertise %s: %w", s.name(), err))
			continue
		}
		if d.advertised[i] == nil {
			d.log.Info("advertising started", "protocol", s.name())
		}
		d.advertised[i] = &adv
	}
	d.setAdvertising(d.server().Advertising())
	return errors.Join(errs...)
}

// advDuration is how long, in seconds, each of the daemon's advertisements
// is sent when the controller rotates between them (both protocols on a
// controller without hardware advertising sets): 1 s instead of BlueZ's
// 2 s, so that a scanning phone waits at most a second per other instance
// for the one it looks for.
const advDuration = 1

// advName cuts the alias to the 29 bytes a scan response holds, at a UTF-8
// boundary.
func advName(alias string) string {
	const max = 29
	if len(alias) <= max {
		return alias
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(alias[cut]) {
		cut--
	}
	return alias[:cut]
}

func (d *daemon) setAdvertising(on bool) {
	d.mu.Lock()
	d.advertising = on
	d.mu.Unlock()
}

func (d *daemon) onConnect(dev gatt.Device) {
	d.mu.Lock()
	d.centrals[dev.Path] = dev.Address
	d.mu.Unlock()
	d.log.Info("central connected", "address", dev.Address)
	d.poke()
}

func (d *daemon) onDisconnect(dev gatt.Device) {
	d.mu.Lock()
	delete(d.centrals, dev.Path)
	d.mu.Unlock()
	d.gate.Disconnected(string(dev.Path))
	d.dropBond(dev)
	for _, s := range d.services {
		s.disconnected(dev)
	}
	d.log.Info("central disconnected", "address", dev.Address)
	d.poke()
}

// publishStatus hands the current status to Config.OnStatus. The main
// loop and the joins publish; statusMu makes the snapshot and its delivery
// one step, so an older snapshot is never delivered after a newer one.
func (d *daemon) publishStatus() {
	if d.cfg.OnStatus == nil {
		return
	}
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	d.mu.Lock()
	st := Status{
		State:       d.wifiState.Kind.String(),
		SSID:        string(d.wifiState.SSID),
		Hostname:    ExpandHostname(d.cfg.Hostname, d.wifiState.IPv4),
		Advertising: d.advertising,
		Centrals:    []string{},
		LastResult:  d.lastJoin,
		Protocols:   d.cfg.Protocols,
		Pairing:     d.cfg.Pairing.String(),
	}
	if d.wifiState.IPv4.IsValid() {
		st.IPv4 = d.wifiState.IPv4.String()
	}
	for _, a := range d.centrals {
		st.Centrals = append(st.Centrals, a)
	}
	d.mu.Unlock()
	slices.Sort(st.Centrals)
	if a := d.adapter.Load(); a != nil {
		st.Adapter = a.Name()
	}
	if d.cfg.Setup != nil {
		ws := d.window.State()
		st.Setup = "closed"
		if ws.Open {
			st.Setup = "open"
		}
		st.Setup += " (" + string(ws.Reason) + ")"
		if !ws.Until.IsZero() {
			st.SetupUntil = ws.Until.Format(time.RFC3339)
		}
		if !ws.OpensAt.IsZero() {
			st.SetupOpensAt = ws.OpensAt.Format(time.RFC3339)
		}
	}
	d.cfg.OnStatus(st)
}
