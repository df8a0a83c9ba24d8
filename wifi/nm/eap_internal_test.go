package nm

import (
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/wifi"
)

// TestJoinEnterpriseSettings: the profile NetworkManager gets for each CA
// mode.
func TestJoinEnterpriseSettings(t *testing.T) {
	tests := []struct {
		name  string
		eap   wifi.EAP
		check func(t *testing.T, x map[string]dbus.Variant)
	}{
		{"peap with CA file", wifi.EAP{Method: wifi.EAPPEAP, Identity: "alice", AnonymousIdentity: "anon", Password: "pw", CACert: "/etc/ca.pem"},
			func(t *testing.T, x map[string]dbus.Variant) {
				if ca, _ := x["ca-cert"].Value().([]byte); string(ca) != "file:///etc/ca.pem\x00" {
					t.Errorf("ca-cert %q", ca)
				}
				if a, _ := x["anonymous-identity"].Value().(string); a != "anon" {
					t.Errorf("anonymous-identity %q", a)
				}
			}},
		{"ttls pap with system CAs", wifi.EAP{Method: wifi.EAPTTLS, Phase2: wifi.Phase2PAP, Identity: "alice", Password: "pw", DomainSuffixMatch: "example.org"},
			func(t *testing.T, x map[string]dbus.Variant) {
				if v, _ := x["system-ca-certs"].Value().(bool); !v {
					t.Error("system-ca-certs not set")
				}
				if v, _ := x["domain-suffix-match"].Value().(string); v != "example.org" {
					t.Errorf("domain-suffix-match %q", v)
				}
				if v, _ := x["phase2-auth"].Value().(string); v != "pap" {
					t.Errorf("phase2-auth %q", v)
				}
			}},
		{"no CA check", wifi.EAP{Method: wifi.EAPPEAP, Identity: "alice", Password: "pw", NoCACheck: true},
			func(t *testing.T, x map[string]dbus.Variant) {
				if _, ok := x["ca-cert"]; ok {
					t.Error("ca-cert set")
				}
				if _, ok := x["system-ca-certs"]; ok {
					t.Error("system-ca-certs set")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := buildSettings("bluenet-pending", "wlan0", []byte("corp"), wifi.SecurityEnterprise, false, wifi.Credentials{EAP: &tt.eap})
			if km, _ := s["802-11-wireless-security"]["key-mgmt"].Value().(string); km != "wpa-eap" {
				t.Errorf("key-mgmt %q, want wpa-eap", km)
			}
			x := s["802-1x"]
			if eap, _ := x["eap"].Value().([]string); len(eap) != 1 || eap[0] != tt.eap.Method.String() {
				t.Errorf("eap %v", eap)
			}
			if id, _ := x["identity"].Value().(string); id != "alice" {
				t.Errorf("identity %q", id)
			}
			if pw, _ := x["password"].Value().(string); pw != "pw" {
				t.Errorf("password not set")
			}
			tt.check(t, x)
		})
	}
}

func TestChooseSecurityEnterprise(t *testing.T) {
	login := wifi.Credentials{EAP: &wifi.EAP{Method: wifi.EAPPEAP, Identity: "a", Password: "p"}}
	tests := []struct {
		name       string
		seen       []wifi.Security
		cred       wifi.Credentials
		want       wifi.Security
		wantHidden bool
		wantErr    bool
	}{
		{"enterprise seen", []wifi.Security{wifi.SecurityEnterprise}, login, wifi.SecurityEnterprise, false, false},
		{"hidden", nil, login, wifi.SecurityEnterprise, true, false},
		{"login for a psk network", []wifi.Security{wifi.SecurityPSK}, login, 0, false, true},
		{"passphrase for an enterprise network", []wifi.Security{wifi.SecurityEnterprise}, wifi.Passphrase("password1"), 0, false, true},
		{"passphrase for psk", []wifi.Security{wifi.SecurityPSK}, wifi.Passphrase("password1"), wifi.SecurityPSK, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hidden, err := chooseSecurity(tt.seen, tt.cred)
			if (err != nil) != tt.wantErr || got != tt.want || hidden != tt.wantHidden {
				t.Errorf("chooseSecurity = %v, %v, %v; want %v, %v, error %v", got, hidden, err, tt.want, tt.wantHidden, tt.wantErr)
			}
		})
	}
}

func TestAuthOf(t *testing.T) {
	tests := []struct {
		flags, wpa, rsn uint32
		want            wifi.Auth
	}{
		{0, 0, 0, wifi.AuthOpen},
		{apFlagPrivacy, 0, 0, wifi.AuthWEP},
		{apFlagPrivacy, apSecKeyMgmtPSK, 0, wifi.AuthWPA},
		{apFlagPrivacy, apSecKeyMgmtPSK, apSecKeyMgmtPSK, wifi.AuthWPA2},
		{apFlagPrivacy, 0, apSecKeyMgmtPSK | apSecKeyMgmtSAE, wifi.AuthWPA3},
		{apFlagPrivacy, 0, apSecKeyMgmtSAE, wifi.AuthWPA3},
		{apFlagPrivacy, 0, apSecKeyMgmt8021X, wifi.AuthEnterprise},
		{apFlagPrivacy, 0, apSecKeyMgmtSuiteB, wifi.AuthEnterprise},
		{0, 0, apSecKeyMgmtOWE, wifi.AuthOWE},
	}
	for _, tt := range tests {
		if got := authOf(tt.flags, tt.wpa, tt.rsn); got != tt.want {
			t.Errorf("authOf(%#x, %#x, %#x) = %v, want %v", tt.flags, tt.wpa, tt.rsn, got, tt.want)
		}
	}
}
