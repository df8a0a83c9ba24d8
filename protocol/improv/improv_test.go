package improv

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// specWiFiSettings is the spec's example (SSID MyWirelessAP, password
// mysecurepassword): 01 1E 0C {MyWirelessAP} 10 {mysecurepassword} CS, with
// the checksum worked out by hand: 0xC0.
var specWiFiSettings = append(append(append(append([]byte{0x01, 0x1E, 0x0C},
	"MyWirelessAP"...), 0x10), "mysecurepassword"...), 0xC0)

func TestSpecExampleWiFiSettings(t *testing.T) {
	got, err := EncodeWiFiSettings("MyWirelessAP", "mysecurepassword")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, specWiFiSettings) {
		t.Fatalf("encode = % x\nwant     % x", got, specWiFiSettings)
	}
	p, err := ParsePacket(specWiFiSettings)
	if err != nil {
		t.Fatal(err)
	}
	if p.Command != CommandWiFiSettings {
		t.Fatalf("command = %v", p.Command)
	}
	w, err := ParseWiFiSettings(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	if w.SSID != "MyWirelessAP" || w.Password != "mysecurepassword" {
		t.Fatalf("settings = %q %q", w.SSID, w.Password)
	}
	if s := w.String(); strings.Contains(s, "mysecure") {
		t.Fatalf("String() shows the password: %s", s)
	}
	if s := w.LogValue().String(); strings.Contains(s, "mysecure") {
		t.Fatalf("LogValue() shows the password: %s", s)
	}
}

func TestSpecExampleEmptyCommands(t *testing.T) {
	// "02 00 CS", "03 00 CS", "04 00 CS", "05 00 CS", "06 00 CS": no data, the
	// checksum is the command byte.
	for _, c := range []Command{CommandIdentify, CommandDeviceInfo, CommandScan, CommandHostname, CommandDeviceName} {
		got, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{byte(c), 0x00, byte(c)}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: % x, want % x", c, got, want)
		}
	}
}

func TestSpecExampleDeviceInfo(t *testing.T) {
	// The spec's example: ESPHome, 2021.11.0, ESP32-C3, Temperature Monitor.
	d := DeviceInfo{FirmwareName: "ESPHome", FirmwareVersion: "2021.11.0", Hardware: "ESP32-C3", DeviceName: "Temperature Monitor"}
	b := EncodeDeviceInfo(d)
	var want []byte
	want = append(want, 0x03, byte(4+7+9+8+19))
	for _, s := range []string{"ESPHome", "2021.11.0", "ESP32-C3", "Temperature Monitor"} {
		want = append(want, byte(len(s)))
		want = append(want, s...)
	}
	want = append(want, Checksum(want))
	if !bytes.Equal(b, want) {
		t.Fatalf("% x\nwant % x", b, want)
	}
	cmd, ss, err := ParseResult(b)
	if err != nil || cmd != CommandDeviceInfo {
		t.Fatal(cmd, err)
	}
	got, err := ParseDeviceInfo(ss)
	if err != nil || got != d {
		t.Fatalf("%+v %v", got, err)
	}
	// Exactly 4 strings unless OS fields are set (Home Assistant wants 4).
	if len(ss) != 4 {
		t.Fatalf("%d strings", len(ss))
	}
	if _, err := ParseDeviceInfo(ss[:3]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("3 strings: %v", err)
	}
	d.OSName, d.OSVersion = "Debian", "12"
	_, ss, _ = ParseResult(EncodeDeviceInfo(d))
	if got, _ := ParseDeviceInfo(ss); got != d {
		t.Fatalf("with OS: %+v", got)
	}
}

func TestSpecExampleScan(t *testing.T) {
	// The spec's example: MyWirelessNetwork, -60, WPA2, MyOtherWirelessNetwork,
	// -52, WEP. Strongest first, so the -52 network comes first.
	b, n := EncodeScanResult([]Network{
		{SSID: "MyWirelessNetwork", RSSI: -60, Auth: AuthWPA2},
		{SSID: "MyOtherWirelessNetwork", RSSI: -52, Auth: AuthWEP},
	})
	if n != 2 {
		t.Fatalf("n = %d", n)
	}
	cmd, ss, err := ParseResult(b)
	if err != nil || cmd != CommandScan {
		t.Fatal(cmd, err)
	}
	want := []string{"MyOtherWirelessNetwork", "-52", "WEP", "MyWirelessNetwork", "-60", "WPA2"}
	if strings.Join(ss, "|") != strings.Join(want, "|") {
		t.Fatalf("%q", ss)
	}
	nets, err := ParseScanResult(ss)
	if err != nil || len(nets) != 2 || nets[0].RSSI != -52 || nets[1].Auth != AuthWPA2 {
		t.Fatalf("%+v %v", nets, err)
	}
}

func TestChecksum(t *testing.T) {
	tests := []struct {
		in   []byte
		want byte
	}{
		{nil, 0},
		{[]byte{0x01}, 0x01},
		{[]byte{0xFF, 0x02}, 0x01},              // 0x101: only the low byte
		{bytes.Repeat([]byte{0xFF}, 258), 0xFE}, // 258*0xFF = 0x101FE
	}
	for _, tt := range tests {
		if got := Checksum(tt.in); got != tt.want {
			t.Errorf("Checksum(% x) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestParsePacketErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrLength},
		{"two bytes", []byte{0x02, 0x00}, ErrLength},
		{"length too big", []byte{0x02, 0x01, 0x03}, ErrLength},
		{"length too small", []byte{0x02, 0x00, 0x00, 0x02}, ErrLength},
		{"bad checksum", []byte{0x02, 0x00, 0x03}, ErrChecksum},
		{"bad checksum with data", []byte{0x05, 0x01, 0x41, 0x00}, ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePacket(tt.in)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if CodeOf(err) != ErrorInvalidRPC {
				t.Fatalf("CodeOf = %v", CodeOf(err))
			}
		})
	}
	// An unknown command parses; it is the device's ErrorUnknownRPC.
	p, err := ParsePacket([]byte{0x42, 0x00, 0x42})
	if err != nil || p.Command.Known() {
		t.Fatalf("unknown command: %v %v", p, err)
	}
}

func TestEncodeTooLong(t *testing.T) {
	if _, err := (Packet{Command: CommandScan, Data: make([]byte, 256)}).Encode(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256 data bytes: %v", err)
	}
	if b, err := (Packet{Command: CommandScan, Data: make([]byte, 255)}).Encode(); err != nil || len(b) != MaxPacketLen || b[1] != 255 {
		t.Fatalf("255 data bytes: %d %v", len(b), err)
	}
	if _, err := EncodeStrings(strings.Repeat("x", 256)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256-byte string: %v", err)
	}
	if _, err := EncodeStrings(strings.Repeat("x", 200), strings.Repeat("y", 54)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256 bytes of list: %v", err)
	}
	if b, err := EncodeStrings(strings.Repeat("x", 200), strings.Repeat("y", 53)); err != nil || len(b) != 255 {
		t.Fatalf("255 bytes of list: %d %v", len(b), err)
	}
	_, err := EncodeWiFiSettings(strings.Repeat("s", 32), strings.Repeat("p", 300))
	if !errors.Is(err, ErrTooLong) || strings.Contains(err.Error(), "ppp") {
		t.Fatalf("long password: %v", err)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []string
		err  bool
	}{
		{"empty", nil, nil, false},
		{"one empty string", []byte{0}, []string{""}, false},
		{"two", []byte{1, 'a', 2, 'b', 'c'}, []string{"a", "bc"}, false},
		{"non-UTF-8 kept", []byte{2, 0xff, 0xfe}, []string{"\xff\xfe"}, false},
		{"runs past end", []byte{3, 'a'}, nil, true},
		{"second runs past end", []byte{1, 'a', 5}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeStrings(tt.data)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("err %v does not wrap ErrInvalidPacket", err)
				}
				return
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			back, err := EncodeStrings(got...)
			if err != nil || !bytes.Equal(back, tt.data) {
				t.Fatalf("round trip % x, %v", back, err)
			}
		})
	}
}

func TestParseWiFiSettingsErrors(t *testing.T) {
	for _, data := range [][]byte{nil, {0}, {1, 'a'}, {1, 'a', 0, 0}, {1, 'a', 9, 'b'}} {
		if _, err := ParseWiFiSettings(data); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("% x: %v", data, err)
		}
	}
	w, err := ParseWiFiSettings([]byte{4, 'o', 'p', 'e', 'n', 0})
	if err != nil || w.SSID != "open" || w.Password != "" {
		t.Fatalf("open network: %+v %v", w, err)
	}
}

func TestNames(t *testing.T) {
	// Every state, error code and command has a name; unknown ones show
	// their value.
	cases := map[string]string{
		StateAuthorizationRequired.String():            "authorization required",
		StateAuthorized.String():                       "authorized",
		StateProvisioning.String():                     "provisioning",
		StateProvisioned.String():                      "provisioned",
		State(9).String():                              "state(0x9)",
		ErrorNone.String():                             "no error",
		ErrorInvalidRPC.String():                       "invalid RPC packet",
		ErrorUnknownRPC.String():                       "unknown RPC command",
		ErrorUnableToConnect.String():                  "unable to connect",
		ErrorNotAuthorized.String():                    "not authorized",
		ErrorBadHostname.String():                      "bad hostname",
		ErrorUnknown.String():                          "unknown error",
		ErrorCode(0x42).String():                       "error(0x42)",
		CommandWiFiSettings.String():                   "wifi-settings",
		CommandIdentify.String():                       "identify",
		CommandDeviceInfo.String():                     "device-info",
		CommandScan.String():                           "scan",
		CommandHostname.String():                       "hostname",
		CommandDeviceName.String():                     "device-name",
		Command(0x07).String():                         "command(0x7)",
		Capabilities(0).String():                       "none",
		(CapabilityIdentify | CapabilityScan).String(): "identify,scan",
		(CapabilityDeviceInfo | CapabilityHostname | Capabilities(0x80)).String(): "device-info,hostname,bit7",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	// The byte values are the spec's.
	vals := []struct {
		got, want byte
	}{
		{byte(StateAuthorizationRequired), 1}, {byte(StateAuthorized), 2}, {byte(StateProvisioning), 3}, {byte(StateProvisioned), 4},
		{byte(ErrorNone), 0}, {byte(ErrorInvalidRPC), 1}, {byte(ErrorUnknownRPC), 2}, {byte(ErrorUnableToConnect), 3},
		{byte(ErrorNotAuthorized), 4}, {byte(ErrorBadHostname), 5}, {byte(ErrorUnknown), 0xFF},
		{byte(CommandWiFiSettings), 1}, {byte(CommandIdentify), 2}, {byte(CommandDeviceInfo), 3},
		{byte(CommandScan), 4}, {byte(CommandHostname), 5}, {byte(CommandDeviceName), 6},
		{byte(CapabilityIdentify), 1}, {byte(CapabilityDeviceInfo), 2}, {byte(CapabilityScan), 4}, {byte(CapabilityHostname), 8},
	}
	for i, v := range vals {
		if v.got != v.want {
			t.Errorf("value %d: %#x, want %#x", i, v.got, v.want)
		}
	}
	if !(CapabilityIdentify | CapabilityScan).Has(CapabilityScan) || CapabilityIdentify.Has(CapabilityScan) {
		t.Error("Has")
	}
}

func TestCodeOf(t *testing.T) {
	if CodeOf(nil) != ErrorNone || CodeOf(ErrChecksum) != ErrorInvalidRPC || CodeOf(errors.New("x")) != ErrorUnknown {
		t.Fatal("CodeOf")
	}
}

func TestUUIDs(t *testing.T) {
	for i, u := range []string{ServiceUUID, StateUUID, ErrorUUID, RPCCommandUUID, RPCResultUUID, CapabilitiesUUID} {
		want := "00467768-6228-2272-4663-27747826800" + strconv.Itoa(i)
		if u != want {
			t.Errorf("%s, want %s", u, want)
		}
	}
	if ServiceDataUUID != "00004677-0000-1000-8000-00805f9b34fb" || ServiceDataUUID16 != 0x4677 {
		t.Error("service data UUID")
	}
}

func TestScanTrim(t *testing.T) {
	// 20 networks of 32-byte SSIDs: each triple is 1+32 + 1+3 + 1+4 = 42
	// bytes, so 6 fit (252 bytes) and the 7th would make 294.
	var nets []Network
	for i := 0; i < 20; i++ {
		nets = append(nets, Network{SSID: strings.Repeat(string(rune('a'+i)), 32), RSSI: -40 - i, Auth: AuthWPA2})
	}
	b, n := EncodeScanResult(nets)
	if n != 6 {
		t.Fatalf("n = %d, want 6", n)
	}
	if b[1] != 252 || len(b) != 3+252 {
		t.Fatalf("length byte %d, packet %d bytes", b[1], len(b))
	}
	_, ss, err := ParseResult(b)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ParseScanResult(ss)
	for i, w := range got {
		if w.RSSI != -40-i {
			t.Fatalf("entry %d RSSI %d: not strongest first", i, w.RSSI)
		}
	}

	// Exactly 255: fill the last triple up to the limit.
	exact := []Network{
		{SSID: strings.Repeat("x", 32), RSSI: -1, Auth: AuthOpen},
		{SSID: strings.Repeat("y", 32), RSSI: -2, Auth: AuthOpen},
		{SSID: strings.Repeat("z", 32), RSSI: -3, Auth: AuthOpen},
		{SSID: strings.Repeat("w", 32), RSSI: -4, Auth: AuthOpen},
		{SSID: strings.Repeat("v", 32), RSSI: -5, Auth: AuthOpen},
		{SSID: strings.Repeat("u", 31), RSSI: -60, Auth: Auth("WPA2/3")},
	}
	// Make the last SSID as long as fits exactly.
	total := 0
	for _, w := range exact[:5] {
		total += 3 + len(w.SSID) + len(strconv.Itoa(w.RSSI)) + len(w.Auth)
	}
	last := 255 - total - 3 - len("-60") - len("WPA2/3")
	exact[5].SSID = strings.Repeat("u", last)
	b, n = EncodeScanResult(exact)
	if n != 6 || b[1] != 255 || len(b) != MaxPacketLen {
		t.Fatalf("exact fit: n=%d length byte %d", n, b[1])
	}
	exact[5].SSID += "u"
	if b, n = EncodeScanResult(exact); n != 5 || b[1] != byte(total) {
		t.Fatalf("one byte over: n=%d length byte %d", n, b[1])
	}
}

func TestScanDedupeHiddenEmpty(t *testing.T) {
	b, n := EncodeScanResult([]Network{
		{SSID: "home", RSSI: -70, Auth: AuthWPA2},
		{SSID: "", RSSI: -10, Auth: AuthWPA2}, // hidden
		{SSID: "home", RSSI: -50, Auth: AuthWPA3},
		{SSID: "cafe", RSSI: -60, Auth: AuthOpen},
		{SSID: "home", RSSI: -90, Auth: AuthWPA},
	})
	_, ss, _ := ParseResult(b)
	want := "home|-50|WPA3|cafe|-60|NO"
	if n != 2 || strings.Join(ss, "|") != want {
		t.Fatalf("n=%d %q, want %s", n, ss, want)
	}
	// No networks: a result with no strings.
	b, n = EncodeScanResult(nil)
	if n != 0 || !bytes.Equal(b, []byte{0x04, 0x00, 0x04}) {
		t.Fatalf("empty: % x", b)
	}
	if _, err := ParseScanResult([]string{"a", "-1"}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if _, err := ParseScanResult([]string{"a", "strong", "WPA2"}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestDeviceInfoFits(t *testing.T) {
	d := DeviceInfo{
		FirmwareName: "bluenet", FirmwareVersion: "1.2.3",
		Hardware:   strings.Repeat("h", 300),
		DeviceName: strings.Repeat("é", 120), // 240 bytes
	}
	b := EncodeDeviceInfo(d)
	if len(b) > MaxPacketLen || int(b[1]) != len(b)-3 {
		t.Fatalf("%d bytes", len(b))
	}
	_, ss, err := ParseResult(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDeviceInfo(ss)
	if err != nil || got.FirmwareName != "bluenet" || got.FirmwareVersion != "1.2.3" {
		t.Fatalf("%+v %v", got, err)
	}
	if !strings.HasPrefix(d.DeviceName, got.DeviceName) || !strings.HasPrefix(d.Hardware, got.Hardware) {
		t.Fatal("not prefixes")
	}
	for _, r := range got.DeviceName {
		if r != 'é' {
			t.Fatalf("UTF-8 cut in two: %q", got.DeviceName)
		}
	}
	if Truncate("héllo", 2) != "h" || Truncate("abc", 5) != "abc" || Truncate("abc", 0) != "" {
		t.Fatal("Truncate")
	}
}

func TestNameArgument(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    string
		wantSet bool
	}{
		{"get", nil, "", false},
		{"string list (Home Assistant)", []byte{4, 'h', 'o', 's', 't'}, "host", true},
		{"raw (spec table)", []byte("host"), "host", true},
		{"raw one byte", []byte("h"), "h", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set, err := ParseNameArgument(tt.data)
			if err != nil || got != tt.want || set != tt.wantSet {
				t.Fatalf("%q %v %v", got, set, err)
			}
		})
	}
	// What the client sends is the string list form.
	b, _ := EncodeCommand(CommandHostname, "kitchen")
	p, _ := ParsePacket(b)
	if got, set, _ := ParseNameArgument(p.Data); got != "kitchen" || !set {
		t.Fatalf("%q", got)
	}
}

func TestServiceDataAndValues(t *testing.T) {
	b := EncodeServiceData(StateAuthorized, CapabilityIdentify|CapabilityDeviceInfo)
	if !bytes.Equal(b, []byte{0x02, 0x03, 0, 0, 0, 0}) {
		t.Fatalf("% x", b)
	}
	s, c, err := ParseServiceData(b)
	if err != nil || s != StateAuthorized || c != 3 {
		t.Fatal(s, c, err)
	}
	for _, bad := range [][]byte{nil, {2, 3}, {2, 3, 0, 0, 0, 0, 0}} {
		if _, _, err := ParseServiceData(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: %v", bad, err)
		}
	}
	if st, err := ParseState([]byte{4}); err != nil || st != StateProvisioned {
		t.Fatal(st, err)
	}
	for _, bad := range [][]byte{nil, {0}, {5}, {1, 1}} {
		if _, err := ParseState(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("state % x: %v", bad, err)
		}
	}
	if e, err := ParseErrorCode([]byte{0x03}); err != nil || e != ErrorUnableToConnect {
		t.Fatal(e, err)
	}
	if _, err := ParseErrorCode(nil); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if c, err := ParseCapabilities([]byte{0x0f}); err != nil || !c.Has(CapabilityHostname) {
		t.Fatal(c, err)
	}
	if c, err := ParseCapabilities(nil); err != nil || c != 0 {
		t.Fatal(c, err)
	}
}

func TestValidHostname(t *testing.T) {
	good := []string{"a", "pi-1", "kitchen.local", strings.Repeat("a", 63), "1abc"}
	bad := []string{"", "-a", "a-", "a_b", "a..b", "a.", strings.Repeat("a", 64), "é", "a b", strings.Repeat("a.", 127) + "ab"}
	for _, s := range good {
		if !ValidHostname(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range bad {
		if ValidHostname(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
