package central

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// defaultCallTimeout bounds calls whose caller gave no deadline of its own.
const defaultCallTimeout = 30 * time.Second

// Peripheral is a connected remote device.
type Peripheral struct {
	c    *Central
	path dbus.ObjectPath
	addr string

	// wasConnected: the link existed before Connect (another program, or an
	// earlier Connect, made it); Close then leaves it up.
	wasConnected bool
	done         chan struct{} // closed when the link drops
	lostOnce     sync.Once
	stopWatch    func()
	closeOnce    sync.Once

	mu    sync.Mutex
	chars map[UUID][]dbus.ObjectPath // characteristic paths by UUID
	descs map[dbus.ObjectPath]map[UUID]dbus.ObjectPath
}

// Connect connects to the device with this address (scanning for it first if
// BlueZ does not know it yet) and waits until its GATT services are resolved.
// A device that is already connected (by this or another program) is used
// as it is. When Connect fails or ctx ends before the services are
// resolved, a connection attempt it started is cancelled. Errors from the
// link itself match ErrConnectFailed.
func (c *Central) Connect(ctx context.Context, address string) (*Peripheral, error) {
	path := c.devicePath(address)
	if _, err := c.prop(ctx, path, bluez.Device1, "Address"); err != nil {
		if _, err := c.Find(ctx, ScanFilter{Address: address}); err != nil {
			return nil, fmt.Errorf("central: find %s: %w", address, err)
		}
	}
	p := &Peripheral{c: c, path: path, addr: address, done: make(chan struct{})}
	if v, err := c.prop(ctx, path, bluez.Device1, "Connected"); err == nil {
		p.wasConnected, _ = v.Value().(bool)
	}
	resolved := make(chan struct{}, 1)
	p.stopWatch = c.listen(func(s *dbus.Signal) {
		switch {
		case s.Name == bluez.PropertiesChanged && s.Path == path && len(s.Body) >= 2 && s.Body[0] == bluez.Device1:
			ch, _ := s.Body[1].(map[string]dbus.Variant)
			if v, ok := ch["ServicesResolved"].Value().(bool); ok && v {
				select {
				case resolved <- struct{}{}:
				default:
				}
			}
			if v, ok := ch["Connected"].Value().(bool); ok && !v {
				p.lost()
			}
		case s.Name == bluez.InterfacesRemoved && len(s.Body) >= 1 && s.Body[0] == path:
			p.lost()
		}
	})
	ok := false
	defer func() {
		if !ok {
			p.stopWatch()
			if !p.wasConnected {
				p.disconnectQuietly(ctx)
			}
		}
	}()
	// BlueZ answers Connect for an LE device once the link is up; a device
	// that is already connected answers at once (or AlreadyConnected), and
	// one that another client is connecting answers InProgress.
	if err := c.call(ctx, path, bluez.Device1+".Connect").Err; err != nil {
		var de dbus.Error
		switch {
		case errors.As(err, &de) && (strings.HasSuffix(de.Name, ".AlreadyConnected") || strings.HasSuffix(de.Name, ".InProgress")):
		case ctx.Err() != nil:
			return nil, fmt.Errorf("central: connect %s: %w", address, ctx.Err())
		case errors.As(err, &de) && (de.Name == bluez.ErrorFailed || strings.HasSuffix(de.Name, ".NotAvailable")):
			msg := bluez.ErrorMessage(de)
			return nil, fmt.Errorf("%w: %s: %s", ErrConnectFailed, address, msg)
		default:
			return nil, wrap("Connect "+address, err)
		}
	}
	for {
		v, err := c.prop(ctx, path, bluez.Device1, "ServicesResolved")
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("central: connect %s: %w", address, ctx.Err())
			}
			return nil, wrap("ServicesResolved", err)
		}
		if ok, _ := v.Value().(bool); ok {
			break
		}
		select {
		case <-resolved:
		case <-p.done:
			return nil, fmt.Errorf("%w: %s: disconnected before its services were resolved", ErrConnectFailed, address)
		case <-time.After(time.Second): // also poll: the signal may have come before the listener
		case <-ctx.Done():
			return nil, fmt.Errorf("central: connect %s: services not resolved: %w", address, ctx.Err())
		}
	}
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// lost marks the link as dropped.
func (p *Peripheral) lost() { p.lostOnce.Do(func() { close(p.done) }) }

// Done is closed when the link to the peripheral drops (or BlueZ removes
// the device). Operations on a dropped peripheral fail with ErrNotConnected
// or ErrNotFound.
func (p *Peripheral) Done() <-chan struct{} { return p.done }

// WasConnected reports whether the link was already up when Connect was
// called.
func (p *Peripheral) WasConnected() bool { return p.wasConnected }

// Close stops watching the peripheral and drops the link, unless it was up
// before Connect (then it belongs to whoever made it). It is safe to call
// more than once; ctx bounds the Disconnect call, which is tried even when
// ctx is already done.
func (p *Peripheral) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		p.stopWatch()
		if p.wasConnected {
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
		err = p.disconnectQuietly(ctx)
	})
	return err
}

// disconnectQuietly disconnects with a context that works even when ctx is
// done, so that clean-up still happens after Ctrl-C or a timeout.
func (p *Peripheral) disconnectQuietly(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := p.Disconnect(dctx)
	if errors.Is(err, ErrNotConnected) {
		return nil
	}
	return err
}

// Address returns the peripheral's Bluetooth address.
func (p *Peripheral) Address() string { return p.addr }

// Path returns the peripheral's org.bluez.Device1 object path.
func (p *Peripheral) Path() dbus.ObjectPath { return p.path }

// load indexes the resolved characteristics and descriptors by UUID.
func (p *Peripheral) load(ctx context.Context) error {
	objs, err := p.c.managedObjects(ctx)
	if err != nil {
		return err
	}
	chars := map[UUID][]dbus.ObjectPath{}
	descs := map[dbus.ObjectPath]map[UUID]dbus.ObjectPath{}
	for path, ifs := range objs {
		if !bluez.Under(path, p.path) {
			continue
		}
		if ch, ok := ifs[bluez.GattCharacteristic1]; ok {
			s, _ := ch["UUID"].Value().(string)
			if u, err := bluez.ParseUUID(s); err == nil {
				chars[u] = append(chars[u], path)
			}
		}
		if d, ok := ifs[bluez.GattDescriptor1]; ok {
			s, _ := d["UUID"].Value().(string)
			owner, _ := d["Characteristic"].Value().(dbus.ObjectPath)
			if u, err := bluez.ParseUUID(s); err == nil {
				if descs[owner] == nil {
					descs[owner] = map[UUID]dbus.ObjectPath{}
				}
				descs[owner][u] = path
			}
		}
	}
	p.mu.Lock()
	p.chars, p.descs = chars, descs
	p.mu.Unlock()
	return nil
}

// Connected reports whether BlueZ still has a link to the peripheral.
func (p *Peripheral) Connected(ctx context.Context) bool {
	v, err := p.c.prop(ctx, p.path, bluez.Device1, "Connected")
	if err != nil {
		return false
	}
	ok, _ := v.Value().(bool)
	return ok
}

// Disconnect drops the link.
func (p *Peripheral) Disconnect(ctx context.Context) error {
	return wrap("Disconnect", p.c.call(ctx, p.path, bluez.Device1+".Disconnect").Err)
}

// Characteristic returns the characteristic with this UUID; the first one
// if the peripheral has several.
func (p *Peripheral) Characteristic(uuid UUID) (*Characteristic, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	paths := p.chars[uuid]
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: characteristic %s on %s", ErrNotFound, uuid, p.addr)
	}
	return &Characteristic{p: p, path: paths[0], UUID: uuid}, nil
}

// HasCharacteristic reports whether the peripheral offers a characteristic.
func (p *Peripheral) HasCharacteristic(uuid UUID) bool {
	_, err := p.Characteristic(uuid)
	return err == nil
}
