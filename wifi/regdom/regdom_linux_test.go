//go:build linux

package regdom

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bluenet-project/bluenet/wifi"
)

var nl80211 = genetlink.Family{ID: 0x1c, Version: 1, Name: unix.NL80211_GENL_NAME}

func attrs(t *testing.T, f func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	f(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeKernel answers GET_REG with its current country and applies
// REQ_SET_REG after a few GET_REG polls, as the kernel applies a user hint
// asynchronously.
type fakeKernel struct {
	t       *testing.T
	country string
	pending string
	polls   int
	sets    []string
}

func (k *fakeKernel) serve(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
	switch greq.Header.Command {
	case unix.NL80211_CMD_GET_REG:
		if k.pending != "" {
			if k.polls++; k.polls >= 3 {
				k.country, k.pending = k.pending, ""
			}
		}
		return []genetlink.Message{{Data: attrs(k.t, func(ae *netlink.AttributeEncoder) {
			ae.Uint8(unix.NL80211_ATTR_DFS_REGION, 0)
			ae.String(unix.NL80211_ATTR_REG_ALPHA2, k.country)
		})}}, nil
	case unix.NL80211_CMD_REQ_SET_REG:
		ad, err := netlink.NewAttributeDecoder(greq.Data)
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() == unix.NL80211_ATTR_REG_ALPHA2 {
				k.sets = append(k.sets, ad.String())
				k.pending = ad.String()
			}
		}
		if k.pending == "XX" {
			k.pending = ""
			return nil, genltest.Error(int(unix.EINVAL))
		}
		return []genetlink.Message{{Header: greq.Header}}, nil // the acknowledgement
	}
	return nil, genltest.Error(int(unix.EOPNOTSUPP))
}

func testClient(t *testing.T, fn genltest.Func) *Client {
	t.Helper()
	c, err := newClient(genltest.Dial(genltest.ServeFamily(nl80211, fn)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSetCountryWaitsForTheKernel(t *testing.T) {
	k := &fakeKernel{t: t, country: World}
	c := testClient(t, k.serve)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := c.Country(ctx); err != nil || got != World {
		t.Fatalf("Country = %q, %v; want 00", got, err)
	}
	if err := c.SetCountry(ctx, "de"); err != nil {
		t.Fatalf("SetCountry: %v", err)
	}
	if got, err := c.Country(ctx); err != nil || got != "DE" {
		t.Fatalf("Country = %q, %v; want DE", got, err)
	}
	if !slices.Equal(k.sets, []string{"DE"}) {
		t.Errorf("REQ_SET_REG requests %q, want [DE]", k.sets)
	}
}

func TestSetCountryErrors(t *testing.T) {
	tests := []struct {
		name, code string
		want       error
		wantText   string
	}{
		{"too long", "DEU", ErrInvalid, ""},
		{"digits", "12", ErrInvalid, ""},
		{"empty", "", ErrInvalid, ""},
		{"kernel refuses", "XX", nil, "set country XX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{t: t, country: World}
			c := testClient(t, k.serve)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := c.SetCountry(ctx, tt.code)
			if err == nil {
				t.Fatal("SetCountry succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err %q, want it to contain %q", err, tt.wantText)
			}
			if tt.want != nil && len(k.sets) != 0 {
				t.Errorf("invalid code reached the kernel: %q", k.sets)
			}
		})
	}
}

func TestSetCountryNeverApplied(t *testing.T) {
	c := testClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		if greq.Header.Command == unix.NL80211_CMD_GET_REG {
			return []genetlink.Message{{Data: attrs(t, func(ae *netlink.AttributeEncoder) {
				ae.String(unix.NL80211_ATTR_REG_ALPHA2, World)
			})}}, nil
		}
		return []genetlink.Message{{Header: greq.Header}}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.SetCountry(ctx, "FR")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"00"`) {
		t.Errorf("err %v, want a deadline error naming the country seen", err)
	}
}

func TestParseBands(t *testing.T) {
	band := func(phy uint32, bands ...uint16) genetlink.Message {
		return genetlink.Message{Data: attrs(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(unix.NL80211_ATTR_WIPHY, phy)
			ae.Nested(unix.NL80211_ATTR_WIPHY_BANDS, func(nae *netlink.AttributeEncoder) error {
				for _, b := range bands {
					nae.Nested(b, func(*netlink.AttributeEncoder) error { return nil })
				}
				return nil
			})
		})}
	}
	tests := []struct {
		name string
		msgs []genetlink.Message
		want []wifi.Band
	}{
		{"2.4 only", []genetlink.Message{band(0, unix.NL80211_BAND_2GHZ)}, []wifi.Band{wifi.Band2G4}},
		{"split dump", []genetlink.Message{band(0, unix.NL80211_BAND_2GHZ), band(0, unix.NL80211_BAND_5GHZ), band(0, unix.NL80211_BAND_5GHZ)},
			[]wifi.Band{wifi.Band2G4, wifi.Band5G}},
		{"other phy ignored", []genetlink.Message{band(1, unix.NL80211_BAND_6GHZ), band(0, unix.NL80211_BAND_2GHZ)}, []wifi.Band{wifi.Band2G4}},
		{"60 GHz not a band here", []genetlink.Message{band(0, unix.NL80211_BAND_60GHZ)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBands(tt.msgs, 0)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("parseBands = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestStatusNeedsCountry(t *testing.T) {
	tests := []struct {
		st   Status
		want bool
	}{
		{Status{Country: "00", Bands: []wifi.Band{wifi.Band2G4, wifi.Band5G}}, true},
		{Status{Country: "99", Bands: []wifi.Band{wifi.Band6G}}, true},
		{Status{Country: "DE", Bands: []wifi.Band{wifi.Band2G4, wifi.Band5G}}, false},
		{Status{Country: "00", Bands: []wifi.Band{wifi.Band2G4}}, false},
	}
	for _, tt := range tests {
		if got := tt.st.NeedsCountry(); got != tt.want {
			t.Errorf("%+v.NeedsCountry() = %v, want %v", tt.st, got, tt.want)
		}
	}
}
