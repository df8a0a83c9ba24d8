package bluez

import "testing"

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"180f", "0000180f-0000-1000-8000-00805f9b34fb", true},
		{"0x2A19", "00002a19-0000-1000-8000-00805f9b34fb", true},
		{"12345678", "12345678-0000-1000-8000-00805f9b34fb", true},
		{"FBE51523-B3E6-4F68-B6DA-410C0BBA1A78", "fbe51523-b3e6-4f68-b6da-410c0bba1a78", true},
		{"fbe51523b3e64f68b6da410c0bba1a78", "", false},
		{"fbe51523-b3e6-4f68-b6da-410c0bba1a7g", "", false},
		{"fbe51523_b3e6-4f68-b6da-410c0bba1a78", "", false},
		{"", "", false},
		{"18f", "", false},
		{"0x18f", "", false},
	}
	for _, tt := range tests {
		u, err := ParseUUID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseUUID(%q) error %v", tt.in, err)
			continue
		}
		if tt.ok && u.String() != tt.want {
			t.Errorf("ParseUUID(%q) = %s, want %s", tt.in, u, tt.want)
		}
	}
}

func TestUUIDWidth(t *testing.T) {
	tests := []struct {
		u        UUID
		is16     bool
		v16      uint16
		is32     bool
		v32      uint32
		zero     bool
		wantText string
	}{
		{UUID16(0x2901), true, 0x2901, true, 0x2901, false, "00002901-0000-1000-8000-00805f9b34fb"},
		{UUID32(0x12345678), false, 0, true, 0x12345678, false, "12345678-0000-1000-8000-00805f9b34fb"},
		{MustParseUUID("fbe51523-b3e6-4f68-b6da-410c0bba1a78"), false, 0, false, 0, false, "fbe51523-b3e6-4f68-b6da-410c0bba1a78"},
		{UUID{}, false, 0, false, 0, true, "00000000-0000-0000-0000-000000000000"},
	}
	for _, tt := range tests {
		v16, ok16 := tt.u.Is16Bit()
		v32, ok32 := tt.u.Is32Bit()
		if ok16 != tt.is16 || v16 != tt.v16 || ok32 != tt.is32 || v32 != tt.v32 || tt.u.IsZero() != tt.zero {
			t.Errorf("%s: Is16Bit %x %v, Is32Bit %x %v, IsZero %v", tt.u, v16, ok16, v32, ok32, tt.u.IsZero())
		}
		if tt.u.String() != tt.wantText {
			t.Errorf("String = %s, want %s", tt.u, tt.wantText)
		}
	}
}
