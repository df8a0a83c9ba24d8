package gatt

import (
	"bytes"
	"errors"
	"testing"
)

func TestMgmtCommand(t *testing.T) {
	got := mgmtCommand(mgmtOpSetBREDR, 1, []byte{0})
	want := []byte{0x2a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00}
	if !bytes.Equal(got, want) {
		t.Errorf("mgmtCommand = % x, want % x", got, want)
	}
}

func TestMgmtReply(t *testing.T) {
	complete := []byte{0x01, 0x00, 0x01, 0x00, 0x07, 0x00, 0x2a, 0x00, 0x00, 0x81, 0x00, 0x00, 0x00}
	tests := []struct {
		name   string
		ev     []byte
		ok     bool
		status byte
		params []byte
	}{
		{"complete", complete, true, 0, []byte{0x81, 0, 0, 0}},
		{"status", []byte{0x02, 0x00, 0x01, 0x00, 0x03, 0x00, 0x2a, 0x00, 0x14}, true, 0x14, []byte{}},
		{"other opcode", []byte{0x01, 0x00, 0x01, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00}, false, 0, nil},
		{"other index", []byte{0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x2a, 0x00, 0x00}, false, 0, nil},
		{"other event", []byte{0x06, 0x00, 0x01, 0x00, 0x04, 0x00, 0x81, 0, 0, 0}, false, 0, nil},
		{"truncated", complete[:8], false, 0, nil},
		{"short header", []byte{1, 0}, false, 0, nil},
	}
	for _, tt := range tests {
		status, params, ok := mgmtReply(tt.ev, mgmtOpSetBREDR, 1)
		if ok != tt.ok || status != tt.status || (ok && !bytes.Equal(params, tt.params)) {
			t.Errorf("%s: mgmtReply = %#x % x %v, want %#x % x %v", tt.name, status, params, ok, tt.status, tt.params, tt.ok)
		}
	}
}

func TestMgmtSettings(t *testing.T) {
	info := make([]byte, 280)
	info[9], info[13] = 0x81, 0x01 // supported: powered+BR/EDR; current: powered
	sup, cur, err := mgmtSettings(info)
	if err != nil || sup != 0x81 || cur != 0x01 {
		t.Errorf("mgmtSettings = %#x %#x %v", sup, cur, err)
	}
	if _, _, err := mgmtSettings(info[:10]); err == nil {
		t.Errorf("short info: no error")
	}
}

func TestMgmtErrorAndIndex(t *testing.T) {
	if !errors.Is(mgmtError{mgmtOpSetBREDR, mgmtStatusPermissionDenied}, ErrPermissionDenied) {
		t.Errorf("permission denied status does not match ErrPermissionDenied")
	}
	if !errors.Is(mgmtError{mgmtOpSetBREDR, mgmtStatusNotSupported}, ErrNotSupported) {
		t.Errorf("not supported status does not match ErrNotSupported")
	}
	for name, want := range map[string]int{"hci0": 0, "hci12": 12, "wlan0": -1, "hci": -1, "hcix": -1} {
		idx, err := controllerIndex(name)
		if want < 0 && err == nil || want >= 0 && (err != nil || int(idx) != want) {
			t.Errorf("controllerIndex(%q) = %d, %v", name, idx, err)
		}
	}
}

func TestMgmtAddress(t *testing.T) {
	tests := []struct {
		addr, typ string
		want      []byte
		ok        bool
	}{
		{"00:AA:01:01:00:01", "public", []byte{0x01, 0x00, 0x01, 0x01, 0xaa, 0x00, 1}, true},
		{"c0:ff:ee:00:00:42", "random", []byte{0x42, 0x00, 0x00, 0xee, 0xff, 0xc0, 2}, true},
		{"00:AA:01:01:00:01", "", []byte{0x01, 0x00, 0x01, 0x01, 0xaa, 0x00, 1}, true},
		{"00:AA:01:01:00", "public", nil, false},
		{"00:AA:01:01:00:0g", "public", nil, false},
		{"0:AA:01:01:00:011", "public", nil, false},
	}
	for _, tt := range tests {
		got, err := mgmtAddress(tt.addr, tt.typ)
		if (err == nil) != tt.ok || !bytes.Equal(got, tt.want) {
			t.Errorf("mgmtAddress(%q, %q) = % x, %v; want % x", tt.addr, tt.typ, got, err, tt.want)
		}
	}
}
