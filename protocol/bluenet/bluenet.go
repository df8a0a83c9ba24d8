// Package bluenet is the Bluenet GATT profile on the wire: the UUIDs, the
// Connection State and Result values. Both ends use it: the daemon (package daemon) and the client
// (package client). It depends on the standard library only.
//
// The profile is described byte for byte in README.md's protocol section;
// the service and the first six characteristics are the original Python
// Bluenet's, Result is Bluenet's addition.
package bluenet

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The Bluenet GATT profile's UUIDs, in BlueZ's lower-case form.
const (
	ServiceUUID     = "fbe51523-b3e6-4f68-b6da-410c0bba1a78" // primary, advertised
	NetworksUUID    = "fbe51524-b3e6-4f68-b6da-410c0bba1a78" // notify: one SSID per notification
	StateUUID       = "fbe51525-b3e6-4f68-b6da-410c0bba1a78" // read, notify: state byte + SSID
	HostnameUUID    = "fbe51526-b3e6-4f68-b6da-410c0bba1a78" // read, notify: host name
	VersionUUID     = "fbe51527-b3e6-4f68-b6da-410c0bba1a78" // read: "1.0"
	SSIDUUID        = "fbe51528-b3e6-4f68-b6da-410c0bba1a78" // write: SSID to join
	CredentialsUUID = "fbe51529-b3e6-4f68-b6da-410c0bba1a78" // write: password; starts the join
	ResultUUID      = "fbe5152a-b3e6-4f68-b6da-410c0bba1a78" // read, notify: last join result (Bluenet only)
	IdentityUUID    = "fbe5152b-b3e6-4f68-b6da-410c0bba1a78" // write: 802.1X login; the next Credentials write is its password
	DetailsUUID     = "fbe5152c-b3e6-4f68-b6da-410c0bba1a78" // read, notify: Network Details (SSID, RSSI, security, band)
)

// Version is what the Version characteristic answers, as the original did.
const Version = "1.0"

// Errors of this package; test with errors.Is.
var (
	// ErrMalformed: a value read from a device does not follow the profile.
	ErrMalformed = errors.New("protocol: malformed value")
)

// StateKind is byte 0 of the Connection State characteristic.
type StateKind byte

// StateKind values.
const (
	Down         StateKind = 0 // no usable Wi-Fi device
	Disconnected StateKind = 1
	Connecting   StateKind = 2 // joining; the SSID follows
	Connected    StateKind = 3 // joined; the SSID follows
)

// String returns "down", "disconnected", "connecting" or "connected".
func (k StateKind) String() string {
	switch k {
	case Down:
		return "down"
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	}
	return "state(" + strconv.Itoa(int(k)) + ")"
}

// State is a decoded Connection State value.
type State struct {
	Kind StateKind
	// SSID is the network in use while Connecting or Connected, else nil.
	SSID []byte
}

// maxSSIDLen is the longest SSID IEEE 802.11 allows, in bytes.
const maxSSIDLen = 32

// ParseState decodes a Connection State value. Bytes after byte 0 are the
// SSID when the kind is Connecting or Connected, and are ignored otherwise.
// An empty value, an unknown kind or an SSID over 32 bytes is ErrMalformed.
func ParseState(b []byte) (State, error) {
	if len(b) == 0 {
		return State{}, fmt.Errorf("%w: empty Connection State", ErrMalformed)
	}
	k := StateKind(b[0])
	if k > Connected {
		return State{}, fmt.Errorf("%w: unknown Connection State %d", ErrMalformed, b[0])
	}
	s := State{Kind: k}
	if k == Connecting || k == Connected {
		if len(b)-1 > maxSSIDLen {
			return State{}, fmt.Errorf("%w: Connection State SSID is %d bytes", ErrMalformed, len(b)-1)
		}
		if len(b) > 1 {
			s.SSID = append([]byte(nil), b[1:]...)
		}
	}
	return s, nil
}

// Encode returns the Connection State value of s.
func (s State) Encode() []byte {
	b := []byte{byte(s.Kind)}
	if s.Kind == Connecting || s.Kind == Connected {
		b = append(b, s.SSID...)
	}
	return b
}

// Is reports whether s is kind k on the network ssid.
func (s State) Is(k StateKind, ssid []byte) bool {
	return s.Kind == k && string(s.SSID) == string(ssid)
}

// String returns the kind and, when there is one, the quoted SSID:
// `connected "HomeNet"`.
func (s State) String() string {
	if s.Kind == Connecting || s.Kind == Connected {
		return s.Kind.String() + " " + QuoteSSID(s.SSID)
	}
	return s.Kind.String()
}

// QuoteSSID quotes an SSID for people: Go syntax, so that non-UTF-8 bytes
// and control characters are visible.
func QuoteSSID(ssid []byte) string {
	if utf8.Valid(ssid) {
		return strconv.Quote(string(ssid))
	}
	return fmt.Sprintf("%q", ssid)
}

// ResultCode is byte 0 of the Result characteristic.
type ResultCode byte

// Result codes. Old setup apps ignore the characteristic; new ones show why
// a join failed.
const (
	ResultOK            ResultCode = 0x00 // joined; text is "connected"
	ResultWrongPassword ResultCode = 0x01
	ResultNotFound      ResultCode = 0x02
	ResultTimeout       ResultCode = 0x03
	ResultDHCPFailed    ResultCode = 0x04
	ResultBusy          ResultCode = 0x05 // another join was running
	ResultInvalidInput  ResultCode = 0x06 // bad SSID/password, or password without SSID
	ResultFailed        ResultCode = 0x07 // any other failure (backend unavailable, ...)
	ResultNotAuthorized ResultCode = 0x08 // the setup window is closed
	ResultInProgress    ResultCode = 0xFE // a join is running
	ResultNone          ResultCode = 0xFF // no join since the daemon started
)

// String returns the short text sent after the code.
func (c ResultCode) String() string {
	switch c {
	case ResultOK:
		return "connected"
	case ResultWrongPassword:
		return "wrong password"
	case ResultNotFound:
		return "network not found"
	case ResultTimeout:
		return "timed out"
	case ResultDHCPFailed:
		return "no IP address (DHCP failed)"
	case ResultBusy:
		return "busy: another join is running"
	case ResultInvalidInput:
		return "invalid input"
	case ResultNotAuthorized:
		return "not authorized: press the device's button or run bluenet allow"
	case ResultInProgress:
		return "joining"
	case ResultNone:
		return "no join yet"
	}
	return "failed"
}

// Final reports whether c is the outcome of a join (not InProgress or None).
func (c ResultCode) Final() bool { return c != ResultInProgress && c != ResultNone }

// EncodeResult encodes the Result value: the code, then a short UTF-8 text.
func EncodeResult(c ResultCode) []byte {
	return append([]byte{byte(c)}, c.String()...)
}

// Result is a decoded Result value.
type Result struct {
	Code ResultCode
	// Text is the device's explanation; it may be empty.
	Text string
}

// ParseResult decodes a Result value. Codes this package does not know are
// kept (a newer device may send them); an empty value is ErrMalformed.
func ParseResult(b []byte) (Result, error) {
	if len(b) == 0 {
		return Result{}, fmt.Errorf("%w: empty Result", ErrMalformed)
	}
	return Result{Code: ResultCode(b[0]), Text: string(b[1:])}, nil
}

// String returns the text, or the code's own text when the device sent
// none.
func (r Result) String() string {
	if r.Text != "" {
		return r.Text
	}
	return r.Code.String()
}
