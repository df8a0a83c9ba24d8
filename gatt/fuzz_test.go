package gatt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// FuzzSliceRead checks long reads by offset: the slice starts at the offset,
// is at most 512 bytes (the ATT maximum), and an offset past the end is
// InvalidOffset. (The long-write assembly is FuzzWritePath.)
func FuzzSliceRead(f *testing.F) {
	f.Add([]byte("hello"), uint16(0))
	f.Add([]byte("hello"), uint16(5))
	f.Add([]byte("hello"), uint16(6))
	f.Add(bytes.Repeat([]byte{7}, 600), uint16(22))
	f.Fuzz(func(t *testing.T, v []byte, off uint16) {
		got, err := sliceRead(v, off)
		if int(off) > len(v) {
			if !errors.Is(err, ErrInvalidOffset) {
				t.Fatalf("offset %d past %d bytes: %v", off, len(v), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("offset %d of %d bytes: %v", off, len(v), err)
		}
		want := v[off:]
		if len(want) > maxValueLen {
			want = want[:maxValueLen]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("sliceRead(%d bytes, %d) = %d bytes, want %d", len(v), off, len(got), len(want))
		}
	})
}

// FuzzAssemble checks one step of a long write: the value keeps prev up to
// the offset and then holds the chunk; an offset past prev is InvalidOffset
// and a value over 512 bytes InvalidValueLength; prev is never changed.
func FuzzAssemble(f *testing.F) {
	f.Add([]byte("abc"), uint16(0), []byte("xyz"))
	f.Add([]byte("abc"), uint16(3), []byte("def"))
	f.Add([]byte("abc"), uint16(4), []byte("d"))
	f.Add(bytes.Repeat([]byte{1}, 510), uint16(510), []byte("toolong"))
	f.Fuzz(func(t *testing.T, prev []byte, off uint16, chunk []byte) {
		keep := bytes.Clone(prev)
		got, err := assemble(prev, off, chunk)
		if !bytes.Equal(prev, keep) {
			t.Fatal("assemble changed prev")
		}
		switch {
		case off != 0 && int(off) > len(prev):
			if !errors.Is(err, ErrInvalidOffset) {
				t.Fatalf("offset %d past %d bytes: %v", off, len(prev), err)
			}
		case int(off)+len(chunk) > maxValueLen:
			if !errors.Is(err, ErrInvalidValueLength) {
				t.Fatalf("%d bytes: %v", int(off)+len(chunk), err)
			}
		default:
			want := append(append([]byte{}, prev[:off]...), chunk...)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("assemble = %x, %v; want %x", got, err, want)
			}
			if len(got) > 0 && len(chunk) > 0 && &got[len(got)-1] == &chunk[len(chunk)-1] {
				t.Fatal("assemble aliases the chunk")
			}
		}
	})
}

// FuzzParseOptions feeds the option maps BlueZ sends with ReadValue and
// WriteValue, with the right or a wrong type for each key (kinds picks, two
// bits a key). It never panics; a mistyped option is left at its zero
// value; the address is "" or a canonical XX:XX:XX:XX:XX:XX taken from the
// device path.
func FuzzParseOptions(f *testing.F) {
	f.Add("/org/bluez/hci0/dev_00_AA_01_01_00_01", uint16(0), uint16(23), "LE", "request", uint16(0))
	f.Add("/org/bluez/hci0/dev_aa_bb_cc_dd_ee_ff", uint16(22), uint16(517), "BR/EDR", "command", uint16(0))
	f.Add("/org/bluez/hci0/dev_00_AA_01_01_00_0", uint16(1), uint16(0), "", "reliable", uint16(0x5555))
	f.Add("dev_00:AA:01:01:00:01", uint16(0xffff), uint16(0xffff), "x", "", uint16(0xaaaa))
	f.Fuzz(func(t *testing.T, device string, offset, mtu uint16, link, typ string, kinds uint16) {
		opts := map[string]dbus.Variant{}
		put := func(i int, key string, right any, wrong any) {
			switch (kinds >> (2 * i)) & 3 {
			case 0:
				opts[key] = dbus.MakeVariant(right)
			case 1:
				opts[key] = dbus.MakeVariant(wrong)
			case 2: // absent
			case 3:
				opts[key] = dbus.MakeVariant([]byte(link))
			}
		}
		put(0, "device", dbus.ObjectPath(device), device)
		put(1, "offset", offset, uint32(offset))
		put(2, "mtu", mtu, int16(mtu))
		put(3, "link", link, []string{link})
		put(4, "type", typ, uint8(len(typ)))
		put(5, "prepare-authorize", true, "true")
		r := parseOptions(opts)
		right := func(i int) bool { return (kinds>>(2*i))&3 == 0 }
		if right(1) != (r.Offset == offset) && offset != 0 {
			t.Errorf("offset %d (kind %d) parsed as %d", offset, (kinds>>2)&3, r.Offset)
		}
		if right(2) != (r.MTU == mtu) && mtu != 0 {
			t.Errorf("mtu %d parsed as %d", mtu, r.MTU)
		}
		if (right(3) && r.Link != link) || (!right(3) && r.Link != "") {
			t.Errorf("link %q parsed as %q", link, r.Link)
		}
		if r.PrepareAuthorize != right(5) {
			t.Errorf("prepare-authorize parsed as %v", r.PrepareAuthorize)
		}
		if !right(0) && (r.Device != "" || r.Address != "") {
			t.Errorf("mistyped device parsed as %q %q", r.Device, r.Address)
		}
		if a := r.Address; a != "" {
			d := string(r.Device)
			if len(a) != 17 || a != strings.ToUpper(a) || len(d) < 17 ||
				!strings.EqualFold(d[len(d)-17:], strings.ReplaceAll(a, ":", "_")) {
				t.Errorf("address %q from device %q", a, d)
			}
			for i := range len(a) {
				if (i%3 == 2) != (a[i] == ':') {
					t.Errorf("address %q is not XX:XX:XX:XX:XX:XX", a)
				}
			}
		}
		switch {
		case right(4) && typ == "command":
			if r.Type != WriteTypeCommand {
				t.Errorf("type command parsed as %v", r.Type)
			}
		case right(4) && typ == "reliable":
			if r.Type != WriteTypeReliable {
				t.Errorf("type reliable parsed as %v", r.Type)
			}
		default:
			if r.Type != WriteTypeRequest {
				t.Errorf("type %q (kind %d) parsed as %v", typ, (kinds>>8)&3, r.Type)
			}
		}
	})
}
