package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// This file holds every use the client makes of UUIDs in package central's
// API (scan filters, advertised UUIDs, characteristics by UUID) and the one
// thing it reads from BlueZ beside central: a device's service data. When
// central's API changes, this is the file to follow it.

// servicesFilter finds devices that advertise the Bluenet or the Improv
// service.
func servicesFilter() central.ScanFilter {
	return central.ScanFilter{UUIDs: []string{bluenet.ServiceUUID, improv.ServiceUUID}}
}

// advertises reports whether a lists the service uuid (lower-case 128-bit).
func advertises(a central.Advertisement, uuid string) bool {
	return slices.Contains(a.UUIDs, strings.ToLower(uuid))
}

// has reports whether the connected device offers the characteristic.
func (s *Link) has(uuid string) bool { return s.p.HasCharacteristic(uuid) }

// characteristic returns the connected device's characteristic.
func (s *Link) characteristic(uuid string) (*central.Characteristic, error) {
	return s.p.Characteristic(uuid)
}

// writeCommand writes v without response (ATT Write Command).
func (s *Link) writeCommand(ctx context.Context, uuid string, v []byte) error {
	ch, err := s.char(uuid)
	if err != nil {
		return err
	}
	if err := ch.WriteWith(ctx, v, central.WriteOptions{Type: central.WriteCommand}); err != nil {
		return s.linkErr(fmt.Errorf("client: %w", err))
	}
	return nil
}

// serviceData reads the device's advertised service data for uuid from
// BlueZ (org.bluez.Device1.ServiceData, a{sv} keyed by the 128-bit UUID).
// central.Advertisement does not carry it.
func (c *Client) serviceData(ctx context.Context, a central.Advertisement, uuid string) ([]byte, bool) {
	var v dbus.Variant
	err := c.cfg.Conn.Object("org.bluez", a.Path).CallWithContext(ctx,
		"org.freedesktop.DBus.Properties.Get", 0, "org.bluez.Device1", "ServiceData").Store(&v)
	if err != nil {
		return nil, false
	}
	m, ok := v.Value().(map[string]dbus.Variant)
	if !ok {
		return nil, false
	}
	for k, d := range m {
		if strings.EqualFold(k, uuid) {
			b, ok := d.Value().([]byte)
			return b, ok
		}
	}
	return nil, false
}
