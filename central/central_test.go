package central

import "testing"

func TestFullUUID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"180f", "0000180f-0000-1000-8000-00805f9b34fb"},
		{"0x2A19", "00002a19-0000-1000-8000-00805f9b34fb"},
		{"0000FFFF", "0000ffff-0000-1000-8000-00805f9b34fb"},
		{"FBE51523-B3E6-4F68-B6DA-410C0BBA1A78", "fbe51523-b3e6-4f68-b6da-410c0bba1a78"},
	}
	for _, tt := range tests {
		if got := fullUUID(tt.in); got != tt.want {
			t.Errorf("fullUUID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScanFilterMatch(t *testing.T) {
	adv := Advertisement{Address: "00:AA:01:00:00:00", UUIDs: []string{"0000180f-0000-1000-8000-00805f9b34fb"}}
	tests := []struct {
		name string
		f    ScanFilter
		want bool
	}{
		{"zero", ScanFilter{}, true},
		{"address any case", ScanFilter{Address: "00:aa:01:00:00:00"}, true},
		{"other address", ScanFilter{Address: "00:AA:01:01:00:01"}, false},
		{"short uuid", ScanFilter{UUIDs: []string{"180F"}}, true},
		{"missing uuid", ScanFilter{UUIDs: []string{"180d"}}, false},
		{"one of", ScanFilter{UUIDs: []string{"180d", "180f"}}, true},
	}
	for _, tt := range tests {
		if got := tt.f.match(adv); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
