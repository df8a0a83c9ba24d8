package gatt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// DefaultPath is the object path under which a [Server] exports its objects
// when Config.Path is empty: the application root is DefaultPath+"/app" and
// the advertisement DefaultPath+"/adv0".
const DefaultPath dbus.ObjectPath = "/org/bluenet/gatt"

// Config configures a [Server]. Only Conn is required.
type Config struct {
	// Conn is the bus connection bluetoothd is reached on, normally a
	// private connection to the system bus from [ConnectSystemBus] (which
	// keeps a central's write commands in order; dbus.ConnectSystemBus()
	// works too, without that). The
	// server exports its objects on it and sends every call through it;
	// BlueZ ties the registration to this connection's unique name. The
	// server does not close it.
	Conn *dbus.Conn
	// Logger receives debug and error logs; nil discards them.
	Logger *slog.Logger
	// Adapter selects the adapter: "hci0", an address such as
	// "00:AA:01:00:00:00", an object path ("/org/bluez/hci0"), or "" for
	// the first one (hci2 comes before hci10).
	Adapter string
	// Path is the object path prefix for exported objects; DefaultPath when
	// empty. Use different paths for several servers on one connection.
	Path dbus.ObjectPath
	// Services is the application. It is copied by Open; later changes
	// have no effect.
	Services []Service
	// Advertisement, when set, is registered by Open right after the
	// application, as if passed to Server.Advertise.
	Advertisement *Advertisement
	// CallTimeout bounds each call to bluetoothd; 10 s when zero.
	CallTimeout time.Duration

	// OnRegistered is called after each successful registration of the
	// application (and, when one is set, the advertisement) with
	// bluetoothd: at Open and after every re-registration.
	OnRegistered func()
	// OnError is called when a background (re-)registration fails, when
	// bluetoothd goes away and on other errors the server cannot return to
	// a caller. Registration errors during Open are returned by Open.
	OnError func(error)
	// OnConnect is called when a device connects to the adapter.
	OnConnect func(Device)
	// OnDisconnect is called when a connected device disconnects or
	// vanishes (also when bluetoothd stops); its Session has ended.
	OnDisconnect func(Device)
	// OnAdapter is called when an adapter appears or disappears on
	// bluetoothd (any adapter, not only the selected one).
	OnAdapter func(AdapterEvent)
}

// Device identifies a remote device.
type Device struct {
	// Path is the BlueZ object path of the device.
	Path dbus.ObjectPath
	// Address is the device's address, e.g. "00:AA:01:01:00:01".
	Address string
}

// AdapterEvent reports an adapter appearing or disappearing.
type AdapterEvent struct {
	// Path is the adapter's object path, e.g. /org/bluez/hci0.
	Path dbus.ObjectPath
	// Address is the adapter's address, when known.
	Address string
	// Added is true when the adapter appeared, false when it went away.
	Added bool
}

// Server publishes an application (services, characteristics,
// descriptors) through bluetoothd's org.bluez.GattManager1 and optionally an
// advertisement through org.bluez.LEAdvertisingManager1. It keeps both
// registered across bluetoothd restarts. All methods are safe for
// concurrent use.
type Server struct {
	conn    *dbus.Conn
	order   *ordering // nil unless conn came from ConnectSystemBus or Connect
	log     *slog.Logger
	cfg     Config
	root    dbus.ObjectPath // application root (ObjectManager)
	timeout time.Duration

	services []*service
	chars    []*Char
	descs    []*desc
	paths    []dbus.ObjectPath // every exported path, for Close

	events *eventQueue
	sigCh  chan *dbus.Signal
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// regMu serialises registration work (calls to bluetoothd that change
	// what is registered). D-Bus handlers never take it, so holding it
	// across an outgoing call cannot deadlock against BlueZ calling us.
	regMu sync.Mutex

	// mu guards the fields below. Never held across a D-Bus call.
	mu            sync.Mutex
	closed        bool
	bluezOwner    string // unique name of org.bluez, "" when absent
	adapter       dbus.ObjectPath
	adapterAddr   string
	adapterProps  map[string]dbus.Variant // Adapter1 as read at selection
	appRegistered bool
	advs          [MaxAdvertisements]advSlot   // the advertising instances
	sessions      map[dbus.ObjectPath]*Session // connected (or active) devices
	connected     map[dbus.ObjectPath]bool
	regGen        uint64 // bumped whenever bluetoothd or the adapter changes
	// lost is set once bluetoothd or the adapter went away after the first
	// registration; early then holds the devices that connected before the
	// application was registered again (see disconnectEarly).
	lost  bool
	early map[dbus.ObjectPath]bool
}

// Open validates the application, exports it on cfg.Conn, selects the
// adapter and registers the application with bluetoothd. It returns once
// RegisterApplication has succeeded, or with the error; in that case
// nothing stays exported. ctx bounds the initial registration only: the
// server then runs until Close.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Conn == nil {
		return nil, errors.New("gatt: Config.Conn is nil")
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !cfg.Path.IsValid() || cfg.Path == "/" {
		return nil, fmt.Errorf("gatt: invalid Config.Path %q", cfg.Path)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if err := validate(cfg.Services); err != nil {
		return nil, err
	}
	if cfg.Advertisement != nil {
		if err := cfg.Advertisement.Validate(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		conn:      cfg.Conn,
		order:     orderingOf(cfg.Conn),
		log:       log,
		cfg:       cfg,
		root:      cfg.Path + "/app",
		timeout:   timeout,
		sessions:  make(map[dbus.ObjectPath]*Session),
		connected: make(map[dbus.ObjectPath]bool),
		early:     make(map[dbus.ObjectPath]bool),
	}
	if cfg.Advertisement != nil {
		a := *cfg.Advertisement
		s.advs[0].want = &a
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.events = newEventQueue()
	s.build(cfg.Services)
	if err := s.export(); err != nil {
		s.unexport()
		s.cancel()
		s.events.close()
		return nil, err
	}
	if err := s.watch(); err != nil {
		s.unexport()
		s.cancel()
		s.events.close()
		return nil, err
	}
	if err := s.registerAll(ctx, false); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Close unregisters the advertisement and the application from bluetoothd
// (best effort, bounded by Config.CallTimeout), removes the exported
// objects and stops the server's goroutines. Pending Indicate calls return
// ErrClosed. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.regMu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	var errs []error
	s.mu.Lock()
	adapter, appReg, owner := s.adapter, s.appRegistered, s.bluezOwner
	var advReg []int
	for i := range s.advs {
		if s.advs[i].registered {
			advReg = append(advReg, i)
		}
	}
	s.appRegistered = false
	s.advsLostLocked()
	s.mu.Unlock()
	if owner != "" && adapter != "" {
		obj := s.conn.Object(bluez.BusName, adapter)
		for _, i := range advReg {
			if err := obj.CallWithContext(ctx, bluez.LEAdvertisingManager1+".UnregisterAdvertisement", 0, s.advPath(i)).Err; err != nil {
				errs = append(errs, fmt.Errorf("gatt: unregister advertisement %d: %w", i, mapBluezError(err)))
			}
		}
		if appReg {
			if err := obj.CallWithContext(ctx, bluez.GattManager1+".UnregisterApplication", 0, s.root).Err; err != nil {
				errs = append(errs, fmt.Errorf("gatt: unregister application: %w", mapBluezError(err)))
			}
		}
	}
	cancel()
	s.regMu.Unlock()

	s.cancel()
	s.conn.RemoveSignal(s.sigCh)
	s.removeMatches()
	s.unexport()
	s.wg.Wait()
	s.endAllSessions()
	s.events.close()
	return errors.Join(errs...)
}

// Characteristic returns the first characteristic with the given UUID in
// service order, or nil.
func (s *Server) Characteristic(u UUID) *Char {
	for _, c := range s.chars {
		if c.def.UUID == u {
			return c
		}
	}
	return nil
}

// CharacteristicIn returns the characteristic chr of the first service
// with UUID svc, or nil.
func (s *Server) CharacteristicIn(svc, chr UUID) *Char {
	for _, sv := range s.services {
		if sv.def.UUID != svc {
			continue
		}
		for _, c := range sv.chars {
			if c.def.UUID == chr {
				return c
			}
		}
		return nil
	}
	return nil
}

// Root returns the object path of the application (its ObjectManager).
func (s *Server) Root() dbus.ObjectPath { return s.root }

// Adapter returns the selected adapter, or nil when bluetoothd is not
// running or the adapter is absent.
func (s *Server) Adapter() *Adapter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adapter == "" {
		return nil
	}
	return &Adapter{conn: s.conn, path: s.adapter, address: s.adapterAddr, timeout: s.timeout, props: s.adapterProps}
}

// Registered reports whether the application is currently registered with
// bluetoothd.
func (s *Server) Registered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appRegistered
}

// Devices returns the devices currently connected to the adapter, sorted by
// path.
func (s *Server) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, 0, len(s.connected))
	for p := range s.connected {
		out = append(out, Device{Path: p, Address: AddressFromPath(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Session returns the session of a connected device, or nil.
func (s *Server) Session(dev dbus.ObjectPath) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[dev]
}

// DisconnectAll asks bluetoothd to disconnect every device connected to
// the adapter (Device1.Disconnect). It returns the errors joined.
func (s *Server) DisconnectAll(ctx context.Context) error {
	var errs []error
	for _, d := range s.Devices() {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.conn.Object(bluez.BusName, d.Path).CallWithContext(cctx, bluez.Device1+".Disconnect", 0).Err
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("gatt: disconnect %s: %w", d.Address, mapBluezError(err)))
		}
	}
	return errors.Join(errs...)
}

// session returns the session for dev, creating it if needed.
func (s *Server) session(dev dbus.ObjectPath) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[dev]; ss != nil {
		return ss
	}
	ss := newSession(dev)
	if s.closed || dev == "" {
		// A request without a device (or after Close) gets a throw-away
		// session.
		return ss
	}
	s.sessions[dev] = ss
	return ss
}

func (s *Server) endAllSessions() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = make(map[dbus.ObjectPath]*Session)
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.end()
	}
}

// bluezError maps well-known org.bluez.Error names to sentinels.
func mapBluezError(err error) error {
	var de dbus.Error
	if !errors.As(err, &de) {
		return err
	}
	msg := bluez.ErrorMessage(de)
	switch de.Name {
	case bluez.ErrorBusy:
		return fmt.Errorf("%w (%s)", ErrBusy, de.Name)
	case bluez.ErrorAlreadyExists:
		return fmt.Errorf("%w: %s", ErrAlreadyExists, msg)
	case bluez.ErrorServiceUnknown, bluez.ErrorNameHasNoOwner:
		return fmt.Errorf("%w: %s", ErrBluezNotRunning, msg)
	case bluez.ErrorUnknownObject, bluez.ErrorUnknownMethod:
		if strings.Contains(msg, "hci") || strings.Contains(msg, "Adapter") {
			return fmt.Errorf("%w: %s", ErrNoAdapter, msg)
		}
	case bluez.ErrorNotPermitted:
		if strings.Contains(msg, "Maximum advertisements") {
			return fmt.Errorf("%w: %s", ErrAdvertisingSlotsFull, msg)
		}
	}
	if err.Error() == "" {
		// An error without a message (bluetoothd sends some) prints as
		// nothing at all: say at least its name.
		return fmt.Errorf("%s%w", de.Name, err)
	}
	return err
}

func (s *Server) report(err error) {
	s.log.Error("gatt", "err", err)
	if f := s.cfg.OnError; f != nil {
		s.events.push(func() { f(err) })
	}
}

// eventQueue runs callbacks one at a time, in order, on its own goroutine,
// so user code never runs under the server's locks or blocks a D-Bus
// handler.
type eventQueue struct {
	mu     sync.Mutex
	q      []func()
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func newEventQueue() *eventQueue {
	e := &eventQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go e.run()
	return e
}

func (e *eventQueue) push(f func()) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.q = append(e.q, f)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) run() {
	defer close(e.done)
	for {
		e.mu.Lock()
		q := e.q
		e.q = nil
		closed := e.closed
		e.mu.Unlock()
		for _, f := range q {
			f()
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-e.wake
		}
	}
}

// close lets the goroutine run the callbacks already queued and stop. It
// does not wait, so a callback may call Server.Close.
func (e *eventQueue) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
