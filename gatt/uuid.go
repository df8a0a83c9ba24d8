package gatt

import (
	"fmt"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// UUID is a 128-bit Bluetooth UUID, stored big-endian in the order it is
// written (the first byte is the first two hex digits of the string form).
// Its String method returns BlueZ's lower-case 128-bit form
// ("0000180f-0000-1000-8000-00805f9b34fb"); Is16Bit and Is32Bit tell SIG
// UUIDs on the Bluetooth base UUID, IsZero the zero UUID. It is the same
// type as central.UUID.
type UUID = bluez.UUID

// UUID16 returns the 128-bit form of a 16-bit SIG-assigned UUID, such as
// 0x180F (Battery Service) or 0x2901 (Characteristic User Description).
func UUID16(u uint16) UUID { return bluez.UUID16(u) }

// UUID32 returns the 128-bit form of a 32-bit SIG-assigned UUID.
func UUID32(u uint32) UUID { return bluez.UUID32(u) }

// ParseUUID parses a UUID in one of the forms BlueZ understands: 4 hex digits
// (16-bit), 8 hex digits (32-bit), or the 36-character 128-bit form with
// dashes at positions 8, 13, 18 and 23. Case does not matter. An optional
// "0x" prefix is accepted on the short forms.
func ParseUUID(s string) (UUID, error) {
	u, err := bluez.ParseUUID(s)
	if err != nil {
		return u, fmt.Errorf("gatt: %w", err)
	}
	return u, nil
}

// MustParseUUID is like [ParseUUID] but panics on error. Use it only for
// constants in program text.
func MustParseUUID(s string) UUID { return bluez.MustParseUUID(s) }

// advLen returns the number of bytes the UUID takes in an advertising
// payload: 2 for 16-bit UUIDs, 4 for 32-bit ones, 16 otherwise.
func advLen(u UUID) int {
	if _, ok := u.Is16Bit(); ok {
		return 2
	}
	if _, ok := u.Is32Bit(); ok {
		return 4
	}
	return 16
}
