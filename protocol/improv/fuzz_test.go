package improv

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParsePacket: any bytes either parse into a packet that encodes back
// to the same bytes, or give an error wrapping ErrInvalidPacket; never a
// panic. The string-list decoders run on the data too. Seeds:
// testdata/fuzz/FuzzParsePacket and the spec's examples below.
func FuzzParsePacket(f *testing.F) {
	f.Add(specWiFiSettings)
	f.Add([]byte{0x02, 0x00, 0x02})
	f.Add([]byte{0x04, 0x00, 0x05})
	f.Add([]byte{0x05, 0x05, 0x04, 'h', 'o', 's', 't', 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		back, err := p.Encode()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip: % x -> % x (%v)", b, back, err)
		}
		if ss, err := DecodeStrings(p.Data); err == nil {
			again, err := EncodeStrings(ss...)
			if err != nil || !bytes.Equal(again, p.Data) {
				t.Fatalf("strings round trip: % x -> % x (%v)", p.Data, again, err)
			}
			if len(ss)%3 == 0 {
				ParseScanResult(ss)
			}
			ParseDeviceInfo(ss)
		} else if !errors.Is(err, ErrInvalidPacket) {
			t.Fatalf("strings error %v", err)
		}
		if w, err := ParseWiFiSettings(p.Data); err == nil {
			enc, err := EncodeWiFiSettings(w.SSID, w.Password)
			if err != nil || !bytes.Equal(enc[2:len(enc)-1], p.Data) {
				t.Fatalf("Wi-Fi settings round trip: % x (%v)", enc, err)
			}
		}
		ParseNameArgument(p.Data)
	})
}

// FuzzAssembler: the input is cut into writes (the first byte of each
// piece says how long it is and, odd, that it is a long-write piece at the
// next offset); whatever comes out is a valid packet or an invalid-packet
// error, the buffer stays bounded, and no packet is ever returned that
// ParsePacket would reject. Seeds: testdata/fuzz/FuzzAssembler.
func FuzzAssembler(f *testing.F) {
	f.Add(append([]byte{byte(len(specWiFiSettings) << 1)}, specWiFiSettings...))
	f.Add(append(append([]byte{20 << 1}, specWiFiSettings[:20]...), append([]byte{byte(len(specWiFiSettings)-20)<<1 | 1}, specWiFiSettings[20:]...)...))
	f.Add([]byte{3 << 1, 0x02, 0x00, 0x02, 3 << 1, 0x02, 0x00, 0x09})
	f.Fuzz(func(t *testing.T, in []byte) {
		var a Assembler
		offset := 0
		for len(in) > 0 {
			ctl := in[0]
			in = in[1:]
			n := min(int(ctl>>1), len(in))
			piece := in[:n]
			in = in[n:]
			off := 0
			if ctl&1 == 1 {
				off = offset
			}
			p, done, err := a.Write(off, piece)
			offset = off + len(piece)
			if a.Pending() > MaxPacketLen {
				t.Fatalf("buffer grew to %d", a.Pending())
			}
			if err != nil {
				if done || !errors.Is(err, ErrInvalidPacket) || a.Pending() != 0 {
					t.Fatalf("error %v with done=%v pending=%d", err, done, a.Pending())
				}
				continue
			}
			if done {
				b, err := p.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ParsePacket(b); err != nil {
					t.Fatalf("assembled packet does not parse: %v", err)
				}
				if a.Pending() != 0 {
					t.Fatal("bytes left after a packet")
				}
			}
		}
	})
}
