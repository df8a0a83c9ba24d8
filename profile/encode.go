package profile

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/bluenet-project/bluenet/protocol"
	"github.com/bluenet-project/bluenet/wifi"
)

// EncodeState encodes the Connection State value: byte 0 is 0 Down,
// 1 Disconnected, 2 Connecting, 3 Connected; while Connecting or Connected
// the SSID in use follows.
func EncodeState(s wifi.State) []byte {
	return protocol.State{Kind: protocol.StateKind(s.Kind), SSID: s.SSID}.Encode()
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

// resultOf maps a join error to its result code.
func resultOf(err error) protocol.ResultCode {
	switch wifi.ReasonOf(err) {
	case wifi.ReasonNone:
		return protocol.ResultOK
	case wifi.ReasonWrongPassword:
		return protocol.ResultWrongPassword
	case wifi.ReasonNotFound:
		return protocol.ResultNotFound
	case wifi.ReasonTimeout:
		return protocol.ResultTimeout
	case wifi.ReasonDHCPFailed:
		return protocol.ResultDHCPFailed
	case wifi.ReasonBusy:
		return protocol.ResultBusy
	case wifi.ReasonInvalid:
		return protocol.ResultInvalidInput
	}
	return protocol.ResultFailed
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
