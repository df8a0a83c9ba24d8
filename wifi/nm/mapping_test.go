package nm

import (
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/wifi"
)

func TestSecurityOf(t *testing.T) {
	const ccmp = 0x88
	tests := []struct {
		name            string
		flags, wpa, rsn uint32
		want            wifi.Security
	}{
		{"open", 0, 0, 0, wifi.SecurityOpen},
		{"WEP", apFlagPrivacy, 0, 0, wifi.SecurityOther},
		{"WPA1 PSK", apFlagPrivacy, 0x100 | 0x44, 0, wifi.SecurityPSK},
		{"WPA2 PSK", apFlagPrivacy, 0, 0x100 | ccmp, wifi.SecurityPSK},
		{"WPA2/WPA3 transition", apFlagPrivacy, 0, 0x500 | ccmp, wifi.SecurityPSK},
		{"WPA3 SAE only", apFlagPrivacy, 0, 0x400 | ccmp, wifi.SecuritySAE},
		{"WPA2 enterprise", apFlagPrivacy, 0, 0x200 | ccmp, wifi.SecurityEnterprise},
		{"WPA3 suite-B", apFlagPrivacy, 0, 0x2000 | ccmp, wifi.SecurityEnterprise},
		{"OWE", apFlagPrivacy, 0, 0x800 | ccmp, wifi.SecurityOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := securityOf(tt.flags, tt.wpa, tt.rsn); got != tt.want {
				t.Errorf("securityOf(%#x, %#x, %#x) = %v, want %v", tt.flags, tt.wpa, tt.rsn, got, tt.want)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		state uint32
		want  wifi.Kind
	}{
		{0, wifi.Down}, {10, wifi.Down}, {20, wifi.Down},
		{30, wifi.Disconnected},
		{40, wifi.Connecting}, {50, wifi.Connecting}, {60, wifi.Connecting}, {70, wifi.Connecting},
		{80, wifi.Connecting}, {90, wifi.Connecting},
		{100, wifi.Connected},
		{110, wifi.Disconnected}, {120, wifi.Disconnected},
	}
	for _, tt := range tests {
		if got := kindOf(tt.state); got != tt.want {
			t.Errorf("kindOf(%d) = %v, want %v", tt.state, got, tt.want)
		}
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		reason  uint32
		secured bool
		want    wifi.Reason
	}{
		{7, true, wifi.ReasonWrongPassword},  // NO_SECRETS: NM 1.42 without an agent
		{8, true, wifi.ReasonWrongPassword},  // SUPPLICANT_DISCONNECT
		{11, true, wifi.ReasonWrongPassword}, // SUPPLICANT_TIMEOUT
		{11, false, wifi.ReasonTimeout},
		{8, false, wifi.ReasonFailed},
		{53, true, wifi.ReasonNotFound},
		{53, false, wifi.ReasonNotFound},
		{5, false, wifi.ReasonDHCPFailed},
		{17, true, wifi.ReasonDHCPFailed},
		{36, true, wifi.ReasonUnavailable},
		{10, true, wifi.ReasonFailed},
		{0, true, wifi.ReasonFailed},
	}
	for _, tt := range tests {
		if got := reasonOf(tt.reason, tt.secured); got != tt.want {
			t.Errorf("reasonOf(%d, %v) = %v, want %v", tt.reason, tt.secured, got, tt.want)
		}
	}
}

func TestBuildSettings(t *testing.T) {
	tests := []struct {
		name    string
		sec     wifi.Security
		hidden  bool
		secret  string
		keyMgmt string
	}{
		{"open", wifi.SecurityOpen, false, "", ""},
		{"psk", wifi.SecurityPSK, false, "password1", "wpa-psk"},
		{"sae", wifi.SecuritySAE, false, "password1", "sae"},
		{"hidden psk", wifi.SecurityPSK, true, "password1", "wpa-psk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := buildSettings("bluenet-pending", "wlan0", []byte("net"), tt.sec, tt.hidden, wifi.Passphrase(tt.secret))
			if got, _ := s["802-11-wireless"]["ssid"].Value().([]byte); string(got) != "net" {
				t.Errorf("ssid = %q", got)
			}
			if got := s["802-11-wireless"]["ssid"].Signature(); got != dbus.SignatureOf([]byte{}) {
				t.Errorf("ssid signature %v, want ay", got)
			}
			hidden, _ := s["802-11-wireless"]["hidden"].Value().(bool)
			if hidden != tt.hidden {
				t.Errorf("hidden = %v, want %v", hidden, tt.hidden)
			}
			km, _ := s["802-11-wireless-security"]["key-mgmt"].Value().(string)
			if km != tt.keyMgmt {
				t.Errorf("key-mgmt = %q, want %q", km, tt.keyMgmt)
			}
			if tt.keyMgmt == "" && s["802-11-wireless-security"] != nil {
				t.Error("open network has a security section")
			}
			if ac, _ := s["connection"]["autoconnect"].Value().(bool); ac {
				t.Error("pending profile autoconnects")
			}
			if mf, ok := s["ipv4"]["may-fail"].Value().(bool); !ok || mf {
				t.Error("ipv4.may-fail is not false")
			}
		})
	}
}
