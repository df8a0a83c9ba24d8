package daemon

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

func TestEncodeState(t *testing.T) {
	tests := []struct {
		in   wifi.State
		want []byte
	}{
		{wifi.State{Kind: wifi.Down}, []byte{0}},
		{wifi.State{Kind: wifi.Disconnected}, []byte{1}},
		{wifi.State{Kind: wifi.Connecting, SSID: []byte("home")}, []byte("\x02home")},
		{wifi.State{Kind: wifi.Connected, SSID: []byte{0xff, 0}, IPv4: netip.MustParseAddr("10.0.0.2")}, []byte{3, 0xff, 0}},
		{wifi.State{Kind: wifi.Disconnected, SSID: []byte("stale")}, []byte{1}},
	}
	for _, tt := range tests {
		if got := EncodeState(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("EncodeState(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandHostname(t *testing.T) {
	ip := netip.MustParseAddr("192.168.1.7")
	tests := []struct {
		tmpl string
		ip   netip.Addr
		want string
	}{
		{"pi.local", ip, "pi.local"},
		{"http://%IP:8080/", ip, "http://192.168.1.7:8080/"},
		{"%IP", netip.Addr{}, ""},
		{"%IP and %IP", ip, "192.168.1.7 and 192.168.1.7"},
	}
	for _, tt := range tests {
		if got := ExpandHostname(tt.tmpl, tt.ip); got != tt.want {
			t.Errorf("ExpandHostname(%q, %v) = %q, want %q", tt.tmpl, tt.ip, got, tt.want)
		}
	}
}

func TestResultOf(t *testing.T) {
	tests := []struct {
		err  error
		want bluenet.ResultCode
	}{
		{nil, bluenet.ResultOK},
		{wifi.ErrWrongPassword, bluenet.ResultWrongPassword},
		{fmt.Errorf("x: %w", wifi.ErrNotFound), bluenet.ResultNotFound},
		{&wifi.JoinError{Reason: wifi.ReasonTimeout}, bluenet.ResultTimeout},
		{wifi.ErrDHCPFailed, bluenet.ResultDHCPFailed},
		{wifi.ErrBusy, bluenet.ResultBusy},
		{wifi.ErrInvalid, bluenet.ResultInvalidInput},
		{wifi.ErrUnavailable, bluenet.ResultFailed},
		{fmt.Errorf("other"), bluenet.ResultFailed},
	}
	for _, tt := range tests {
		if got := resultOf(tt.err); got != tt.want {
			t.Errorf("resultOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if got := bluenet.EncodeResult(bluenet.ResultWrongPassword); !bytes.Equal(got, []byte("\x01wrong password")) {
		t.Errorf("bluenet.EncodeResult = %q", got)
	}
}

func TestNetworkList(t *testing.T) {
	aps := []wifi.AccessPoint{
		{SSID: []byte("weak"), Strength: 10},
		{SSID: []byte("strong"), Strength: 90},
		{SSID: nil, Strength: 99},
		{SSID: []byte("strong"), Strength: 40},
		{SSID: []byte("mid"), Strength: 50},
	}
	got := NetworkList(aps)
	want := []string{"strong", "mid", "weak"}
	if len(got) != len(want) {
		t.Fatalf("NetworkList = %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("NetworkList = %q, want %q", got, want)
		}
	}
}

func TestAdvName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Bluenet Test", "Bluenet Test"},
		{"", ""},
		{"abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz012"},
		{"ääääääääääääääää", "ääääääääääääää"}, // 2-byte runes: 14 fit in 29 bytes
	}
	for _, tt := range tests {
		if got := advName(tt.in); got != tt.want {
			t.Errorf("advName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
