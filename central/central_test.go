package central

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

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

func TestAdvertisement(t *testing.T) {
	a := advertisement("/org/bluez/hci1/dev_00_AA_01_00_00_00", map[string]dbus.Variant{
		"Address": dbus.MakeVariant("00:AA:01:00:00:00"),
		"Name":    dbus.MakeVariant("dev"),
		"RSSI":    dbus.MakeVariant(int16(-40)),
		"UUIDs":   dbus.MakeVariant([]string{"0000180F-0000-1000-8000-00805F9B34FB", "not a uuid"}),
		"ServiceData": dbus.MakeVariant(map[string]dbus.Variant{
			"00004677-0000-1000-8000-00805f9b34fb": dbus.MakeVariant([]byte{1, 2}),
			"bad":                                  dbus.MakeVariant([]byte{3}),
			"0000180d-0000-1000-8000-00805f9b34fb": dbus.MakeVariant("not bytes"),
		}),
	})
	if a.Address != "00:AA:01:00:00:00" || a.Name != "dev" || a.RSSI != -40 {
		t.Errorf("advertisement %+v", a)
	}
	if len(a.UUIDs) != 1 || a.UUIDs[0] != UUID16(0x180f) {
		t.Errorf("UUIDs %v, want only 180f", a.UUIDs)
	}
	if len(a.ServiceData) != 1 || string(a.ServiceData[UUID16(0x4677)]) != "\x01\x02" {
		t.Errorf("ServiceData %v, want only 4677: 01 02", a.ServiceData)
	}
}
