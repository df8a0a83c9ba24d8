package profile

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/bluenet-project/bluenet/protocol"
	"github.com/bluenet-project/bluenet/wifi"
)

// The Bluenet GATT profile. The service and the first six characteristics
// are the original's, byte for byte; Result is Bluenet's addition. The
// values live in package protocol, which the client shares.
const (
	ServiceUUID     = protocol.ServiceUUID     // primary, advertised
	NetworksUUID    = protocol.NetworksUUID    // notify: one SSID per notification
	StateUUID       = protocol.StateUUID       // read, notify: state byte + SSID
	HostnameUUID    = protocol.HostnameUUID    // read, notify: host name
	VersionUUID     = protocol.VersionUUID     // read: "1.0"
	SSIDUUID        = protocol.SSIDUUID        // write: SSID to join
	CredentialsUUID = protocol.CredentialsUUID // write: password; starts the join
	ResultUUID      = protocol.ResultUUID      // read, notify: last join result (Bluenet)
)

// Version is what the Version characteristic answers, as the original did.
const Version = protocol.Version

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

// ResultCode is byte 0 of the Result characteristic (see protocol.ResultCode).
type ResultCode = protocol.ResultCode

// Result codes. Old setup apps ignore the characteristic; new ones show why
// a join failed.
const (
	ResultOK            = protocol.ResultOK // joined; text is "connected"
	ResultWrongPassword = protocol.ResultWrongPassword
	ResultNotFound      = protocol.ResultNotFound
	ResultTimeout       = protocol.ResultTimeout
	ResultDHCPFailed    = protocol.ResultDHCPFailed
	ResultBusy          = protocol.ResultBusy         // another join was running
	ResultInvalidInput  = protocol.ResultInvalidInput // bad SSID/password, or password without SSID
	ResultFailed        = protocol.ResultFailed       // any other failure (backend unavailable, ...)
	ResultInProgress    = protocol.ResultInProgress   // a join is running
	ResultNone          = protocol.ResultNone         // no join since the daemon started
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

// EncodeResult encodes the Result value: the code, then a short UTF-8 text.
func EncodeResult(c ResultCode) []byte { return protocol.EncodeResult(c) }

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
