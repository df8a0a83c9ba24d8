package bluenet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseState(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    State
		wantErr bool
		str     string
	}{
		{"down", []byte{0}, State{Kind: Down}, false, "down"},
		{"disconnected", []byte{1}, State{Kind: Disconnected}, false, "disconnected"},
		{"disconnected ignores trailing bytes", []byte("\x01stale"), State{Kind: Disconnected}, false, "disconnected"},
		{"connecting", []byte("\x02HomeNet"), State{Kind: Connecting, SSID: []byte("HomeNet")}, false, `connecting "HomeNet"`},
		{"connected", []byte("\x03HomeNet"), State{Kind: Connected, SSID: []byte("HomeNet")}, false, `connected "HomeNet"`},
		{"connected without SSID", []byte{3}, State{Kind: Connected}, false, `connected ""`},
		{"binary SSID", []byte{3, 0xff, 0x00}, State{Kind: Connected, SSID: []byte{0xff, 0}}, false, `connected "\xff\x00"`},
		{"32-byte SSID", append([]byte{3}, bytes.Repeat([]byte("s"), 32)...),
			State{Kind: Connected, SSID: bytes.Repeat([]byte("s"), 32)}, false, `connected "` + strings.Repeat("s", 32) + `"`},
		{"33-byte SSID", append([]byte{3}, bytes.Repeat([]byte("s"), 33)...), State{}, true, ""},
		{"empty", nil, State{}, true, ""},
		{"unknown kind", []byte{4}, State{}, true, ""},
		{"0xff", []byte{0xff, 'x'}, State{}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseState(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseState(%q) = %v, %v; want ErrMalformed", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.want.Kind || !bytes.Equal(got.SSID, tt.want.SSID) {
				t.Errorf("ParseState(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %s, want %s", got.String(), tt.str)
			}
			// Encoding the parsed state gives the input back, except for
			// bytes that carry nothing.
			if enc := got.Encode(); tt.want.Kind >= Connecting && !bytes.Equal(enc, tt.in) {
				t.Errorf("Encode() = %q, want %q", enc, tt.in)
			}
		})
	}
}

func TestParseStateDoesNotAlias(t *testing.T) {
	in := []byte("\x03home")
	s, err := ParseState(in)
	if err != nil {
		t.Fatal(err)
	}
	in[1] = 'X'
	if string(s.SSID) != "home" {
		t.Errorf("SSID shares the input's memory: %q", s.SSID)
	}
}

func TestStateIs(t *testing.T) {
	s := State{Kind: Connected, SSID: []byte("a")}
	if !s.Is(Connected, []byte("a")) || s.Is(Connected, []byte("b")) || s.Is(Connecting, []byte("a")) {
		t.Errorf("Is does not compare both kind and SSID")
	}
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		in      []byte
		want    Result
		final   bool
		str     string
		wantErr bool
	}{
		{EncodeResult(ResultOK), Result{ResultOK, "connected"}, true, "connected", false},
		{EncodeResult(ResultWrongPassword), Result{ResultWrongPassword, "wrong password"}, true, "wrong password", false},
		{[]byte{0x02}, Result{ResultNotFound, ""}, true, "network not found", false},
		{[]byte("\x03took too long"), Result{ResultTimeout, "took too long"}, true, "took too long", false},
		{EncodeResult(ResultInProgress), Result{ResultInProgress, "joining"}, false, "joining", false},
		{[]byte{0xff}, Result{ResultNone, ""}, false, "no join yet", false},
		{[]byte{0x42}, Result{0x42, ""}, true, "failed", false},
		{nil, Result{}, false, "", true},
	}
	for _, tt := range tests {
		got, err := ParseResult(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseResult(%q) = %v, %v; want ErrMalformed", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseResult(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.Code.Final() != tt.final {
			t.Errorf("%v.Final() = %v", got.Code, !tt.final)
		}
		if got.String() != tt.str {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.str)
		}
	}
}
