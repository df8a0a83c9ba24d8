// Package improv is Improv Wi-Fi via BLE on the wire: the service and
// characteristic UUIDs, the state, error, command and capability bytes, RPC
// packets and their reassembly, the string lists carried in RPC data and
// results, and the advertised service data. Both ends use it: the daemon
// (the Improv GATT service) and the client (bluenet provisioning Improv
// devices). It depends on the standard library only.
//
// It follows "Improv via BLE" (https://www.improv-wifi.com/ble/, source
// improv-wifi/website src/ble.md) up to revision 2.4:
//
//   - 1.0 the service, the Wi-Fi settings and Identify RPCs;
//   - 2.0 the service data 4677;
//   - 2.1 Device Info (0x03);
//   - 2.2 Scan (0x04);
//   - 2.3 Get/Set Hostname (0x05) and error 0x05 Bad Hostname;
//   - 2.4 Get/Set Device Name (0x06).
//
// Where the spec text leaves a choice, this package does what the clients
// in the field do: Home Assistant's improv_ble integration
// (home-assistant-libs/py-improv-ble-client) and the Improv web page
// (improv-wifi/sdk-ble-js). Each such choice is noted where it is made.
package improv

import (
	"errors"
	"fmt"
	"strconv"
)

// The Improv via BLE UUIDs, in BlueZ's lower-case form (spec "GATT Services"
// and "Bluetooth LE Advertisement").
const (
	// ServiceUUID is the primary service, advertised in the same
	// advertisement as the service data.
	ServiceUUID = "00467768-6228-2272-4663-277478268000"
	// StateUUID is Current State: read, notify; one State byte.
	StateUUID = "00467768-6228-2272-4663-277478268001"
	// ErrorUUID is Error State: read, notify; one ErrorCode byte.
	ErrorUUID = "00467768-6228-2272-4663-277478268002"
	// RPCCommandUUID is RPC Command: write (and write without response);
	// the client writes command packets here, possibly in several pieces.
	RPCCommandUUID = "00467768-6228-2272-4663-277478268003"
	// RPCResultUUID is RPC Result: read, notify; result packets.
	RPCResultUUID = "00467768-6228-2272-4663-277478268004"
	// CapabilitiesUUID is Capabilities: read; one Capabilities byte.
	CapabilitiesUUID = "00467768-6228-2272-4663-277478268005"
	// ServiceDataUUID is the 16-bit UUID 0x4677 in its 128-bit form, under
	// which the service data is advertised (2.0).
	ServiceDataUUID = "00004677-0000-1000-8000-00805f9b34fb"
	// ServiceDataUUID16 is the same UUID as a 16-bit value.
	ServiceDataUUID16 uint16 = 0x4677
)

// State is the Current State byte.
type State byte

// State values (spec "Characteristic: Current State").
const (
	StateAuthorizationRequired State = 0x01 // awaiting physical authorization
	StateAuthorized            State = 0x02 // ready to accept credentials
	StateProvisioning          State = 0x03 // credentials received, connecting
	StateProvisioned           State = 0x04 // connected
)

// String returns the spec's name: "authorization required", "authorized",
// "provisioning" or "provisioned".
func (s State) String() string {
	switch s {
	case StateAuthorizationRequired:
		return "authorization required"
	case StateAuthorized:
		return "authorized"
	case StateProvisioning:
		return "provisioning"
	case StateProvisioned:
		return "provisioned"
	}
	return "state(0x" + strconv.FormatUint(uint64(s), 16) + ")"
}

// Valid reports whether s is one of the four states of the spec.
func (s State) Valid() bool { return s >= StateAuthorizationRequired && s <= StateProvisioned }

// ErrorCode is the Error State byte.
type ErrorCode byte

// ErrorCode values (spec "Characteristic: Error state").
const (
	ErrorNone            ErrorCode = 0x00
	ErrorInvalidRPC      ErrorCode = 0x01 // malformed packet: bad length or checksum
	ErrorUnknownRPC      ErrorCode = 0x02 // the command is unknown
	ErrorUnableToConnect ErrorCode = 0x03 // the join failed
	ErrorNotAuthorized   ErrorCode = 0x04 // needs authorization first
	ErrorBadHostname     ErrorCode = 0x05 // the host name was not acceptable (2.3)
	ErrorUnknown         ErrorCode = 0xFF
)

// String returns the spec's name, e.g. "unable to connect".
func (e ErrorCode) String() string {
	switch e {
	case ErrorNone:
		return "no error"
	case ErrorInvalidRPC:
		return "invalid RPC packet"
	case ErrorUnknownRPC:
		return "unknown RPC command"
	case ErrorUnableToConnect:
		return "unable to connect"
	case ErrorNotAuthorized:
		return "not authorized"
	case ErrorBadHostname:
		return "bad hostname"
	case ErrorUnknown:
		return "unknown error"
	}
	return "error(0x" + strconv.FormatUint(uint64(e), 16) + ")"
}

// Command is byte 0 of an RPC command and of its result.
type Command byte

// Command values (spec "RPC Command: ...").
const (
	CommandWiFiSettings Command = 0x01 // SSID and password; result: redirect URL
	CommandIdentify     Command = 0x02 // no data; no result
	CommandDeviceInfo   Command = 0x03 // no data; result: 4 strings (2.1)
	CommandScan         Command = 0x04 // no data; result: (SSID, RSSI, auth) triples (2.2)
	CommandHostname     Command = 0x05 // no data = get, one string = set; result: the host name (2.3)
	CommandDeviceName   Command = 0x06 // no data = get, one string = set; result: the device name (2.4)
)

// String returns a short name such as "wifi-settings".
func (c Command) String() string {
	switch c {
	case CommandWiFiSettings:
		return "wifi-settings"
	case CommandIdentify:
		return "identify"
	case CommandDeviceInfo:
		return "device-info"
	case CommandScan:
		return "scan"
	case CommandHostname:
		return "hostname"
	case CommandDeviceName:
		return "device-name"
	}
	return "command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// Known reports whether c is a command of revision 2.4.
func (c Command) Known() bool { return c >= CommandWiFiSettings && c <= CommandDeviceName }

// Capabilities is the Capabilities byte, a bit set; it is also byte 1 of the
// service data.
type Capabilities byte

// Capability bits (spec "Characteristic: Capabilities"). Revision 2.4 adds
// no bit for Device Name: a client may simply try it (an old device answers
// ErrorUnknownRPC).
const (
	CapabilityIdentify   Capabilities = 1 << 0
	CapabilityDeviceInfo Capabilities = 1 << 1
	CapabilityScan       Capabilities = 1 << 2
	CapabilityHostname   Capabilities = 1 << 3
)

// Has reports whether every bit of want is set in c.
func (c Capabilities) Has(want Capabilities) bool { return c&want == want }

// String lists the set bits, e.g. "identify,device-info", or "none".
func (c Capabilities) String() string {
	if c == 0 {
		return "none"
	}
	names := [...]string{"identify", "device-info", "scan", "hostname"}
	s := ""
	for i := 0; i < 8; i++ {
		if c&(1<<i) == 0 {
			continue
		}
		if s != "" {
			s += ","
		}
		if i < len(names) {
			s += names[i]
		} else {
			s += "bit" + strconv.Itoa(i)
		}
	}
	return s
}

// Errors of this package; test with errors.Is. Every error from parsing a
// command packet wraps ErrInvalidPacket, which a device answers with
// ErrorInvalidRPC (see CodeOf).
var (
	// ErrInvalidPacket: a packet is malformed (the spec's "Invalid RPC
	// packet", error 0x01).
	ErrInvalidPacket = errors.New("improv: invalid RPC packet")
	// ErrChecksum: the checksum byte does not match; wraps ErrInvalidPacket.
	ErrChecksum = fmt.Errorf("%w: bad checksum", ErrInvalidPacket)
	// ErrLength: the length byte does not match the bytes received, or a
	// string list does not add up; wraps ErrInvalidPacket.
	ErrLength = fmt.Errorf("%w: bad length", ErrInvalidPacket)
	// ErrTooLong: a value to encode does not fit in a packet (a string or
	// the data over 255 bytes).
	ErrTooLong = errors.New("improv: value too long for a packet")
	// ErrMalformed: a value read from a device (state, service data, a
	// result's strings) does not follow the spec.
	ErrMalformed = errors.New("improv: malformed value")
)

// CodeOf returns the Error State a device reports for err: ErrorNone for
// nil, ErrorInvalidRPC for a malformed packet, else ErrorUnknown.
func CodeOf(err error) ErrorCode {
	switch {
	case err == nil:
		return ErrorNone
	case errors.Is(err, ErrInvalidPacket):
		return ErrorInvalidRPC
	}
	return ErrorUnknown
}
