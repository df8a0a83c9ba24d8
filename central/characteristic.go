package central

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// Characteristic is a GATT characteristic of a connected peripheral.
type Characteristic struct {
	p    *Peripheral
	path dbus.ObjectPath
	// UUID is the characteristic's UUID.
	UUID UUID
}

// Path returns the characteristic's D-Bus object path.
func (ch *Characteristic) Path() dbus.ObjectPath { return ch.path }

// Read reads the whole value (BlueZ uses long reads as needed).
func (ch *Characteristic) Read(ctx context.Context) ([]byte, error) {
	return ch.ReadAt(ctx, 0)
}

// ReadAt reads the value from offset.
func (ch *Characteristic) ReadAt(ctx context.Context, offset uint16) ([]byte, error) {
	opts := map[string]dbus.Variant{}
	if offset > 0 {
		opts["offset"] = dbus.MakeVariant(offset)
	}
	var v []byte
	if err := ch.p.c.call(ctx, ch.path, bluez.GattCharacteristic1+".ReadValue", opts).Store(&v); err != nil {
		return nil, wrap("read "+ch.UUID.String(), err)
	}
	return v, nil
}

// WriteType selects the ATT procedure of a write.
type WriteType string

// Write types understood by BlueZ's WriteValue "type" option.
const (
	WriteRequest  WriteType = "request"  // write with response
	WriteCommand  WriteType = "command"  // write without response
	WriteReliable WriteType = "reliable" // reliable (prepared) write
)

// WriteOptions tune a write. The zero value is a write request at offset 0.
type WriteOptions struct {
	Offset uint16
	Type   WriteType
}

// Write writes value with a write request (BlueZ splits it into prepared
// writes when it is longer than the MTU allows).
func (ch *Characteristic) Write(ctx context.Context, value []byte) error {
	return ch.WriteWith(ctx, value, WriteOptions{})
}

// WriteWith writes value with the given options.
func (ch *Characteristic) WriteWith(ctx context.Context, value []byte, o WriteOptions) error {
	opts := map[string]dbus.Variant{}
	if o.Offset > 0 {
		opts["offset"] = dbus.MakeVariant(o.Offset)
	}
	if o.Type != "" {
		opts["type"] = dbus.MakeVariant(string(o.Type))
	}
	if value == nil {
		value = []byte{}
	}
	return wrap("write "+ch.UUID.String(), ch.p.c.call(ctx, ch.path, bluez.GattCharacteristic1+".WriteValue", value, opts).Err)
}

// Subscribe enables notifications or indications and returns the values as
// they arrive. The channel is closed, and notifications disabled, when ctx
// is done or the returned stop function is called. Up to 256 values are
// buffered; beyond that the oldest are dropped.
func (ch *Characteristic) Subscribe(ctx context.Context) (<-chan []byte, func(), error) {
	out := make(chan []byte, 256)
	stopListen := ch.p.c.listen(func(s *dbus.Signal) {
		if s.Name != bluez.PropertiesChanged || s.Path != ch.path || len(s.Body) < 2 || s.Body[0] != bluez.GattCharacteristic1 {
			return
		}
		changed, _ := s.Body[1].(map[string]dbus.Variant)
		v, ok := changed["Value"].Value().([]byte)
		if !ok {
			return
		}
		for {
			select {
			case out <- v:
				return
			default:
				select { // full: drop the oldest
				case <-out:
				default:
				}
			}
		}
	})
	if err := ch.p.c.call(ctx, ch.path, bluez.GattCharacteristic1+".StartNotify").Err; err != nil {
		stopListen()
		return nil, nil, wrap("StartNotify "+ch.UUID.String(), err)
	}
	var once sync.Once
	quit := make(chan struct{})
	stop := func() {
		once.Do(func() {
			close(quit)
			stopListen()
			close(out)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultCallTimeout)
			defer cancel()
			_ = ch.p.c.call(sctx, ch.path, bluez.GattCharacteristic1+".StopNotify").Err
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-quit:
		}
	}()
	return out, stop, nil
}

// Descriptor returns the descriptor with this UUID of the characteristic.
func (ch *Characteristic) Descriptor(uuid UUID) (*Descriptor, error) {
	ch.p.mu.Lock()
	defer ch.p.mu.Unlock()
	path, ok := ch.p.descs[ch.path][uuid]
	if !ok {
		return nil, fmt.Errorf("%w: descriptor %s of %s", ErrNotFound, uuid, ch.UUID)
	}
	return &Descriptor{c: ch.p.c, path: path, UUID: uuid}, nil
}

// Descriptor is a GATT descriptor of a connected peripheral.
type Descriptor struct {
	c    *Central
	path dbus.ObjectPath
	// UUID is the descriptor's UUID.
	UUID UUID
}

// Read reads the descriptor's value.
func (d *Descriptor) Read(ctx context.Context) ([]byte, error) {
	var v []byte
	if err := d.c.call(ctx, d.path, bluez.GattDescriptor1+".ReadValue", map[string]dbus.Variant{}).Store(&v); err != nil {
		return nil, wrap("read descriptor "+d.UUID.String(), err)
	}
	return v, nil
}

// Write writes the descriptor's value.
func (d *Descriptor) Write(ctx context.Context, value []byte) error {
	return wrap("write descriptor "+d.UUID.String(), d.c.call(ctx, d.path, bluez.GattDescriptor1+".WriteValue", value, map[string]dbus.Variant{}).Err)
}
