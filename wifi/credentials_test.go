package wifi

import (
	"errors"
	"strings"
	"testing"
)

func TestCredentialsValidate(t *testing.T) {
	ok := func() *EAP { return &EAP{Method: EAPPEAP, Identity: "alice", Password: "secret pw"} }
	with := func(f func(e *EAP)) *EAP { e := ok(); f(e); return e }
	tests := []struct {
		name    string
		cred    Credentials
		wantErr bool
	}{
		{"open", Credentials{}, false},
		{"passphrase", Passphrase("password1"), false},
		{"short passphrase", Passphrase("short"), true},
		{"peap", Credentials{EAP: ok()}, false},
		{"ttls pap", Credentials{EAP: with(func(e *EAP) { e.Method, e.Phase2 = EAPTTLS, Phase2PAP })}, false},
		{"peap pap", Credentials{EAP: with(func(e *EAP) { e.Phase2 = Phase2PAP })}, true},
		{"no method", Credentials{EAP: with(func(e *EAP) { e.Method = 0 })}, true},
		{"unknown phase2", Credentials{EAP: with(func(e *EAP) { e.Phase2 = 9 })}, true},
		{"no identity", Credentials{EAP: with(func(e *EAP) { e.Identity = "" })}, true},
		{"identity too long", Credentials{EAP: with(func(e *EAP) { e.Identity = strings.Repeat("a", 254) })}, true},
		{"identity control char", Credentials{EAP: with(func(e *EAP) { e.Identity = "al\nice" })}, true},
		{"anonymous identity not UTF-8", Credentials{EAP: with(func(e *EAP) { e.AnonymousIdentity = "\xff" })}, true},
		{"no password", Credentials{EAP: with(func(e *EAP) { e.Password = "" })}, true},
		{"password with NUL", Credentials{EAP: with(func(e *EAP) { e.Password = "a\x00b" })}, true},
		{"password too long", Credentials{EAP: with(func(e *EAP) { e.Password = strings.Repeat("p", 257) })}, true},
		{"short password is fine", Credentials{EAP: with(func(e *EAP) { e.Password = "pw" })}, false},
		{"CA file", Credentials{EAP: with(func(e *EAP) { e.CACert = "/etc/ssl/ca.pem" })}, false},
		{"relative CA file", Credentials{EAP: with(func(e *EAP) { e.CACert = "ca.pem" })}, true},
		{"CA file and no check", Credentials{EAP: with(func(e *EAP) { e.CACert, e.NoCACheck = "/ca.pem", true })}, true},
		{"both secret and EAP", Credentials{Secret: "password1", EAP: ok()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cred.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			for _, s := range tt.cred.Secrets() {
				if err != nil && len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("error contains the secret: %v", err)
				}
			}
		})
	}
}

func TestEAPModes(t *testing.T) {
	if m := (&EAP{}).CAMode(); m != "system" {
		t.Errorf("default CA mode %q", m)
	}
	if m := (&EAP{CACert: "/x"}).CAMode(); m != "file" {
		t.Errorf("CA file mode %q", m)
	}
	if m := (&EAP{NoCACheck: true}).CAMode(); m != "none" {
		t.Errorf("no check mode %q", m)
	}
	for _, s := range []string{"peap", "PEAP", "ttls"} {
		if _, err := ParseEAPMethod(s); err != nil {
			t.Errorf("ParseEAPMethod(%q): %v", s, err)
		}
	}
	if _, err := ParseEAPMethod("tls"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseEAPMethod(tls) = %v", err)
	}
	if p, err := ParsePhase2("pap"); err != nil || p != Phase2PAP {
		t.Errorf("ParsePhase2(pap) = %v, %v", p, err)
	}
	if got := (Credentials{EAP: &EAP{Password: "x"}}).Secrets(); len(got) != 1 || got[0] != "x" {
		t.Errorf("Secrets() = %q", got)
	}
}

func TestStrengthToDBm(t *testing.T) {
	for _, tt := range []struct {
		pct  uint8
		want int16
	}{{0, -100}, {100, -40}, {50, -70}, {83, -50}, {255, -40}} {
		if got := StrengthToDBm(tt.pct); got != tt.want {
			t.Errorf("StrengthToDBm(%d) = %d, want %d", tt.pct, got, tt.want)
		}
	}
	// The inverse of NetworkManager's mapping, to within 1 dB.
	for dbm := -100; dbm <= -40; dbm++ {
		pct := 100 - (100*(-40-dbm))/60
		if got := int(StrengthToDBm(uint8(pct))); got < dbm-1 || got > dbm+1 {
			t.Errorf("%d dBm -> %d%% -> %d dBm", dbm, pct, got)
		}
	}
}

func TestBandOf(t *testing.T) {
	for _, tt := range []struct {
		mhz  uint32
		want Band
	}{{2412, Band2G4}, {2484, Band2G4}, {5180, Band5G}, {5825, Band5G}, {5955, Band6G}, {7115, Band6G}, {0, BandUnknown}, {60480, BandUnknown}} {
		if got := BandOf(tt.mhz); got != tt.want {
			t.Errorf("BandOf(%d) = %v, want %v", tt.mhz, got, tt.want)
		}
	}
	if (AccessPoint{Frequency: 2437}).Band() != Band2G4 {
		t.Error("AccessPoint.Band")
	}
}
