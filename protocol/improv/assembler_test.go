package improv

import (
	"bytes"
	"errors"
	"testing"
)

type write struct {
	offset int
	value  []byte
}

// step is what one Write must return.
type step struct {
	done bool
	err  error // nil, or the sentinel the error must match
}

func TestAssembler(t *testing.T) {
	spec := specWiFiSettings
	identify := []byte{0x02, 0x00, 0x02}
	badSum := []byte{0x02, 0x00, 0x07}
	tests := []struct {
		name   string
		writes []write
		steps  []step
		last   []byte // the packet the last done step returns
	}{
		{"one write", []write{{0, spec}}, []step{{done: true}}, spec},
		{"20-byte pieces, plain writes (web page, MTU 23)",
			[]write{{0, spec[:20]}, {0, spec[20:]}},
			[]step{{}, {done: true}}, spec},
		{"byte by byte",
			func() []write {
				var w []write
				for i := range identify {
					w = append(w, write{0, identify[i : i+1]})
				}
				return w
			}(),
			[]step{{}, {}, {done: true}}, identify},
		{"long write at offsets",
			[]write{{0, spec[:18]}, {18, spec[18:30]}, {30, spec[30:]}},
			[]step{{}, {}, {done: true}}, spec},
		{"two packets in a row",
			[]write{{0, identify}, {0, spec}},
			[]step{{done: true}, {done: true}}, spec},
		{"bad checksum, then a good packet",
			[]write{{0, badSum}, {0, identify}},
			[]step{{err: ErrChecksum}, {done: true}}, identify},
		{"too many bytes in one write",
			[]write{{0, append(append([]byte(nil), identify...), 0x00)}, {0, identify}},
			[]step{{err: ErrLength}, {done: true}}, identify},
		{"too many bytes over two writes",
			[]write{{0, identify[:2]}, {0, []byte{0x02, 0x09}}, {0, identify}},
			[]step{{}, {err: ErrLength}, {done: true}}, identify},
		{"offset that does not continue",
			[]write{{0, spec[:10]}, {12, spec[12:]}, {0, identify}},
			[]step{{}, {err: ErrLength}, {done: true}}, identify},
		{"rest of a failed long write dropped quietly",
			[]write{{0, []byte{0x02, 0x00, 0x09, 0x01}}, {4, []byte{1, 2, 3}}, {7, []byte{4}}, {0, identify}},
			[]step{{err: ErrLength}, {}, {}, {done: true}}, identify},
		{"negative offset", []write{{-1, identify}}, []step{{err: ErrLength}}, nil},
		{"over the size bound",
			[]write{{0, make([]byte, MaxPacketLen+1)}},
			[]step{{err: ErrLength}}, nil},
		{"empty writes",
			[]write{{0, nil}, {0, identify[:1]}, {0, nil}, {0, identify[1:]}},
			[]step{{}, {}, {}, {done: true}}, identify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			var got []byte
			for i, w := range tt.writes {
				p, done, err := a.Write(w.offset, w.value)
				st := tt.steps[i]
				if done != st.done {
					t.Fatalf("write %d: done = %v, want %v (err %v)", i, done, st.done, err)
				}
				if st.err == nil && err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if st.err != nil {
					if !errors.Is(err, st.err) || CodeOf(err) != ErrorInvalidRPC {
						t.Fatalf("write %d: err = %v, want %v", i, err, st.err)
					}
					if a.Pending() != 0 {
						t.Fatalf("write %d: %d bytes left after an error", i, a.Pending())
					}
				}
				if done {
					got, _ = p.Encode()
					if a.Pending() != 0 {
						t.Fatalf("write %d: %d bytes left after a packet", i, a.Pending())
					}
				}
			}
			if tt.last != nil && !bytes.Equal(got, tt.last) {
				t.Fatalf("packet % x, want % x", got, tt.last)
			}
		})
	}
}

func TestAssemblerReset(t *testing.T) {
	var a Assembler
	a.Write(0, specWiFiSettings[:10])
	if a.Pending() != 10 {
		t.Fatal(a.Pending())
	}
	a.Reset()
	if _, done, err := a.Write(0, []byte{0x03, 0x00, 0x03}); !done || err != nil {
		t.Fatal(done, err)
	}
}

// TestAssemblersIndependent: two centrals' pieces interleaved, each in its
// own Assembler, both come out whole.
func TestAssemblersIndependent(t *testing.T) {
	var a, b Assembler
	other, _ := EncodeWiFiSettings("OtherNet", "otherpassword")
	a.Write(0, specWiFiSettings[:20])
	b.Write(0, other[:20])
	pa, da, ea := a.Write(0, specWiFiSettings[20:])
	pb, db, eb := b.Write(0, other[20:])
	if !da || !db || ea != nil || eb != nil {
		t.Fatal(da, db, ea, eb)
	}
	wa, _ := ParseWiFiSettings(pa.Data)
	wb, _ := ParseWiFiSettings(pb.Data)
	if wa.SSID != "MyWirelessAP" || wb.SSID != "OtherNet" {
		t.Fatal(wa, wb)
	}
}
