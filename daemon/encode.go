package daemon

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// EncodeState encodes the Connection State value: byte 0 is 0 Down,
// 1 Disconnected, 2 Connecting, 3 Connected; while Connecting or Connected
// the SSID in use follows.
func EncodeState(s wifi.State) []byte {
	return bluenet.State{Kind: bluenetKind(s.Kind), SSID: s.SSID}.Encode()
}

// bluenetKind maps a link state to byte 0 of Connection State.
func bluenetKind(k wifi.Kind) bluenet.StateKind {
	switch k {
	case wifi.Disconnected:
		return bluenet.Disconnected
	case wifi.Connecting:
		return bluenet.Connecting
	case wifi.Connected:
		return bluenet.Connected
	}
	return bluenet.Down
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
func resultOf(err error) bluenet.ResultCode {
	switch wifi.ReasonOf(err) {
	case wifi.ReasonNone:
		return bluenet.ResultOK
	case wifi.ReasonWrongPassword:
		return bluenet.ResultWrongPassword
	case wifi.ReasonNotFound:
		return bluenet.ResultNotFound
	case wifi.ReasonTimeout:
		return bluenet.ResultTimeout
	case wifi.ReasonDHCPFailed:
		return bluenet.ResultDHCPFailed
	case wifi.ReasonBusy:
		return bluenet.ResultBusy
	case wifi.ReasonInvalid:
		return bluenet.ResultInvalidInput
	}
	return bluenet.ResultFailed
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

// detailsSecurity maps what an access point offers to Network Details'
// security value.
func detailsSecurity(a wifi.Auth) bluenet.Security {
	switch a {
	case wifi.AuthWEP:
		return bluenet.SecurityWEP
	case wifi.AuthWPA:
		return bluenet.SecurityWPA
	case wifi.AuthWPA2:
		return bluenet.SecurityWPA2
	case wifi.AuthWPA3:
		return bluenet.SecurityWPA3
	case wifi.AuthEnterprise:
		return bluenet.SecurityEnterprise
	case wifi.AuthOWE:
		return bluenet.SecurityOWE
	}
	return bluenet.SecurityOpen
}

// detailsBand maps a band to Network Details' band value.
func detailsBand(b wifi.Band) bluenet.Band {
	switch b {
	case wifi.Band2G4:
		return bluenet.Band2G4
	case wifi.Band5G:
		return bluenet.Band5G
	case wifi.Band6G:
		return bluenet.Band6G
	}
	return bluenet.BandUnknown
}
