package bluez

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// UUID is a 128-bit Bluetooth UUID, stored big-endian in the order it is
// written (the first byte is the first two hex digits of the string form).
//
// It is the one UUID type of package gatt (gatt.UUID) and package central
// (central.UUID).
//
// BlueZ accepts the 128-bit string form ("0000180f-0000-1000-8000-00805f9b34fb")
// everywhere; String returns exactly that form, in lower case. 16- and 32-bit
// SIG UUIDs are expanded onto the Bluetooth base UUID by [UUID16] and
// [ParseUUID].
type UUID [16]byte

// baseUUID is 00000000-0000-1000-8000-00805F9B34FB, the Bluetooth base UUID.
var baseUUID = UUID{0, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0x80, 0x5f, 0x9b, 0x34, 0xfb}

// UUID16 returns the 128-bit form of a 16-bit SIG-assigned UUID, such as
// 0x180F (Battery Service) or 0x2901 (Characteristic User Description).
func UUID16(u uint16) UUID {
	v := baseUUID
	v[2] = byte(u >> 8)
	v[3] = byte(u)
	return v
}

// UUID32 returns the 128-bit form of a 32-bit SIG-assigned UUID.
func UUID32(u uint32) UUID {
	v := baseUUID
	v[0] = byte(u >> 24)
	v[1] = byte(u >> 16)
	v[2] = byte(u >> 8)
	v[3] = byte(u)
	return v
}

// ParseUUID parses a UUID in one of the forms BlueZ understands: 4 hex digits
// (16-bit), 8 hex digits (32-bit), or the 36-character 128-bit form with
// dashes at positions 8, 13, 18 and 23. Case does not matter. An optional
// "0x" prefix is accepted on the short forms.
func ParseUUID(s string) (UUID, error) {
	t := s
	if len(t) == 6 || len(t) == 10 {
		t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	}
	switch len(t) {
	case 4:
		var b [2]byte
		if _, err := hex.Decode(b[:], []byte(t)); err != nil {
			return UUID{}, fmt.Errorf("invalid UUID %q: %w", s, err)
		}
		return UUID16(uint16(b[0])<<8 | uint16(b[1])), nil
	case 8:
		var b [4]byte
		if _, err := hex.Decode(b[:], []byte(t)); err != nil {
			return UUID{}, fmt.Errorf("invalid UUID %q: %w", s, err)
		}
		return UUID32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])), nil
	case 36:
		if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return UUID{}, fmt.Errorf("invalid UUID %q: dashes must be at positions 8, 13, 18 and 23", s)
		}
		h := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
		var u UUID
		if _, err := hex.Decode(u[:], []byte(h)); err != nil {
			return UUID{}, fmt.Errorf("invalid UUID %q: %w", s, err)
		}
		return u, nil
	}
	return UUID{}, fmt.Errorf("invalid UUID %q: want 4, 8 or 36 characters", s)
}

// MustParseUUID is like [ParseUUID] but panics on error. Use it only for
// constants in program text.
func MustParseUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// String returns the lower-case 128-bit form, e.g.
// "0000180f-0000-1000-8000-00805f9b34fb".
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// Is16Bit reports whether u lies on the Bluetooth base UUID with a 16-bit
// value, and returns that value.
func (u UUID) Is16Bit() (uint16, bool) {
	v := u
	v[2], v[3] = 0, 0
	if v != baseUUID {
		return 0, false
	}
	return uint16(u[2])<<8 | uint16(u[3]), true
}

// IsZero reports whether u is the zero UUID, which is never valid in an
// application.
func (u UUID) IsZero() bool { return u == UUID{} }

// Is32Bit reports whether u lies on the Bluetooth base UUID with a 32-bit
// value (16-bit values included), and returns that value.
func (u UUID) Is32Bit() (uint32, bool) {
	v := u
	v[0], v[1], v[2], v[3] = 0, 0, 0, 0
	if v != baseUUID {
		return 0, false
	}
	return uint32(u[0])<<24 | uint32(u[1])<<16 | uint32(u[2])<<8 | uint32(u[3]), true
}
