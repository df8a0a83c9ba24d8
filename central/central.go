// Package central is the BLE central role on Linux through BlueZ's D-Bus API
// (org.bluez.Adapter1 discovery, org.bluez.Device1, and the client side of
// org.bluez.GattCharacteristic1): scan for peripherals, connect, read, write
// and subscribe to characteristics.
//
// See BlueZ's doc/adapter-api.txt, doc/device-api.txt and doc/gatt-api.txt.
package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

const (
	bluezBus      = "org.bluez"
	adapterIface  = "org.bluez.Adapter1"
	deviceIface   = "org.bluez.Device1"
	serviceIface  = "org.bluez.GattService1"
	charIface     = "org.bluez.GattCharacteristic1"
	descIface     = "org.bluez.GattDescriptor1"
	propsIface    = "org.freedesktop.DBus.Properties"
	objMgrIface   = "org.freedesktop.DBus.ObjectManager"
	propsChanged  = propsIface + ".PropertiesChanged"
	ifacesAdded   = objMgrIface + ".InterfacesAdded"
	ifacesRemoved = objMgrIface + ".InterfacesRemoved"
)

// Errors reported by this package; test with errors.Is.
var (
	ErrNoAdapter      = errors.New("central: no Bluetooth adapter")
	ErrNotFound       = errors.New("central: not found")
	ErrDisconnected   = errors.New("central: device disconnected")
	ErrNotPermitted   = errors.New("central: not permitted")
	ErrNotAuthorized  = errors.New("central: not authorized")
	ErrNotSupported   = errors.New("central: not supported")
	ErrInvalidOffset  = errors.New("central: invalid offset")
	ErrInvalidLength  = errors.New("central: invalid value length")
	ErrInProgress     = errors.New("central: operation in progress")
	ErrRemoteFailed   = errors.New("central: the peripheral reported a failure")
	ErrNotConnected   = errors.New("central: not connected")
	ErrAlreadyStarted = errors.New("central: already in progress")
	ErrConnectFailed  = errors.New("central: could not connect")
)

// bluezErrors maps org.bluez.Error.* names, which bluetoothd derives from ATT
// error codes on the client side, to this package's errors.
var bluezErrors = map[string]error{
	"org.bluez.Error.NotPermitted":             ErrNotPermitted,
	"org.bluez.Error.NotAuthorized":            ErrNotAuthorized,
	"org.bluez.Error.NotSupported":             ErrNotSupported,
	"org.bluez.Error.InvalidOffset":            ErrInvalidOffset,
	"org.bluez.Error.InvalidValueLength":       ErrInvalidLength,
	"org.bluez.Error.InProgress":               ErrInProgress,
	"org.bluez.Error.Failed":                   ErrRemoteFailed,
	"org.bluez.Error.NotConnected":             ErrNotConnected,
	"org.bluez.Error.AlreadyExists":            ErrAlreadyStarted,
	"org.freedesktop.DBus.Error.UnknownObject": ErrNotFound,
}

// wrap gives a D-Bus error from bluetoothd context and, where it has one, a
// sentinel of this package.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var de dbus.Error
	if errors.As(err, &de) {
		msg := ""
		if len(de.Body) > 0 {
			msg, _ = de.Body[0].(string)
		}
		if s, ok := bluezErrors[de.Name]; ok {
			if msg != "" {
				return fmt.Errorf("%s: %w (%s)", op, s, msg)
			}
			return fmt.Errorf("%s: %w", op, s)
		}
		return fmt.Errorf("central: %s: %s: %s", op, de.Name, msg)
	}
	return fmt.Errorf("central: %s: %w", op, err)
}

// Config configures a Central. The zero value is not useful: Conn is required.
type Config struct {
	// Conn is a connection to the system bus. The Central adds match rules
	// and a signal channel to it; it never closes it.
	Conn *dbus.Conn
	// Adapter is the adapter's name ("hci1") or address; empty selects the
	// first adapter BlueZ lists.
	Adapter string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Central is the central role on one Bluetooth adapter.
type Central struct {
	conn    *dbus.Conn
	adapter dbus.ObjectPath
	log     *slog.Logger

	sigs chan *dbus.Signal
	done chan struct{}

	// running is held while listeners run, so that a stopped listener is
	// known to have returned.
	running sync.Mutex

	mu   sync.Mutex // guards subs and next
	subs map[int]func(*dbus.Signal)
	next int
}

// New finds the adapter and starts listening to BlueZ's signals. Close
// releases what New set up.
func New(ctx context.Context, cfg Config) (*Central, error) {
	if cfg.Conn == nil {
		return nil, errors.New("central: Config.Conn is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Central{conn: cfg.Conn, log: log, sigs: make(chan *dbus.Signal, 256),
		done: make(chan struct{}), subs: map[int]func(*dbus.Signal){}}
	objs, err := c.managedObjects(ctx)
	if err != nil {
		return nil, err
	}
	for path, ifs := range objs {
		a, ok := ifs[adapterIface]
		if !ok {
			continue
		}
		addr, _ := a["Address"].Value().(string)
		name := string(path[strings.LastIndex(string(path), "/")+1:])
		if cfg.Adapter == "" || cfg.Adapter == name || strings.EqualFold(cfg.Adapter, addr) {
			if c.adapter == "" || path < c.adapter {
				c.adapter = path
			}
		}
	}
	if c.adapter == "" {
		if cfg.Adapter != "" {
			return nil, fmt.Errorf("%w: %s", ErrNoAdapter, cfg.Adapter)
		}
		return nil, ErrNoAdapter
	}
	for _, m := range []string{propsChanged, ifacesAdded, ifacesRemoved} {
		i := strings.LastIndex(m, ".")
		if err := c.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(bluezBus),
			dbus.WithMatchInterface(m[:i]), dbus.WithMatchMember(m[i+1:])); err != nil {
			return nil, fmt.Errorf("central: add match: %w", err)
		}
	}
	c.conn.Signal(c.sigs)
	go c.dispatch()
	return c, nil
}

// Adapter returns the D-Bus object path of the adapter in use.
func (c *Central) Adapter() dbus.ObjectPath { return c.adapter }

// Close stops listening to signals. Connected devices stay connected; call
// Peripheral.Disconnect first to drop them.
func (c *Central) Close() error {
	c.conn.RemoveSignal(c.sigs)
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	return nil
}

func (c *Central) dispatch() {
	for {
		select {
		case <-c.done:
			return
		case s, ok := <-c.sigs:
			if !ok {
				return
			}
			c.mu.Lock()
			fns := make([]func(*dbus.Signal), 0, len(c.subs))
			for _, f := range c.subs {
				fns = append(fns, f)
			}
			c.mu.Unlock()
			c.running.Lock()
			for _, f := range fns {
				f(s)
			}
			c.running.Unlock()
		}
	}
}

// listen calls fn for every BlueZ signal until the returned func is called;
// once that returns, fn is not running and will not run again. fn runs on
// the dispatch goroutine: it must not block for long, nor call stop.
func (c *Central) listen(fn func(*dbus.Signal)) (stop func()) {
	c.mu.Lock()
	id := c.next
	c.next++
	c.subs[id] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
		c.running.Lock()
		c.running.Unlock() //nolint:staticcheck // waits for a running fn
	}
}

type objects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

func (c *Central) managedObjects(ctx context.Context) (objects, error) {
	var objs objects
	err := c.conn.Object(bluezBus, "/").CallWithContext(ctx, objMgrIface+".GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return nil, wrap("GetManagedObjects", err)
	}
	return objs, nil
}

func (c *Central) call(ctx context.Context, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	return c.conn.Object(bluezBus, path).CallWithContext(ctx, method, 0, args...)
}

func (c *Central) prop(ctx context.Context, path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := c.call(ctx, path, propsIface+".Get", iface, name).Store(&v)
	return v, err
}

// devicePath is where BlueZ puts the device with this address under the adapter.
func (c *Central) devicePath(address string) dbus.ObjectPath {
	return dbus.ObjectPath(string(c.adapter) + "/dev_" + strings.ReplaceAll(strings.ToUpper(address), ":", "_"))
}

// fullUUID expands a 16- or 32-bit UUID to BlueZ's lower-case 128-bit form.
func fullUUID(u string) string {
	u = strings.ToLower(strings.TrimPrefix(strings.ToLower(u), "0x"))
	switch len(u) {
	case 4:
		return "0000" + u + "-0000-1000-8000-00805f9b34fb"
	case 8:
		return u + "-0000-1000-8000-00805f9b34fb"
	}
	return u
}
