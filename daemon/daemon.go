package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// Defaults of Config's timing fields.
const (
	DefaultCyclePause = 3 * time.Second
	DefaultNotifyGap  = 50 * time.Millisecond
	// DefaultJoinDelay is how long a Credentials write that may be the first
	// piece of a long write waits for more pieces before the join starts.
	DefaultJoinDelay = 200 * time.Millisecond
)

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

	// CyclePause is the pause after each round of Available Networks
	// notifications (default 3 s); NotifyGap the gap between two SSIDs
	// (default 50 ms); JoinDelay see DefaultJoinDelay.
	CyclePause, NotifyGap, JoinDelay time.Duration

	// OnReady is called once, after the GATT application and the
	// advertisement are registered (systemd's READY=1).
	OnReady func()
	// OnStatus is called with the new status after every change.
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
}

// ssidKey is the session key of a central's SSID slot.
type ssidKey struct{}

// daemon is the state of one Run.
type daemon struct {
	cfg Config
	log *slog.Logger
	srv atomic.Pointer[gatt.Server] // set once Open returns; callbacks may run before
	// adapter is the adapter chosen at start. srv.Adapter() is nil while
	// bluetoothd or the adapter is away, and still nil when OnAdapter
	// reports it back.
	adapter atomic.Pointer[gatt.Adapter]

	networks, state, hostname, result *gatt.Char

	mu          sync.Mutex
	wifiState   wifi.State
	aps         []wifi.AccessPoint
	apsChanged  chan struct{} // closed and replaced when aps changes
	centrals    map[dbus.ObjectPath]string
	lastResult  bluenet.ResultCode
	advertising bool
	cycleStop   context.CancelFunc // running Available Networks cycle
	joinTimers  map[dbus.ObjectPath]*time.Timer

	kick chan struct{} // re-evaluate advertising
}

// Run publishes the Bluenet service and serves until ctx is done; then it
// stops advertising, unregisters and returns nil. Wi-Fi is left as it is.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Conn == nil || cfg.WiFi == nil {
		return errors.New("daemon: Config.Conn and Config.WiFi are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = bluenet.Version
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
	d := &daemon{cfg: cfg, log: cfg.Logger, centrals: map[dbus.ObjectPath]string{},
		apsChanged: make(chan struct{}), lastResult: bluenet.ResultNone,
		joinTimers: map[dbus.ObjectPath]*time.Timer{}, kick: make(chan struct{}, 1)}
	d.wifiState = cfg.WiFi.State()
	d.aps = cfg.WiFi.AccessPoints()
	return d.run(ctx)
}

func (d *daemon) services() []gatt.Service {
	return []gatt.Service{{
		UUID:    gatt.MustParseUUID(bluenet.ServiceUUID),
		Primary: true,
		Characteristics: []gatt.Characteristic{
			{UUID: gatt.MustParseUUID(bluenet.NetworksUUID), Flags: gatt.FlagNotify, OnSubscribe: d.onNetworksSubscribe},
			{UUID: gatt.MustParseUUID(bluenet.StateUUID), Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return EncodeState(d.currentState()), nil }},
			{UUID: gatt.MustParseUUID(bluenet.HostnameUUID), Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return []byte(d.hostnameValue()), nil }},
			{UUID: gatt.MustParseUUID(bluenet.VersionUUID), Flags: gatt.FlagRead, Value: []byte(d.cfg.Version)},
			{UUID: gatt.MustParseUUID(bluenet.SSIDUUID), Flags: gatt.FlagWrite, OnWrite: d.onSSIDWrite},
			{UUID: gatt.MustParseUUID(bluenet.CredentialsUUID), Flags: gatt.FlagWrite, OnWrite: d.onCredentialsWrite},
			{UUID: gatt.MustParseUUID(bluenet.ResultUUID), Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return bluenet.EncodeResult(d.lastResultCode()), nil }},
		},
	}}
}

func (d *daemon) run(ctx context.Context) error {
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:         d.cfg.Conn,
		Logger:       d.log.With("component", "gatt"),
		Adapter:      d.cfg.Adapter,
		Services:     d.services(),
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
	d.networks = srv.Characteristic(gatt.MustParseUUID(bluenet.NetworksUUID))
	d.state = srv.Characteristic(gatt.MustParseUUID(bluenet.StateUUID))
	d.hostname = srv.Characteristic(gatt.MustParseUUID(bluenet.HostnameUUID))
	d.result = srv.Characteristic(gatt.MustParseUUID(bluenet.ResultUUID))

	if err := d.setupAdapter(ctx); err != nil {
		return err
	}
	if err := d.updateAdvertising(ctx); err != nil {
		return err
	}
	d.log.Info("advertising", "alias", d.cfg.Alias, "adapter", d.adapter.Load().Name())
	if d.cfg.OnReady != nil {
		d.cfg.OnReady()
	}
	d.publishStatus()

	states := d.cfg.WiFi.WatchState(ctx)
	apLists := d.cfg.WiFi.WatchAccessPoints(ctx)
	for {
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case st, ok := <-states:
			if !ok {
				states = nil
				continue
			}
			d.onWiFiState(ctx, st)
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
	if !d.cfg.KeepBREDR {
		// First: the kernel takes it only while powered off, so SetBREDR
		// power-cycles the controller.
		if err := a.SetBREDR(ctx, false); err != nil {
			// Not fatal: LE works; some old phones may try BR/EDR.
			d.log.Warn("could not switch BR/EDR off", "adapter", a.Name(), "err", err)
		}
	}
	if err := a.SetPowered(ctx, true); err != nil {
		return fmt.Errorf("daemon: power on %s: %w", a.Name(), err)
	}
	if d.cfg.Alias != "" {
		if err := a.SetAlias(ctx, d.cfg.Alias); err != nil {
			return fmt.Errorf("daemon: set alias: %w", err)
		}
	}
	if err := a.SetDiscoverable(ctx, true, 0); err != nil {
		return fmt.Errorf("daemon: discoverable: %w", err)
	}
	return nil
}

// onAdapter sets our adapter up again when it reappears (same object path
// or same address).
func (d *daemon) onAdapter(ev gatt.AdapterEvent) {
	ours := d.adapter.Load()
	if !ev.Added || ours == nil || (ev.Path != ours.Path() && !strings.EqualFold(ev.Address, ours.Address())) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	d.mu.Lock()
	if d.cycleStop != nil {
		d.cycleStop()
		d.cycleStop = nil
	}
	for _, t := range d.joinTimers {
		t.Stop()
	}
	d.mu.Unlock()
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

func (d *daemon) currentState() wifi.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wifiState
}

func (d *daemon) lastResultCode() bluenet.ResultCode {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastResult
}

func (d *daemon) hostnameValue() string {
	return ExpandHostname(d.cfg.Hostname, d.currentState().IPv4)
}

func (d *daemon) onWiFiState(ctx context.Context, st wifi.State) {
	d.mu.Lock()
	prev := d.wifiState
	d.wifiState = st
	d.mu.Unlock()
	if !st.Equal(prev) {
		d.log.Info("wifi", "state", st.String())
		d.notify(d.state, EncodeState(st))
	}
	// The original re-sent the host name whenever the link became Connected;
	// with %IP it also changes with the address.
	if (st.Kind == wifi.Connected && prev.Kind != wifi.Connected) || st.IPv4 != prev.IPv4 {
		d.notify(d.hostname, []byte(ExpandHostname(d.cfg.Hostname, st.IPv4)))
	}
	if err := d.updateAdvertising(ctx); err != nil {
		d.log.Error("advertising", "err", err)
	}
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

func (d *daemon) updateAdvertising(ctx context.Context) error {
	want := d.wantAdvertising()
	if want == d.server().Advertising() {
		d.setAdvertising(want)
		return nil
	}
	if want {
		adv := gatt.Advertisement{
			Type:         gatt.AdvertisePeripheral,
			ServiceUUIDs: []gatt.UUID{gatt.MustParseUUID(bluenet.ServiceUUID)},
			// The name goes into the scan response. LocalName rather than
			// the "local-name" include: for the include the kernel cuts
			// names longer than 10 bytes down to 10.
			LocalName:    advName(d.cfg.Alias),
			Discoverable: true,
		}
		if err := d.server().Advertise(ctx, adv); err != nil {
			return fmt.Errorf("daemon: advertise: %w", err)
		}
		d.log.Info("advertising started")
	} else {
		if err := d.server().StopAdvertising(ctx); err != nil {
			return fmt.Errorf("daemon: stop advertising: %w", err)
		}
		d.log.Info("advertising stopped: Wi-Fi connected and no central connected")
	}
	d.setAdvertising(want)
	return nil
}

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
	if t := d.joinTimers[dev.Path]; t != nil {
		t.Stop()
		delete(d.joinTimers, dev.Path)
	}
	d.mu.Unlock()
	d.log.Info("central disconnected", "address", dev.Address)
	d.poke()
}

func (d *daemon) publishStatus() {
	if d.cfg.OnStatus == nil {
		return
	}
	d.mu.Lock()
	st := Status{
		State:       d.wifiState.Kind.String(),
		SSID:        string(d.wifiState.SSID),
		Hostname:    ExpandHostname(d.cfg.Hostname, d.wifiState.IPv4),
		Advertising: d.advertising,
		Centrals:    []string{},
		LastResult:  d.lastResult.String(),
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
	d.cfg.OnStatus(st)
}
