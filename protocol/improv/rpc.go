package improv

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WiFiSettings is the data of command 0x01: the network to join. It never
// prints its password (String, LogValue).
type WiFiSettings struct {
	SSID     string
	Password string // empty for an open network
}

// EncodeWiFiSettings returns the command packet 0x01 for ssid and password:
// 01 [len] [len(ssid)] ssid [len(password)] password [checksum].
func EncodeWiFiSettings(ssid, password string) ([]byte, error) {
	b, err := EncodeCommand(CommandWiFiSettings, ssid, password)
	if err != nil {
		// The error names lengths only, never the password.
		return nil, err
	}
	return b, nil
}

// ParseWiFiSettings decodes the data of command 0x01. It must be exactly two
// strings, the SSID and the password (as Home Assistant and the web page
// send them); anything else wraps ErrInvalidPacket. The SSID and password
// are not judged here: that is the Wi-Fi backend's job.
func ParseWiFiSettings(data []byte) (WiFiSettings, error) {
	ss, err := DecodeStrings(data)
	if err != nil {
		return WiFiSettings{}, fmt.Errorf("improv: Wi-Fi settings: %w", err)
	}
	if len(ss) != 2 {
		return WiFiSettings{}, fmt.Errorf("improv: Wi-Fi settings: %w: %d strings, want SSID and password", ErrLength, len(ss))
	}
	return WiFiSettings{SSID: ss[0], Password: ss[1]}, nil
}

// String returns the quoted SSID only.
func (w WiFiSettings) String() string { return "ssid " + strconv.Quote(w.SSID) }

// LogValue logs the SSID only.
func (w WiFiSettings) LogValue() slog.Value { return slog.StringValue(strconv.Quote(w.SSID)) }

// Auth is the authentication string of a scan result triple.
type Auth string

// Auth values, as revision 2.2 lists them ("WEP, WPA, WPA2 or NO"); later
// text adds WPA3 and "WPA2 EAP", and "/" between several ("WPA/WPA2").
const (
	AuthOpen Auth = "NO"
	AuthWEP  Auth = "WEP"
	AuthWPA  Auth = "WPA"
	AuthWPA2 Auth = "WPA2"
	AuthWPA3 Auth = "WPA3"
)

// Network is one entry of a scan result.
type Network struct {
	SSID string
	RSSI int // dBm, e.g. -60
	Auth Auth
}

// EncodeScanResult returns the RPC result packet for command 0x04: the
// networks as (SSID, RSSI in dBm as a decimal string, auth) triples,
// strongest first, one entry per SSID (the strongest), hidden networks (an
// empty SSID) left out, cut after the last triple that fits so that the
// packet's length byte is at most 255. It also returns how many networks
// went in. No networks is a result with no strings ("no SSID was found").
//
// The whole list is ONE result. That is what the BLE spec says ("This
// command will trigger one RPC Response which will contain a multiple of 3
// strings") and what Home Assistant's client expects: it takes the first
// result for command 0x04 as the whole answer. Improv via serial (and
// ESPHome's improv_serial) instead sends a result per network and an empty
// one at the end; a BLE device must not, or Home Assistant shows one
// network.
func EncodeScanResult(nets []Network) ([]byte, int) {
	sorted := slices.Clone(nets)
	slices.SortStableFunc(sorted, func(a, b Network) int { return cmp.Compare(b.RSSI, a.RSSI) })
	seen := make(map[string]bool, len(sorted))
	var ss []string
	used, n := 0, 0
	for _, w := range sorted {
		if w.SSID == "" || seen[w.SSID] {
			continue
		}
		seen[w.SSID] = true
		rssi := strconv.Itoa(w.RSSI)
		size := 3 + len(w.SSID) + len(rssi) + len(w.Auth)
		if used+size > MaxDataLen {
			break
		}
		used += size
		ss = append(ss, w.SSID, rssi, string(w.Auth))
		n++
	}
	b, err := EncodeResult(CommandScan, ss...)
	if err != nil { // cannot happen: used ≤ MaxDataLen
		b, _ = EncodeResult(CommandScan)
		n = 0
	}
	return b, n
}

// ParseScanResult decodes the strings of a scan result into networks. The
// count must be a multiple of 3 and every RSSI an integer, else
// ErrMalformed.
func ParseScanResult(ss []string) ([]Network, error) {
	if len(ss)%3 != 0 {
		return nil, fmt.Errorf("%w: scan result has %d strings, not a multiple of 3", ErrMalformed, len(ss))
	}
	nets := make([]Network, 0, len(ss)/3)
	for i := 0; i < len(ss); i += 3 {
		rssi, err := strconv.Atoi(strings.TrimSpace(ss[i+1]))
		if err != nil {
			return nil, fmt.Errorf("%w: scan result RSSI %q", ErrMalformed, ss[i+1])
		}
		nets = append(nets, Network{SSID: ss[i], RSSI: rssi, Auth: Auth(ss[i+2])})
	}
	return nets, nil
}

// DeviceInfo is the result of command 0x03 (2.1).
type DeviceInfo struct {
	FirmwareName    string // e.g. "bluenet", "ESPHome"
	FirmwareVersion string
	Hardware        string // "hardware chip/variant"
	DeviceName      string
	// OSName and OSVersion are optional 5th and 6th strings that later spec
	// text allows. Bluenet never sends them: Home Assistant's client rejects
	// a device info result that is not exactly 4 strings.
	OSName, OSVersion string
}

// EncodeDeviceInfo returns the RPC result packet for command 0x03: the four
// strings (six when OSName is set). When they do not fit in one packet the
// longest string is shortened, at a UTF-8 boundary, until they do.
func EncodeDeviceInfo(d DeviceInfo) []byte {
	ss := []string{d.FirmwareName, d.FirmwareVersion, d.Hardware, d.DeviceName}
	if d.OSName != "" || d.OSVersion != "" {
		ss = append(ss, d.OSName, d.OSVersion)
	}
	b, err := EncodeResult(CommandDeviceInfo, fitStrings(ss)...)
	if err != nil { // cannot happen: fitStrings made them fit
		b, _ = EncodeResult(CommandDeviceInfo, "", "", "", "")
	}
	return b
}

// fitStrings shortens the longest strings of ss until their string list
// fits in MaxDataLen bytes.
func fitStrings(ss []string) []string {
	ss = slices.Clone(ss)
	for i, s := range ss {
		ss[i] = Truncate(s, 255)
	}
	for {
		total, longest := 0, 0
		for i, s := range ss {
			total += 1 + len(s)
			if len(s) > len(ss[longest]) {
				longest = i
			}
		}
		excess := total - MaxDataLen
		if excess <= 0 {
			return ss
		}
		ss[longest] = Truncate(ss[longest], len(ss[longest])-excess)
	}
}

// Truncate returns the longest prefix of s of at most n bytes that does not
// cut a UTF-8 sequence in two.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ParseDeviceInfo decodes the strings of a device info result. Fewer than 4
// strings is ErrMalformed; a 5th and 6th are the OS name and version.
func ParseDeviceInfo(ss []string) (DeviceInfo, error) {
	if len(ss) < 4 {
		return DeviceInfo{}, fmt.Errorf("%w: device info has %d strings, want at least 4", ErrMalformed, len(ss))
	}
	d := DeviceInfo{FirmwareName: ss[0], FirmwareVersion: ss[1], Hardware: ss[2], DeviceName: ss[3]}
	if len(ss) > 4 {
		d.OSName = ss[4]
	}
	if len(ss) > 5 {
		d.OSVersion = ss[5]
	}
	return d, nil
}

// ParseNameArgument decodes the data of command 0x05 (hostname) or 0x06
// (device name): no data is a get (set false); otherwise the new name.
//
// The spec's table shows the set form as the raw name after the length
// byte (05 [len] name… CS), while Home Assistant's client sends it as a
// string list like every other RPC (05 [len+1] [len] name… CS). Both are
// accepted: data whose first byte is the length of the rest is the string
// list form, anything else the raw name. (A raw host name could only be
// mistaken for the list form if it were 49 bytes or longer and its first
// character's code were its length minus one; the device answers with the
// name it took, so a client would see it.)
func ParseNameArgument(data []byte) (name string, set bool, err error) {
	if len(data) == 0 {
		return "", false, nil
	}
	if int(data[0]) == len(data)-1 {
		return string(data[1:]), true, nil
	}
	return string(data), true, nil
}

// EncodeServiceData returns the advertised service data under UUID 4677
// (2.0): [state][capabilities][0][0][0][0].
func EncodeServiceData(s State, c Capabilities) []byte {
	return []byte{byte(s), byte(c), 0, 0, 0, 0}
}

// ParseServiceData decodes service data 4677. It must be 6 bytes (Home
// Assistant ignores a device whose service data is not); the state is
// returned as sent, check it with State.Valid.
func ParseServiceData(b []byte) (State, Capabilities, error) {
	if len(b) != 6 {
		return 0, 0, fmt.Errorf("%w: service data is %d bytes, want 6", ErrMalformed, len(b))
	}
	return State(b[0]), Capabilities(b[1]), nil
}

// ParseState decodes a Current State value: one byte, one of the four
// states; anything else is ErrMalformed.
func ParseState(b []byte) (State, error) {
	if len(b) != 1 || !State(b[0]).Valid() {
		return 0, fmt.Errorf("%w: Current State % x", ErrMalformed, b)
	}
	return State(b[0]), nil
}

// ParseErrorCode decodes an Error State value: one byte; codes this
// package does not know are kept.
func ParseErrorCode(b []byte) (ErrorCode, error) {
	if len(b) != 1 {
		return 0, fmt.Errorf("%w: Error State % x", ErrMalformed, b)
	}
	return ErrorCode(b[0]), nil
}

// ParseCapabilities decodes a Capabilities value: one byte. An empty value
// is no capabilities (a device before 2.1 may have none).
func ParseCapabilities(b []byte) (Capabilities, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 1:
		return Capabilities(b[0]), nil
	}
	return 0, fmt.Errorf("%w: Capabilities % x", ErrMalformed, b)
}

// ValidHostname reports whether s is a host name as RFC 1123 allows: labels
// of letters, digits and hyphens, 1 to 63 bytes, not starting or ending
// with a hyphen, separated by dots, 253 bytes at most. A device answers an
// invalid one with ErrorBadHostname.
func ValidHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
