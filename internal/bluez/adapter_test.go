package bluez

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

func adapterObjects(adapters map[dbus.ObjectPath]string) Objects {
	objs := Objects{
		"/org/bluez": {"org.bluez.AgentManager1": {}},
		// A device is not an adapter, even under one.
		"/org/bluez/hci0/dev_00_AA_01_01_00_01": {Device1: {"Address": dbus.MakeVariant("00:AA:01:01:00:01")}},
	}
	for p, addr := range adapters {
		objs[p] = map[string]map[string]dbus.Variant{Adapter1: {"Address": dbus.MakeVariant(addr)}}
	}
	return objs
}

func TestSelectAdapter(t *testing.T) {
	objs := adapterObjects(map[dbus.ObjectPath]string{
		"/org/bluez/hci10": "00:AA:10:00:00:00",
		"/org/bluez/hci2":  "00:AA:02:00:00:00",
		"/org/bluez/hci1":  "00:AA:01:00:00:00",
	})
	tests := []struct {
		name     string
		objs     Objects
		selector string
		want     dbus.ObjectPath // "" = not found
	}{
		{"first is hci1, not hci10", objs, "", "/org/bluez/hci1"},
		{"by name", objs, "hci2", "/org/bluez/hci2"},
		{"by two-digit name", objs, "hci10", "/org/bluez/hci10"},
		{"by address", objs, "00:AA:10:00:00:00", "/org/bluez/hci10"},
		{"by address in lower case", objs, "00:aa:02:00:00:00", "/org/bluez/hci2"},
		{"by path", objs, "/org/bluez/hci2", "/org/bluez/hci2"},
		{"name not found", objs, "hci3", ""},
		{"no prefix match", objs, "hci", ""},
		{"no suffix match", objs, "ci1", ""},
		{"address not found", objs, "00:AA:03:00:00:00", ""},
		{"path not found", objs, "/org/bluez/hci3", ""},
		{"path of a device", objs, "/org/bluez/hci0/dev_00_AA_01_01_00_01", ""},
		{"no adapters", adapterObjects(nil), "", ""},
		{"no adapters, by name", adapterObjects(nil), "hci0", ""},
	}
	for _, tt := range tests {
		a, ok := SelectAdapter(tt.objs, tt.selector)
		if ok != (tt.want != "") || a.Path != tt.want {
			t.Errorf("%s: SelectAdapter(%q) = %q, %v; want %q", tt.name, tt.selector, a.Path, ok, tt.want)
		}
		if ok && a.Address != tt.objs[a.Path][Adapter1]["Address"].Value() {
			t.Errorf("%s: address %q", tt.name, a.Address)
		}
	}
}

func TestAdaptersOrder(t *testing.T) {
	objs := adapterObjects(map[dbus.ObjectPath]string{
		"/org/bluez/hci10": "", "/org/bluez/hci2": "", "/org/bluez/hci0": "", "/org/bluez/hci1": "", "/org/bluez/hci100": "",
	})
	var got []string
	for _, a := range Adapters(objs) {
		got = append(got, a.Name())
	}
	want := []string{"hci0", "hci1", "hci2", "hci10", "hci100"}
	if len(got) != len(want) {
		t.Fatalf("Adapters = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Adapters = %v, want %v", got, want)
		}
	}
}

func TestAdapterLess(t *testing.T) {
	tests := []struct {
		a, b dbus.ObjectPath
		want bool
	}{
		{"/org/bluez/hci2", "/org/bluez/hci10", true},
		{"/org/bluez/hci10", "/org/bluez/hci2", false},
		{"/org/bluez/hci0", "/org/bluez/hci1", true},
		{"/org/bluez/hci1", "/org/bluez/hci1", false},
		{"/org/bluez/abc", "/org/bluez/hci0", true}, // no common prefix: as strings
		{"/org/bluez/hci", "/org/bluez/hci0", true},
		{"/org/bluez/hci01", "/org/bluez/hci1", true}, // same number: as strings
	}
	for _, tt := range tests {
		if got := AdapterLess(tt.a, tt.b); got != tt.want {
			t.Errorf("AdapterLess(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	if p := DevicePath("/org/bluez/hci1", "00:aa:01:01:00:0f"); p != "/org/bluez/hci1/dev_00_AA_01_01_00_0F" {
		t.Errorf("DevicePath = %s", p)
	}
	tests := []struct {
		p    dbus.ObjectPath
		want string
	}{
		{"/org/bluez/hci0/dev_00_AA_01_01_00_0f", "00:AA:01:01:00:0F"},
		{"/org/bluez/hci0", ""},
		{"/org/bluez/hci0/dev_00_AA_01_01_00_01/service000a", ""},
		{"/org/bluez/hci0/dev_00_AA_01_01_00", ""},
		{"/org/bluez/hci0/dev_00-AA-01-01-00-01", ""},
		{"/org/bluez/hci0/dev_00_AA_01_01_00_0g", ""},
	}
	for _, tt := range tests {
		if got := AddressFromPath(tt.p); got != tt.want {
			t.Errorf("AddressFromPath(%s) = %q, want %q", tt.p, got, tt.want)
		}
	}
	if !Under("/org/bluez/hci0/dev_X", "/org/bluez/hci0") || Under("/org/bluez/hci01", "/org/bluez/hci0") ||
		Under("/org/bluez/hci0", "/org/bluez/hci0") || Under("/x", "") {
		t.Error("Under")
	}
}
