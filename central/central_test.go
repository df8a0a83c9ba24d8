package central

import "testing"

func TestScanFilterMatch(t *testing.T) {
	adv := Advertisement{Address: "00:AA:01:00:00:00", UUIDs: []UUID{UUID16(0x180f)}}
	tests := []struct {
		name string
		f    ScanFilter
		want bool
	}{
		{"zero", ScanFilter{}, true},
		{"address any case", ScanFilter{Address: "00:aa:01:00:00:00"}, true},
		{"other address", ScanFilter{Address: "00:AA:01:01:00:01"}, false},
		{"short uuid", ScanFilter{UUIDs: []UUID{MustParseUUID("180F")}}, true},
		{"missing uuid", ScanFilter{UUIDs: []UUID{UUID16(0x180d)}}, false},
		{"one of", ScanFilter{UUIDs: []UUID{UUID16(0x180d), UUID16(0x180f)}}, true},
	}
	for _, tt := range tests {
		if got := tt.f.match(adv); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
