package gatt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The kernel's Bluetooth management interface (BlueZ doc/mgmt-api.txt),
// used for what BlueZ offers no D-Bus API for: switching BR/EDR.

// Management opcodes, events, statuses and settings bits used here.
const (
	mgmtOpReadInfo   = 0x0004
	mgmtOpSetPowered = 0x0005
	mgmtOpSetBREDR   = 0x002a
	mgmtOpDisconnect = 0x0014

	mgmtEvCmdComplete = 0x0001
	mgmtEvCmdStatus   = 0x0002

	mgmtStatusSuccess          = 0x00
	mgmtStatusNotSupported     = 0x0c
	mgmtStatusRejected         = 0x0b
	mgmtStatusPermissionDenied = 0x14

	mgmtSettingPowered = 1 << 0
	mgmtSettingBREDR   = 1 << 7
)

// ErrPermissionDenied is returned by [Adapter.SetBREDR] when the process may
// not change the controller (it needs CAP_NET_ADMIN).
var ErrPermissionDenied = errors.New("gatt: permission denied by the kernel (needs CAP_NET_ADMIN)")

// mgmtError is a failed management command.
type mgmtError struct {
	op     uint16
	status byte
}

func (e mgmtError) Error() string {
	return fmt.Sprintf("gatt: management command %#04x failed with status %#02x", e.op, e.status)
}

func (e mgmtError) Is(target error) bool {
	switch e.status {
	case mgmtStatusPermissionDenied:
		return target == ErrPermissionDenied
	case mgmtStatusNotSupported:
		return target == ErrNotSupported
	}
	return false
}

// mgmtCommand encodes a command: opcode, controller index and parameter
// length (little endian), then the parameters.
func mgmtCommand(op, index uint16, params []byte) []byte {
	b := make([]byte, 6, 6+len(params))
	binary.LittleEndian.PutUint16(b[0:], op)
	binary.LittleEndian.PutUint16(b[2:], index)
	binary.LittleEndian.PutUint16(b[4:], uint16(len(params)))
	return append(b, params...)
}

// mgmtReply decodes an event and reports whether it answers command op on
// index; if so it returns the status and the reply parameters.
func mgmtReply(ev []byte, op, index uint16) (status byte, params []byte, ok bool) {
	if len(ev) < 6 {
		return 0, nil, false
	}
	code := binary.LittleEndian.Uint16(ev[0:])
	idx := binary.LittleEndian.Uint16(ev[2:])
	n := int(binary.LittleEndian.Uint16(ev[4:]))
	if idx != index || len(ev) < 6+n || n < 3 {
		return 0, nil, false
	}
	body := ev[6 : 6+n]
	if binary.LittleEndian.Uint16(body) != op || (code != mgmtEvCmdComplete && code != mgmtEvCmdStatus) {
		return 0, nil, false
	}
	return body[2], body[3:], true
}

// mgmtSettings extracts the supported and current settings from a Read
// Controller Information reply (address 6, version 1, manufacturer 2,
// supported 4, current 4, ...).
func mgmtSettings(info []byte) (supported, current uint32, err error) {
	if len(info) < 17 {
		return 0, 0, fmt.Errorf("gatt: controller information too short (%d bytes)", len(info))
	}
	return binary.LittleEndian.Uint32(info[9:]), binary.LittleEndian.Uint32(info[13:]), nil
}

// mgmtAddress encodes a device address ("00:AA:01:01:00:01") and its
// D-Bus AddressType ("public", "random") as the management interface wants
// them: six bytes, least significant first, then 1 (LE public) or 2 (LE
// random).
func mgmtAddress(addr, addrType string) ([]byte, error) {
	parts := strings.Split(addr, ":")
	if len(parts) != 6 {
		return nil, fmt.Errorf("gatt: invalid device address %q", addr)
	}
	b := make([]byte, 7)
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return nil, fmt.Errorf("gatt: invalid device address %q", addr)
		}
		b[5-i] = byte(v)
	}
	b[6] = 1
	if addrType == "random" {
		b[6] = 2
	}
	return b, nil
}

// controllerIndex turns an adapter name such as "hci0" into its index.
func controllerIndex(name string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(name, "hci"), 10, 16)
	if err != nil || !strings.HasPrefix(name, "hci") || n == 0xffff {
		return 0, fmt.Errorf("gatt: %q is not a controller name like hci0", name)
	}
	return uint16(n), nil
}
