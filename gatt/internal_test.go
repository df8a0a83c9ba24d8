package gatt

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// TestMethodTables checks that every object's method table holds each of
// its type's D-Bus methods, and that their introspection is what godbus's
// Export of the value would have given.
func TestMethodTables(t *testing.T) {
	for _, tt := range []struct {
		name  string
		obj   any
		table map[string]any
	}{
		{"ObjectManager", objectManager{}, objectManager{}.table()},
		{"GattCharacteristic1", &charObj{}, (&charObj{}).table()},
		{"GattDescriptor1", &descObj{}, (&descObj{}).table()},
		{"LEAdvertisement1", &advObj{}, (&advObj{}).table()},
		{"Agent1", &agentObj{}, (&agentObj{}).table()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := introspect.Methods(tt.obj)
			got := tableMethods(tt.table)
			if len(want) == 0 || len(got) != len(tt.table) {
				t.Fatalf("%d methods of the type, %d described of a table of %d", len(want), len(got), len(tt.table))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("table introspection\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestAdvLen(t *testing.T) {
	for _, tt := range []struct {
		u UUID
		n int
	}{{UUID16(1), 2}, {UUID32(0x12345678), 4}, {MustParseUUID("fbe51523-b3e6-4f68-b6da-410c0bba1a78"), 16}} {
		if got := advLen(tt.u); got != tt.n {
			t.Errorf("%s advLen %d, want %d", tt.u, got, tt.n)
		}
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	all := flagEnd - 1
	ss := all.Strings()
	if len(ss) != len(flagNames) {
		t.Fatalf("%d strings for all flags, want %d", len(ss), len(flagNames))
	}
	back, err := ParseFlags(ss)
	if err != nil || back != all {
		t.Errorf("ParseFlags(Strings(all)) = %v, %v", back, err)
	}
	if _, err := ParseFlag("encrypt-everything"); err == nil {
		t.Error("unknown flag parsed")
	}
	if err := Flags(0).Validate(); !errors.Is(err, ErrInvalidApplication) {
		t.Errorf("empty flags: %v", err)
	}
	if s := (FlagRead | FlagNotify).String(); s != "read|notify" {
		t.Errorf("String = %q", s)
	}
	if !strings.Contains(Flags(1<<31).String(), "0x80000000") {
		t.Errorf("unknown bits not shown: %s", Flags(1<<31))
	}
}

func TestAddressFromPath(t *testing.T) {
	tests := map[dbus.ObjectPath]string{
		"/org/bluez/hci0/dev_00_AA_01_01_00_01": "00:AA:01:01:00:01",
		"/org/bluez/hci0/dev_aa_bb_cc_dd_ee_ff": "AA:BB:CC:DD:EE:FF",
		"/org/bluez/hci0":                       "",
		"/org/bluez/hci0/dev_00_AA_01":          "",
		"/org/bluez/hci0/dev_00:AA:01:01:00:01": "",
		"/org/bluez/hci0/dev_0G_AA_01_01_00_01": "",
	}
	for p, want := range tests {
		if got := AddressFromPath(p); got != want {
			t.Errorf("AddressFromPath(%s) = %q, want %q", p, got, want)
		}
	}
}

func TestParseOptionsIgnoresWrongTypes(t *testing.T) {
	r := parseOptions(map[string]dbus.Variant{
		"device": dbus.MakeVariant("not a path"),
		"offset": dbus.MakeVariant(int32(5)),
		"mtu":    dbus.MakeVariant(uint16(185)),
		"link":   dbus.MakeVariant("LE"),
		"type":   dbus.MakeVariant("reliable"),
	})
	if r.Device != "" || r.Offset != 0 || r.MTU != 185 || r.Link != "LE" || r.Type != WriteTypeReliable {
		t.Errorf("parseOptions = %+v", r)
	}
}

func TestAdvDataLen(t *testing.T) {
	u128 := MustParseUUID("fbe51523-b3e6-4f68-b6da-410c0bba1a78")
	tests := []struct {
		name string
		adv  Advertisement
		want int
	}{
		{"empty", Advertisement{}, 3},
		{"one 128-bit UUID", Advertisement{ServiceUUIDs: []UUID{u128}}, 3 + 18},
		{"two 16-bit UUIDs", Advertisement{ServiceUUIDs: []UUID{UUID16(0x180f), UUID16(0x180d)}}, 3 + 6},
		{"name is in scan response", Advertisement{ServiceUUIDs: []UUID{u128}, LocalName: "a long device name"}, 21},
		{"manufacturer data", Advertisement{ManufacturerData: map[uint16][]byte{1: {1, 2, 3}}}, 3 + 7},
		{"service data", Advertisement{ServiceData: map[UUID][]byte{UUID16(0x180f): {100}}}, 3 + 5},
		{"tx power + appearance", Advertisement{Includes: IncludeTxPower, Appearance: 0x80}, 3 + 3 + 4},
	}
	for _, tt := range tests {
		if got := tt.adv.advDataLen(); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestSliceRead(t *testing.T) {
	v := make([]byte, 600)
	if got, _ := sliceRead(v, 0); len(got) != 512 {
		t.Errorf("read of 600 bytes returned %d, want 512 (ATT maximum)", len(got))
	}
	if got, err := sliceRead(v[:10], 10); err != nil || len(got) != 0 {
		t.Errorf("offset == len: %v, %v", got, err)
	}
	if _, err := sliceRead(v[:10], 11); !errors.Is(err, ErrInvalidOffset) {
		t.Errorf("offset past end: %v", err)
	}
}

// FuzzWritePath drives the server's write path (long-write assembly per
// device, handler, stored value) with arbitrary sequences of writes and
// checks it against a simple model. Each write is encoded as: device
// (1 byte, 0-3), offset (2 bytes big endian), length (1 byte), data.
func FuzzWritePath(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 3, 2, 'd', 'e'})
	f.Add([]byte{1, 0, 0, 2, 'x', 'y', 2, 0, 5, 1, 'z'})
	f.Add([]byte{0, 0xff, 0xff, 0})
	f.Add([]byte{0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Server{
			log:       slog.New(slog.DiscardHandler),
			sessions:  make(map[dbus.ObjectPath]*Session),
			connected: make(map[dbus.ObjectPath]bool),
			early:     make(map[dbus.ObjectPath]bool),
		}
		model := map[dbus.ObjectPath][]byte{}
		var last []byte
		h := func(r *Request, v []byte) error { last = v; return nil }
		for len(data) >= 4 {
			dev := dbus.ObjectPath("/org/bluez/hci0/dev_00_00_00_00_00_0" + string('0'+data[0]%4))
			off := uint16(data[1])<<8 | uint16(data[2])
			n := min(int(data[3]), len(data)-4)
			chunk := data[4 : 4+n]
			data = data[4+n:]
			opts := map[string]dbus.Variant{"device": dbus.MakeVariant(dev), "mtu": dbus.MakeVariant(uint16(23))}
			if off != 0 {
				opts["offset"] = dbus.MakeVariant(off)
			}
			r := parseOptions(opts)
			last = nil
			derr := s.write("/app/service0/char0", &r, chunk, h, nil)
			prev := model[dev]
			switch {
			case int(off) > len(prev) && off != 0:
				if derr == nil || derr.Name != "org.bluez.Error.InvalidOffset" {
					t.Fatalf("offset %d past %d bytes: %v", off, len(prev), derr)
				}
			case int(off)+len(chunk) > maxValueLen:
				if derr == nil || derr.Name != "org.bluez.Error.InvalidValueLength" {
					t.Fatalf("%d bytes: %v", int(off)+len(chunk), derr)
				}
			default:
				if derr != nil {
					t.Fatalf("write %d at %d: %v", len(chunk), off, derr)
				}
				want := append(append([]byte{}, prev[:off]...), chunk...)
				if !bytes.Equal(last, want) {
					t.Fatalf("handler got %x, want %x", last, want)
				}
				model[dev] = want
			}
		}
	})
}

func TestObjectOrder(t *testing.T) {
	svc := func(name string, includes ...int) *service {
		return &service{path: dbus.ObjectPath("/app/" + name), def: Service{Includes: includes}}
	}
	tests := []struct {
		name     string
		services []*service
		want     []string
	}{
		{"no includes: declaration order", []*service{svc("a"), svc("b"), svc("c")}, []string{"a", "b", "c"}},
		{"included first", []*service{svc("a", 1), svc("b")}, []string{"b", "a"}},
		{"chain", []*service{svc("a", 1), svc("b", 2), svc("c")}, []string{"c", "b", "a"}},
		{"shared include once", []*service{svc("a", 2), svc("b", 2), svc("c")}, []string{"c", "a", "b"}},
		{"cycle ends", []*service{svc("a", 1), svc("b", 0)}, []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{services: tt.services}
			// One characteristic with a descriptor on the first service:
			// after all services, in declaration order.
			c := &Char{path: tt.services[0].path + "/char0"}
			c.descs = []*desc{{path: c.path + "/desc0"}}
			tt.services[0].chars = []*Char{c}
			var got []string
			for _, p := range s.objectOrder() {
				got = append(got, strings.TrimPrefix(string(p), "/app/"))
			}
			want := append(append([]string{}, tt.want...), "a/char0", "a/char0/desc0")
			if !slices.Equal(got, want) {
				t.Errorf("objectOrder = %v, want %v", got, want)
			}
		})
	}
}

// TestMapBluezError: bluetoothd's error names become the package's
// sentinels, and an error without a message still says its name.
func TestMapBluezError(t *testing.T) {
	for _, tc := range []struct {
		in       dbus.Error
		is       error
		wantText string
	}{
		{dbus.Error{Name: "org.bluez.Error.Busy", Body: []any{""}}, ErrBusy, "org.bluez.Error.Busy"},
		{dbus.Error{Name: "org.bluez.Error.AlreadyExists", Body: []any{"Already Exists"}}, ErrAlreadyExists, "Already Exists"},
		{dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown", Body: []any{"no org.bluez"}}, ErrBluezNotRunning, "no org.bluez"},
		{dbus.Error{Name: "org.bluez.Error.NotPermitted", Body: []any{"Maximum advertisements reached"}}, ErrAdvertisingSlotsFull, "Maximum"},
		{dbus.Error{Name: "org.bluez.Error.Failed", Body: []any{""}}, nil, "org.bluez.Error.Failed"},
		{dbus.Error{Name: "org.bluez.Error.Failed", Body: []any{"Operation failed"}}, nil, "Operation failed"},
	} {
		err := mapBluezError(tc.in)
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v is not %v", tc.in.Name, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%s: %q does not say %q", tc.in.Name, err, tc.wantText)
		}
		var de dbus.Error
		if tc.is == nil && !errors.As(err, &de) {
			t.Errorf("%s: %v no longer wraps the dbus.Error", tc.in.Name, err)
		}
	}
}
