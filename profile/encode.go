package profile

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/bluenet-project/bluenet/wifi"
)

// The Bluenet GATT profile. The service and the first six characteristics
// are the original's, byte for byte; Result is Bluenet's addition.
const (
	ServiceUUID     = "fbe51523-b3e6-4f68-b6da-410c0bba1a78" // primary, advertised
	NetworksUUID    = "fbe51524-b3e6-4f68-b6da-410c0bba1a78" // notify: one SSID per notification
	StateUUID       = "fbe51525-b3e6-4f68-b6da-410c0bba1a78" // read, notify: state byte + SSID
	HostnameUUID    = "fbe51526-b3e6-4f68-b6da-410c0bba1a78" // read, notify: host name
	VersionUUID     = "fbe51527-b3e6-4f68-b6da-410c0bba1a78" // read: "1.0"
	SSIDUUID        = "fbe51528-b3e6-4f68-b6da-410c0bba1a78" // write: SSID to join
	CredentialsUUID = "fbe51529-b3e6-4f68-b6da-410c0bba1a78" // write: password; starts the join
	ResultUUID      = "fbe5152a-b3e6-4f68-b6da-410c0bba1a78" // read, notify: last join result (Bluenet)
)

// Version is what the Version characteristic answers, as the original did.
const Version = "1.0"

// EncodeState encodes the Connection State value: byte 0 is 0 Down,
// 1 Disconnected, 2 Connecting, 3 Connected; while Connecting or Connected
// the SSID in use follows.
func EncodeState(s wifi.State) []byte {
	b := []byte{byte(s.Kind)}
	if s.Kind == wifi.Connecting || s.Kind == wifi.Connected {
		b = append(b, s.SSID...)
	}
	return b
}

// ExpandHostname replaces every "%IP" in template with ip, or with the
// empty string when ip is not valid.
func ExpandHostname(template string, ip netip.Addr) string {
	s := ""
	if ip.IsValid() {
		s = ip.String()
	}
	return strings.ReplaceAll(template, "%IP", s)
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
	ResultInProgress    ResultCode = 0xFE // a join is running
	ResultNone          ResultCode = 0xFF // no join since the daemon started
)

// resultOf maps a join error to its result code.
func resultOf(err error) ResultCode {
	switch wifi.ReasonOf(err) {
	case wifi.ReasonNone:
		return ResultOK
	case wifi.ReasonWrongPassword:
		return ResultWrongPassword
	case wifi.ReasonNotFound:
		return ResultNotFound
	case wifi.ReasonTimeout:
		return ResultTimeout
	case wifi.ReasonDHCPFailed:
		return ResultDHCPFailed
	case wifi.ReasonBusy:
		return ResultBusy
	case wifi.ReasonInvalid:
		return ResultInvalidInput
	}
	return ResultFailed
}

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
	case ResultInProgress:
		return "joining"
	case ResultNone:
		return "no join yet"
	}
	return "failed"
}

// EncodeResult encodes the Result value: the code, then a short UTF-8 text.
func EncodeResult(c ResultCode) []byte {
	return append([]byte{byte(c)}, c.String()...)
}

// NetworkList turns access points into the SSIDs to announce: strongest
// first, each SSID once, hidden (empty) SSIDs left out.
func NetworkList(aps []wifi.AccessPoint) [][]byte {
	sorted := slices.Clone(aps)
	slices.SortStableFunc(sorted, func(a, b wifi.AccessPoint) int { return int(b.Strength) - int(a.Strength) })
	var out [][]byte
	for _, ap := range sorted {
		if len(ap.SSID) == 0 || slices.ContainsFunc(out, func(s []byte) bool { return bytes.Equal(s, ap.SSID) }) {
			continue
		}
		out = append(out, ap.SSID)
	}
	return out
}
