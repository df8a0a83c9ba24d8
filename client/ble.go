package client

import (
	"context"
	"fmt"
	"slices"

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
	return central.ScanFilter{UUIDs: []central.UUID{uuidOf(bluenet.ServiceUUID), uuidOf(improv.ServiceUUID)}}
}

// uuidOf parses one of the wire formats' UUID constants.
func uuidOf(s string) central.UUID { return central.MustParseUUID(s) }

// advertises reports whether a lists the service uuid.
func advertises(a central.Advertisement, uuid string) bool {
	return slices.Contains(a.UUIDs, uuidOf(uuid))
}

// has reports whether the connected device offers the characteristic.
func (s *Link) has(uuid string) bool { return s.p.HasCharacteristic(uuidOf(uuid)) }

// characteristic returns the connected device's characteristic.
func (s *Link) characteristic(uuid string) (*central.Characteristic, error) {
	return s.p.Characteristic(uuidOf(uuid))
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

// serviceData returns the device's advertised service data for uuid.
func (c *Client) serviceData(_ context.Context, a central.Advertisement, uuid string) ([]byte, bool) {
	b, ok := a.ServiceData[uuidOf(uuid)]
	return b, ok
}
