package central

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// defaultCallTimeout bounds calls whose caller gave no deadline of its own.
const defaultCallTimeout = 30 * time.Second

// Peripheral is a connected remote device.
type Peripheral struct {
	c    *Central
	path dbus.ObjectPath
	addr string

	mu    sync.Mutex
	chars map[string][]dbus.ObjectPath // lower-case UUID → characteristic paths
	descs map[dbus.ObjectPath]map[string]dbus.ObjectPath
}

// Connect connects to the device with this address (scanning for it first if
// BlueZ does not know it yet) and waits until its GATT services are resolved.
func (c *Central) Connect(ctx context.Context, address string) (*Peripheral, error) {
	path := c.devicePath(address)
	if _, err := c.prop(ctx, path, deviceIface, "Address"); err != nil {
		if _, err := c.Find(ctx, ScanFilter{Address: address}); err != nil {
			return nil, fmt.Errorf("central: find %s: %w", address, err)
		}
	}
	resolved := make(chan struct{}, 1)
	stop := c.listen(func(s *dbus.Signal) {
		if s.Name != propsChanged || s.Path != path || len(s.Body) < 2 || s.Body[0] != deviceIface {
			return
		}
		ch, _ := s.Body[1].(map[string]dbus.Variant)
		if v, ok := ch["ServicesResolved"].Value().(bool); ok && v {
			select {
			case resolved <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	// BlueZ answers Connect for an LE device once the link is up; a device
	// that is already connected answers at once (or AlreadyConnected).
	if err := c.call(ctx, path, deviceIface+".Connect").Err; err != nil &&
		!strings.Contains(err.Error(), "AlreadyConnected") {
		return nil, wrap("Connect "+address, err)
	}
	for {
		v, err := c.prop(ctx, path, deviceIface, "ServicesResolved")
		if err != nil {
			return nil, wrap("ServicesResolved", err)
		}
		if ok, _ := v.Value().(bool); ok {
			break
		}
		select {
		case <-resolved:
		case <-time.After(time.Second): // also poll: the signal may have come before the listener
		case <-ctx.Done():
			return nil, fmt.Errorf("central: connect %s: services not resolved: %w", address, ctx.Err())
		}
	}
	p := &Peripheral{c: c, path: path, addr: address}
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	return p, nil
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
	chars := map[string][]dbus.ObjectPath{}
	descs := map[dbus.ObjectPath]map[string]dbus.ObjectPath{}
	prefix := string(p.path) + "/"
	for path, ifs := range objs {
		if !strings.HasPrefix(string(path), prefix) {
			continue
		}
		if ch, ok := ifs[charIface]; ok {
			u, _ := ch["UUID"].Value().(string)
			chars[strings.ToLower(u)] = append(chars[strings.ToLower(u)], path)
		}
		if d, ok := ifs[descIface]; ok {
			u, _ := d["UUID"].Value().(string)
			owner, _ := d["Characteristic"].Value().(dbus.ObjectPath)
			if descs[owner] == nil {
				descs[owner] = map[string]dbus.ObjectPath{}
			}
			descs[owner][strings.ToLower(u)] = path
		}
	}
	p.mu.Lock()
	p.chars, p.descs = chars, descs
	p.mu.Unlock()
	return nil
}

// Connected reports whether BlueZ still has a link to the peripheral.
func (p *Peripheral) Connected(ctx context.Context) bool {
	v, err := p.c.prop(ctx, p.path, deviceIface, "Connected")
	if err != nil {
		return false
	}
	ok, _ := v.Value().(bool)
	return ok
}

// Disconnect drops the link.
func (p *Peripheral) Disconnect(ctx context.Context) error {
	return wrap("Disconnect", p.c.call(ctx, p.path, deviceIface+".Disconnect").Err)
}

// Characteristic returns the characteristic with this UUID (16-bit or
// 128-bit form); the first one if the peripheral has several.
func (p *Peripheral) Characteristic(uuid string) (*Characteristic, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	paths := p.chars[fullUUID(uuid)]
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: characteristic %s on %s", ErrNotFound, uuid, p.addr)
	}
	return &Characteristic{p: p, path: paths[0], UUID: fullUUID(uuid)}, nil
}

// HasCharacteristic reports whether the peripheral offers a characteristic.
func (p *Peripheral) HasCharacteristic(uuid string) bool {
	_, err := p.Characteristic(uuid)
	return err == nil
}
