package wifi_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bluenet-project/bluenet/wifi"
)

func TestValidateSSID(t *testing.T) {
	tests := []struct {
		name string
		ssid []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"one byte", []byte("a"), true},
		{"32 bytes", []byte(strings.Repeat("x", 32)), true},
		{"33 bytes", []byte(strings.Repeat("x", 33)), false},
		{"binary", []byte{0, 0xff, 0x80}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wifi.ValidateSSID(tt.ssid)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateSSID(%q) = %v, want ok=%v", tt.ssid, err, tt.ok)
			}
			if err != nil && !errors.Is(err, wifi.ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestValidateSecret(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdeF", 4)
	tests := []struct {
		name   string
		secret string
		ok     bool
	}{
		{"empty is open", "", true},
		{"7 chars", "1234567", false},
		{"8 chars", "12345678", true},
		{"63 chars", strings.Repeat("p", 63), true},
		{"64 hex", hex64, true},
		{"64 non-hex", strings.Repeat("g", 64), false},
		{"65 chars", strings.Repeat("a", 65), false},
		{"space and symbols", "pass word !~", true},
		{"tab", "pass\tword", false},
		{"newline", "password\n", false},
		{"DEL", "password\x7f", false},
		{"utf-8", "passwörd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wifi.ValidateSecret(tt.secret)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateSecret = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, wifi.ErrInvalid) {
					t.Errorf("error %v does not match ErrInvalid", err)
				}
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q contains the secret", err)
				}
			}
		})
	}
}

func TestChooseSecurity(t *testing.T) {
	const pass = "correct horse"
	hex64 := strings.Repeat("ab", 32)
	O, P, S, E, X := wifi.SecurityOpen, wifi.SecurityPSK, wifi.SecuritySAE, wifi.SecurityEnterprise, wifi.SecurityOther
	tests := []struct {
		name       string
		seen       []wifi.Security
		secret     string
		want       wifi.Security
		wantHidden bool
		wantErr    bool
	}{
		{"hidden open", nil, "", O, true, false},
		{"hidden with secret is PSK", nil, pass, P, true, false},
		{"open", []wifi.Security{O}, "", O, false, false},
		{"open with secret", []wifi.Security{O}, pass, 0, false, true},
		{"PSK", []wifi.Security{P}, pass, P, false, false},
		{"PSK raw key", []wifi.Security{P}, hex64, P, false, false},
		{"PSK without secret", []wifi.Security{P}, "", 0, false, true},
		{"SAE only", []wifi.Security{S}, pass, S, false, false},
		{"SAE raw key", []wifi.Security{S}, hex64, 0, false, true},
		{"SAE without secret", []wifi.Security{S}, "", 0, false, true},
		{"SAE and PSK BSSs prefer PSK", []wifi.Security{S, P}, pass, P, false, false},
		{"open and PSK BSSs, no secret", []wifi.Security{P, O}, "", O, false, false},
		{"open and PSK BSSs, secret", []wifi.Security{O, P}, pass, P, false, false},
		{"enterprise", []wifi.Security{E}, pass, 0, false, true},
		{"WEP/OWE", []wifi.Security{X}, pass, 0, false, true},
		{"WEP/OWE no secret", []wifi.Security{X}, "", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hidden, err := wifi.ChooseSecurity(tt.seen, tt.secret)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, wifi.ErrInvalid) {
					t.Errorf("error %v does not match ErrInvalid", err)
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error contains the secret")
				}
				return
			}
			if got != tt.want || hidden != tt.wantHidden {
				t.Errorf("got %v hidden=%v, want %v hidden=%v", got, hidden, tt.want, tt.wantHidden)
			}
		})
	}
}

func TestJoinErrorMatchesSentinel(t *testing.T) {
	sentinels := []error{wifi.ErrWrongPassword, wifi.ErrNotFound, wifi.ErrTimeout, wifi.ErrDHCPFailed,
		wifi.ErrBusy, wifi.ErrUnavailable, wifi.ErrInvalid, wifi.ErrFailed, wifi.ErrCanceled}
	for r := wifi.ReasonWrongPassword; r <= wifi.ReasonCanceled; r++ {
		t.Run(r.String(), func(t *testing.T) {
			inner := errors.New("inner")
			var err error = fmt.Errorf("wrapped: %w", &wifi.JoinError{SSID: []byte("net"), Reason: r, Err: inner})
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
					if s != r.Err() {
						t.Errorf("matches %v, want %v", s, r.Err())
					}
				}
			}
			if n != 1 {
				t.Errorf("matches %d sentinels, want 1", n)
			}
			if !errors.Is(err, inner) {
				t.Error("does not unwrap to the inner error")
			}
			if got := wifi.ReasonOf(err); got != r {
				t.Errorf("ReasonOf = %v, want %v", got, r)
			}
			if got := wifi.ReasonOf(r.Err()); got != r {
				t.Errorf("ReasonOf(sentinel) = %v, want %v", got, r)
			}
		})
	}
	if wifi.ReasonOf(nil) != wifi.ReasonNone {
		t.Error("ReasonOf(nil) != ReasonNone")
	}
	if wifi.ReasonOf(errors.New("x")) != wifi.ReasonFailed {
		t.Error("ReasonOf(other) != ReasonFailed")
	}
}

func TestJoinErrorString(t *testing.T) {
	e := &wifi.JoinError{SSID: []byte("home\x00"), Reason: wifi.ReasonWrongPassword, Detail: "reason 7", RolledBack: true}
	want := `wifi: join "home\x00": wrong password (reason 7); previous connection restored`
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestStateEqualAndString(t *testing.T) {
	a := wifi.State{Kind: wifi.Connected, SSID: []byte("home"), IPv4: netip.MustParseAddr("192.168.1.5")}
	b := a
	b.SSID = []byte("home")
	if !a.Equal(b) {
		t.Error("equal states differ")
	}
	b.IPv4 = netip.Addr{}
	if a.Equal(b) {
		t.Error("different states are equal")
	}
	if got, want := a.String(), `connected "home" 192.168.1.5`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (wifi.State{}).String(); got != "down" {
		t.Errorf("zero State = %q, want down", got)
	}
}
