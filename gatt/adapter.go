package gatt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// Adapter controls a BlueZ adapter (org.bluez.Adapter1, doc/adapter-api.txt).
// Get one from [Server.Adapter] or [OpenAdapter]. Its Set methods wait out a
// change of the same setting that bluetoothd is still making ([ErrBusy]),
// for up to the call timeout.
type Adapter struct {
	conn    *dbus.Conn
	path    dbus.ObjectPath
	address string
	timeout time.Duration
	// props is what bluetoothd reported of Adapter1 when the adapter was
	// selected; nil when not known. Not updated.
	props map[string]dbus.Variant
}

// OpenAdapter finds an adapter on bluetoothd without a [Server]: selector
// is "hci0", an address, an object path, or "" for the first adapter
// (hci2 comes before hci10). A zero timeout means
// 10 s per call.
func OpenAdapter(ctx context.Context, conn *dbus.Conn, selector string, timeout time.Duration) (*Adapter, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	objs, err := managedObjects(ctx, conn, timeout)
	if err != nil {
		return nil, err
	}
	p, addr, err := selectAdapter(objs, selector)
	if err != nil {
		return nil, err
	}
	return &Adapter{conn: conn, path: p, address: addr, timeout: timeout, props: objs[p][bluez.Adapter1]}, nil
}

// Snapshot returns the adapter's org.bluez.Adapter1 properties as
// bluetoothd reported them when the adapter was selected (by OpenAdapter,
// or the Server's last registration), or nil when they are not known. It
// saves a read at start-up; it is not kept up to date (use Property for the
// current value). The map must not be modified.
func (a *Adapter) Snapshot() map[string]dbus.Variant { return a.props }

// Adapters lists the adapters bluetoothd has, ordered hci0, hci1, ...
func Adapters(ctx context.Context, conn *dbus.Conn) ([]AdapterEvent, error) {
	objs, err := managedObjects(ctx, conn, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var out []AdapterEvent
	for _, a := range bluez.Adapters(objs) {
		out = append(out, AdapterEvent{Path: a.Path, Address: a.Address, Added: true})
	}
	return out, nil
}

// Path returns the adapter's object path, e.g. /org/bluez/hci0.
func (a *Adapter) Path() dbus.ObjectPath { return a.path }

// Address returns the adapter's address.
func (a *Adapter) Address() string { return a.address }

// Name returns the adapter's interface name, e.g. "hci0".
func (a *Adapter) Name() string { return bluez.Adapter{Path: a.path}.Name() }

// set sets an Adapter1 property. While bluetoothd answers Busy (a change of
// the same setting is pending: after a restart it powers the adapter on by
// itself) it tries again, for up to the call timeout in all.
func (a *Adapter) set(ctx context.Context, name string, v any) error {
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := a.conn.Object(bluez.BusName, a.path).CallWithContext(cctx, bluez.Properties+".Set", 0, bluez.Adapter1, name, dbus.MakeVariant(v)).Err
		if err == nil {
			return nil
		}
		err = mapBluezError(err)
		if errors.Is(err, ErrBusy) {
			select {
			case <-time.After(wait):
				continue
			case <-cctx.Done():
			}
		}
		return fmt.Errorf("gatt: set %s.%s on %s: %w", bluez.Adapter1, name, a.Name(), err)
	}
}

// Property returns one Adapter1 property, e.g. "Powered".
func (a *Adapter) Property(ctx context.Context, name string) (dbus.Variant, error) {
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var v dbus.Variant
	err := a.conn.Object(bluez.BusName, a.path).CallWithContext(cctx, bluez.Properties+".Get", 0, bluez.Adapter1, name).Store(&v)
	if err != nil {
		return dbus.Variant{}, fmt.Errorf("gatt: get %s.%s on %s: %w", bluez.Adapter1, name, a.Name(), mapBluezError(err))
	}
	return v, nil
}

// SetAlias sets the adapter's Alias, the name centrals see when the
// advertisement includes the local name without a LocalName of its own.
func (a *Adapter) SetAlias(ctx context.Context, alias string) error {
	return a.set(ctx, "Alias", alias)
}

// SetPowered switches the adapter on or off.
func (a *Adapter) SetPowered(ctx context.Context, on bool) error {
	return a.set(ctx, "Powered", on)
}

// SetDiscoverable sets Discoverable and, first, DiscoverableTimeout in
// seconds (0 = stay discoverable until told otherwise).
func (a *Adapter) SetDiscoverable(ctx context.Context, on bool, timeout uint32) error {
	if on {
		if err := a.set(ctx, "DiscoverableTimeout", timeout); err != nil {
			return err
		}
	}
	return a.set(ctx, "Discoverable", on)
}

// SetPairable sets the Pairable property.
func (a *Adapter) SetPairable(ctx context.Context, on bool) error {
	return a.set(ctx, "Pairable", on)
}
