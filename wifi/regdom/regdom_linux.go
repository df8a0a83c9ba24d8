//go:build linux

package regdom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bluenet-project/bluenet/wifi"
)

// Client talks nl80211 over a generic netlink socket. It is not safe for
// concurrent use; Close it when done.
type Client struct {
	c      *genetlink.Conn
	family genetlink.Family
}

// Dial opens a generic netlink socket and looks up the nl80211 family. It
// fails when the kernel has no cfg80211 (no Wi-Fi support).
func Dial() (*Client, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("regdom: dial generic netlink: %w", err)
	}
	cl, err := newClient(c)
	if err != nil {
		_ = c.Close() // don't leak the socket
		return nil, err
	}
	return cl, nil
}

func newClient(c *genetlink.Conn) (*Client, error) {
	f, err := c.GetFamily(unix.NL80211_GENL_NAME)
	if err != nil {
		return nil, fmt.Errorf("regdom: nl80211 family: %w", err)
	}
	return &Client{c: c, family: f}, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) execute(ctx context.Context, cmd uint8, flags netlink.HeaderFlags, ae *netlink.AttributeEncoder) ([]genetlink.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl) // best effort: test sockets have no deadlines
		defer func() { _ = c.c.SetDeadline(time.Time{}) }()
	}
	var data []byte
	if ae != nil {
		b, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		data = b
	}
	return c.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: c.family.Version},
		Data:   data,
	}, c.family.ID, flags)
}

// Country returns the global regulatory domain's alpha2 (NL80211_CMD_GET_REG),
// World ("00") when no country is set.
func (c *Client) Country(ctx context.Context) (string, error) {
	msgs, err := c.execute(ctx, unix.NL80211_CMD_GET_REG, netlink.Request, nil)
	if err != nil {
		return "", fmt.Errorf("regdom: get regulatory domain: %w", err)
	}
	return parseAlpha2(msgs)
}

// parseAlpha2 returns the NL80211_ATTR_REG_ALPHA2 of a GET_REG reply.
func parseAlpha2(msgs []genetlink.Message) (string, error) {
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return "", fmt.Errorf("regdom: decode reply: %w", err)
		}
		for ad.Next() {
			if ad.Type() == unix.NL80211_ATTR_REG_ALPHA2 {
				return ad.String(), nil
			}
		}
		if err := ad.Err(); err != nil {
			return "", fmt.Errorf("regdom: decode reply: %w", err)
		}
	}
	return "", errors.New("regdom: reply has no country")
}

// SetCountry asks the kernel to apply country's rules (a user hint,
// NL80211_CMD_REQ_SET_REG, which needs CAP_NET_ADMIN) and waits until
// GET_REG reports it, at most until ctx is done (10 s when ctx has no
// deadline). The kernel reads the rules from wireless-regdb's
// /lib/firmware/regulatory.db; without it the request never completes.
// The setting lasts until reboot.
func (c *Client) SetCountry(ctx context.Context, country string) error {
	country, err := NormalizeCountry(country)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NL80211_ATTR_REG_ALPHA2, country)
	if _, err := c.execute(ctx, unix.NL80211_CMD_REQ_SET_REG, netlink.Request|netlink.Acknowledge, ae); err != nil {
		return fmt.Errorf("regdom: set country %s: %w", country, err)
	}
	var last string
	for {
		cur, err := c.Country(ctx)
		if err == nil && cur == country {
			return nil
		}
		if err == nil {
			last = cur
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("regdom: set country %s: the kernel still reports %q (is wireless-regdb installed?): %w",
				country, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Bands returns the bands the radio (wiphy) of the network interface iface
// supports.
func (c *Client) Bands(ctx context.Context, iface string) ([]wifi.Band, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("regdom: %w", err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.NL80211_ATTR_IFINDEX, uint32(ifi.Index))
	msgs, err := c.execute(ctx, unix.NL80211_CMD_GET_INTERFACE, netlink.Request, ae)
	if err != nil {
		return nil, fmt.Errorf("regdom: %s: get interface: %w", iface, err)
	}
	phy, ok, err := parseWiphy(msgs)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("regdom: %s is not a Wi-Fi interface", iface)
	}
	ae = netlink.NewAttributeEncoder()
	ae.Uint32(unix.NL80211_ATTR_WIPHY, phy)
	ae.Flag(unix.NL80211_ATTR_SPLIT_WIPHY_DUMP, true)
	msgs, err = c.execute(ctx, unix.NL80211_CMD_GET_WIPHY, netlink.Request|netlink.Dump, ae)
	if err != nil {
		return nil, fmt.Errorf("regdom: %s: get wiphy %d: %w", iface, phy, err)
	}
	return parseBands(msgs, phy)
}

// parseWiphy returns the NL80211_ATTR_WIPHY of a GET_INTERFACE reply.
func parseWiphy(msgs []genetlink.Message) (uint32, bool, error) {
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return 0, false, fmt.Errorf("regdom: decode reply: %w", err)
		}
		for ad.Next() {
			if ad.Type() == unix.NL80211_ATTR_WIPHY {
				return ad.Uint32(), true, nil
			}
		}
		if err := ad.Err(); err != nil {
			return 0, false, fmt.Errorf("regdom: decode reply: %w", err)
		}
	}
	return 0, false, nil
}

// parseBands collects the bands (NL80211_ATTR_WIPHY_BANDS, one nested
// attribute per enum nl80211_band) of wiphy phy from a (split) GET_WIPHY
// dump.
func parseBands(msgs []genetlink.Message, phy uint32) ([]wifi.Band, error) {
	var out []wifi.Band
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, fmt.Errorf("regdom: decode wiphy: %w", err)
		}
		var idx uint32
		var bands []wifi.Band
		for ad.Next() {
			switch ad.Type() {
			case unix.NL80211_ATTR_WIPHY:
				idx = ad.Uint32()
			case unix.NL80211_ATTR_WIPHY_BANDS:
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						switch nad.Type() {
						case unix.NL80211_BAND_2GHZ:
							bands = append(bands, wifi.Band2G4)
						case unix.NL80211_BAND_5GHZ:
							bands = append(bands, wifi.Band5G)
						case unix.NL80211_BAND_6GHZ:
							bands = append(bands, wifi.Band6G)
						}
					}
					return nil
				})
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("regdom: decode wiphy: %w", err)
		}
		if idx != phy {
			continue
		}
		for _, b := range bands {
			if !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
