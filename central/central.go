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

	"github.com/bluenet-project/bluenet/internal/bluez"
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
	bluez.ErrorNotPermitted:       ErrNotPermitted,
	bluez.ErrorNotAuthorized:      ErrNotAuthorized,
	bluez.ErrorNotSupported:       ErrNotSupported,
	bluez.ErrorInvalidOffset:      ErrInvalidOffset,
	bluez.ErrorInvalidValueLength: ErrInvalidLength,
	bluez.ErrorInProgress:         ErrInProgress,
	bluez.ErrorFailed:             ErrRemoteFailed,
	bluez.ErrorNotConnected:       ErrNotConnected,
	bluez.ErrorAlreadyExists:      ErrAlreadyStarted,
	bluez.ErrorUnknownObject:      ErrNotFound,
}

// wrap gives a D-Bus error from bluetoothd context and, where it has one, a
// sentinel of this package.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var de dbus.Error
	if errors.As(err, &de) {
		msg := bluez.ErrorMessage(de)
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
	// Adapter is the adapter's name ("hci1"), address or object path; empty
	// selects the first adapter (hci2 comes before hci10).
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
	a, ok := bluez.SelectAdapter(objs, cfg.Adapter)
	switch {
	case !ok && cfg.Adapter != "":
		return nil, fmt.Errorf("%w: %s", ErrNoAdapter, cfg.Adapter)
	case !ok:
		return nil, ErrNoAdapter
	}
	c.adapter = a.Path
	for _, m := range []string{bluez.PropertiesChanged, bluez.InterfacesAdded, bluez.InterfacesRemoved} {
		i := strings.LastIndex(m, ".")
		if err := c.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(bluez.BusName),
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

func (c *Central) managedObjects(ctx context.Context) (bluez.Objects, error) {
	objs, err := bluez.ManagedObjects(ctx, c.conn)
	if err != nil {
		return nil, wrap("GetManagedObjects", err)
	}
	return objs, nil
}

func (c *Central) call(ctx context.Context, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	return c.conn.Object(bluez.BusName, path).CallWithContext(ctx, method, 0, args...)
}

func (c *Central) prop(ctx context.Context, path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := c.call(ctx, path, bluez.Properties+".Get", iface, name).Store(&v)
	return v, err
}

// devicePath is where BlueZ puts the device with this address under the adapter.
func (c *Central) devicePath(address string) dbus.ObjectPath {
	return bluez.DevicePath(c.adapter, address)
}
