package bluenet

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func detailsSample() []NetworkDetails {
	return []NetworkDetails{
		{SSID: []byte("home"), RSSI: -40, Security: SecurityWPA2, Band: Band5G, Current: true},
		{SSID: []byte(strings.Repeat("L", 32)), RSSI: -67, Security: SecurityEnterprise, Band: Band2G4},
		{SSID: []byte{}, RSSI: 0, Security: SecurityOpen, Band: BandUnknown},
		{SSID: []byte("seventeen-bytes!!"), RSSI: -90, Security: SecurityWPA3, Band: Band6G},
		{SSID: []byte("eighteen-bytes!!!!"), RSSI: -128, Security: SecurityWEP, Band: Band2G4},
		{SSID: []byte{0xff, 0x00, 0x80}, RSSI: 127, Security: SecurityOWE, Band: Band5G},
		{SSID: []byte("old"), RSSI: -75, Security: SecurityWPA, Band: Band2G4},
	}
}

func TestDetailsEntryBytes(t *testing.T) {
	got := EncodeDetails([]NetworkDetails{{SSID: []byte("ab"), RSSI: -60, Security: SecurityWPA2, Band: Band5G, Current: true}})
	want := []byte{4, 0x63, 0xc4, 'a', 'b'} // length, info (current | 5 GHz | WPA2), -60 dBm, SSID
	if !bytes.Equal(got, want) {
		t.Errorf("EncodeDetails = % x, want % x", got, want)
	}
	n := DetailsNotifications([]NetworkDetails{{SSID: []byte("ab"), RSSI: -60, Security: SecurityWPA2, Band: Band5G}}, 20)
	if len(n) != 1 || !bytes.Equal(n[0], []byte{0x20, 0x23, 0xc4, 'a', 'b'}) {
		t.Errorf("notification % x, want 20 23 c4 61 62", n)
	}
}

func TestDetailsReadRoundTrip(t *testing.T) {
	nets := detailsSample()
	got, err := ParseDetails(EncodeDetails(nets))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nets) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, nets)
	}
}

func TestDetailsReadLimit(t *testing.T) {
	var nets []NetworkDetails
	for i := 0; i < 40; i++ {
		nets = append(nets, NetworkDetails{SSID: []byte(fmt.Sprintf("%-32d", i)), RSSI: -50})
	}
	b := EncodeDetails(nets)
	got, err := ParseDetails(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > DetailsReadMax || len(got) != DetailsReadMax/35 {
		t.Errorf("%d bytes, %d entries; want at most %d bytes, %d whole entries", len(b), len(got), DetailsReadMax, DetailsReadMax/35)
	}
}

func TestDetailsNotificationsRoundTrip(t *testing.T) {
	nets := detailsSample()
	for _, mtu := range []int{23, 24, 37, 38, 185, 247, 517} {
		t.Run(fmt.Sprint("mtu", mtu), func(t *testing.T) {
			payload := mtu - 3
			ns := DetailsNotifications(nets, payload)
			for _, n := range ns {
				if len(n) > payload {
					t.Fatalf("notification of %d bytes over the payload %d", len(n), payload)
				}
			}
			switch {
			case mtu >= 38 && len(ns) != len(nets):
				t.Errorf("%d notifications for %d networks at MTU %d, want one each", len(ns), len(nets), mtu)
			case mtu == 23 && len(ns) != len(nets)+2: // the 32- and 18-byte SSIDs take two
				t.Errorf("%d notifications at MTU 23, want %d", len(ns), len(nets)+2)
			}
			var r DetailsRound
			for round := 0; round < 2; round++ { // rounds follow each other
				for i, n := range ns {
					got, done, err := r.Add(n)
					if err != nil {
						t.Fatalf("Add %d: %v", i, err)
					}
					if done != (i == len(ns)-1) {
						t.Fatalf("done %v at notification %d of %d", done, i, len(ns))
					}
					if done && !reflect.DeepEqual(got, nets) {
						t.Errorf("round:\n got %+v\nwant %+v", got, nets)
					}
				}
			}
		})
	}
}

func TestDetailsEmptyRound(t *testing.T) {
	ns := DetailsNotifications(nil, 20)
	if len(ns) != 1 || !bytes.Equal(ns[0], []byte{0x20}) {
		t.Fatalf("empty round % x, want 20", ns)
	}
	var r DetailsRound
	got, done, err := r.Add(ns[0])
	if err != nil || !done || got == nil || len(got) != 0 {
		t.Errorf("Add(20) = %v, %v, %v; want an empty done round", got, done, err)
	}
}

// TestDetailsRoundRecovers: a receiver that subscribes mid-round or loses a
// fragment reports it and still gets the next full round.
func TestDetailsRoundRecovers(t *testing.T) {
	nets := detailsSample()
	ns := DetailsNotifications(nets, 20)
	cases := map[string][][]byte{
		"joined mid-round":    ns[3:],
		"lost a continuation": append(append([][]byte{}, ns[:2]...), ns[3:]...),
		"lost a first part":   append(append([][]byte{}, ns[:1]...), ns[2:]...),
		"lost an entry":       append(append([][]byte{}, ns[:4]...), ns[5:]...),
	}
	for name, first := range cases {
		t.Run(name, func(t *testing.T) {
			var r DetailsRound
			var errs int
			for _, n := range first {
				if _, done, err := r.Add(n); err != nil {
					errs++
				} else if done {
					t.Fatalf("a damaged round completed")
				}
			}
			if errs == 0 && name != "joined mid-round" {
				t.Errorf("damage not reported")
			}
			var got []NetworkDetails
			for _, n := range ns {
				g, done, err := r.Add(n)
				if err != nil {
					t.Fatalf("next round: %v", err)
				}
				if done {
					got = g
				}
			}
			if !reflect.DeepEqual(got, nets) {
				t.Errorf("next round:\n got %+v\nwant %+v", got, nets)
			}
		})
	}
}

func TestParseDetailsMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{5, 0x03, 0xc4},                         // length past the end
		{1, 0x03},                               // entry shorter than 2 bytes
		append([]byte{35}, make([]byte, 35)...), // SSID of 33 bytes
	} {
		if _, err := ParseDetails(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseDetails(% x) = %v, want ErrMalformed", b, err)
		}
	}
	var r DetailsRound
	if _, _, err := r.Add(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Add(empty) = %v, want ErrMalformed", err)
	}
	if _, _, err := r.Add([]byte{0x20, 0x03}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Add(1-byte entry) = %v, want ErrMalformed", err)
	}
}
