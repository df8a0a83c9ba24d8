package central

import (
	"fmt"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// UUID is a 128-bit Bluetooth UUID; it is the same type as gatt.UUID. Its
// String method returns BlueZ's lower-case 128-bit form.
type UUID = bluez.UUID

// UUID16 returns the 128-bit form of a 16-bit SIG-assigned UUID, such as
// 0x180F (Battery Service).
func UUID16(u uint16) UUID { return bluez.UUID16(u) }

// ParseUUID parses a 16-bit ("180f", "0x180F"), 32-bit or 128-bit UUID.
func ParseUUID(s string) (UUID, error) {
	u, err := bluez.ParseUUID(s)
	if err != nil {
		return u, fmt.Errorf("central: %w", err)
	}
	return u, nil
}

// MustParseUUID is like ParseUUID but panics on error; for constants in
// program text.
func MustParseUUID(s string) UUID { return bluez.MustParseUUID(s) }

// parseUUIDs parses the UUIDs BlueZ reports, leaving out any it cannot
// parse.
func parseUUIDs(ss []string) []UUID {
	var out []UUID
	for _, s := range ss {
		if u, err := bluez.ParseUUID(s); err == nil {
			out = append(out, u)
		}
	}
	return out
}
