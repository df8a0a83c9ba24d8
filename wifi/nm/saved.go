package nm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"
)

// NetworkManager's range of connection.autoconnect-priority.
const minAutoconnectPriority = -999

// SavedNetwork is a Wi-Fi profile Bluenet owns: the current one (named
// Config.ProfileName) or a remembered earlier network.
type SavedNetwork struct {
	// SSID is the network name.
	SSID []byte
	// Name is the profile's connection.id.
	Name string
	// Current reports the profile of the last successful join.
	Current bool
	// Priority is the profile's autoconnect priority: 0 for the current
	// profile, lower (newer higher) for the remembered ones.
	Priority int32
	// KeyMgmt is 802-11-wireless-security.key-mgmt: "" (open), "wpa-psk",
	// "sae" or "wpa-eap".
	KeyMgmt string
	// Path is the profile's NetworkManager object.
	Path dbus.ObjectPath
}

// savedPrefix is the connection.id prefix of remembered profiles.
func (c *Client) savedPrefix() string { return c.cfg.ProfileName + "-saved-" }

// savedName is the connection.id of the remembered profile of ssid: the
// prefix and the SSID with anything but printable ASCII as '?'.
func (c *Client) savedName(ssid []byte) string {
	var b strings.Builder
	b.WriteString(c.savedPrefix())
	for _, ch := range ssid {
		if ch < 0x20 || ch > 0x7e {
			ch = '?'
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// Saved lists the profiles Bluenet owns, the current one first, then the
// remembered ones newest (highest priority) first.
func (c *Client) Saved(ctx context.Context) ([]SavedNetwork, error) {
	var paths []dbus.ObjectPath
	if err := c.call(ctx, settingsPath, ifaceSettings+".ListConnections").Store(&paths); err != nil {
		return nil, fmt.Errorf("nm: list profiles: %w", err)
	}
	var out []SavedNetwork
	for _, p := range paths {
		s, err := c.getSettings(ctx, p)
		if err != nil {
			continue
		}
		id, _ := s["connection"]["id"].Value().(string)
		current := id == c.cfg.ProfileName
		if !current && !strings.HasPrefix(id, c.savedPrefix()) {
			continue
		}
		n := SavedNetwork{Name: id, Current: current, Path: p}
		n.SSID, _ = s["802-11-wireless"]["ssid"].Value().([]byte)
		n.Priority, _ = s["connection"]["autoconnect-priority"].Value().(int32)
		n.KeyMgmt, _ = s["802-11-wireless-security"]["key-mgmt"].Value().(string)
		out = append(out, n)
	}
	sortSaved(out)
	return out, nil
}

// sortSaved orders current profiles first, then by priority, highest first.
func sortSaved(l []SavedNetwork) {
	slices.SortStableFunc(l, func(a, b SavedNetwork) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		case a.Priority != b.Priority:
			if a.Priority > b.Priority {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.SSID, b.SSID)
	})
}

// Forget deletes every profile Bluenet owns for ssid, current or
// remembered, and returns how many it deleted. Deleting the active profile
// disconnects the device.
func (c *Client) Forget(ctx context.Context, ssid []byte) (int, error) {
	l, err := c.Saved(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range l {
		if !bytes.Equal(s.SSID, ssid) {
			continue
		}
		if err := c.call(ctx, s.Path, ifaceConnection+".Delete").Err; err != nil {
			return n, fmt.Errorf("nm: forget %q: %w", ssid, err)
		}
		c.log.Info("forgot network", "ssid", string(ssid), "profile", s.Name)
		n++
	}
	return n, nil
}

// remember runs after a successful join whose profile (keep) now has the
// current name: the previous current profile becomes the newest remembered
// one, profiles of the same SSID as the new one go, the remembered profiles
// get priorities -1, -2, ... newest first, and those beyond Config.Remember
// are deleted.
func (c *Client) remember(ctx context.Context, log *slog.Logger, keep dbus.ObjectPath, ssid []byte) {
	l, err := c.Saved(ctx)
	if err != nil {
		log.Warn("list profiles", "err", err)
		return
	}
	var order []SavedNetwork // remembered, newest first
	var older []SavedNetwork
	for _, s := range l {
		switch {
		case s.Path == keep:
		case bytes.Equal(s.SSID, ssid) || c.cfg.Remember == 0:
			c.deleteProfile(ctx, log, s)
		case s.Current:
			order = append(order, s) // the network used until now
		default:
			older = append(older, s) // already sorted, newest first
		}
	}
	order = append(order, older...)
	for i, s := range order {
		if i >= c.cfg.Remember {
			log.Info("join: forgetting the oldest remembered network", "ssid", string(s.SSID))
			c.deleteProfile(ctx, log, s)
			continue
		}
		prio := max(int32(-1-i), minAutoconnectPriority)
		if !s.Current && s.Priority == prio {
			continue
		}
		if err := c.demote(ctx, s, prio); err != nil {
			log.Warn("join: cannot remember a network; deleting it", "ssid", string(s.SSID), "err", err)
			c.deleteProfile(ctx, log, s)
			continue
		}
		if s.Current {
			log.Info("join: previous network remembered", "ssid", string(s.SSID), "priority", prio)
		}
	}
}

func (c *Client) deleteProfile(ctx context.Context, log *slog.Logger, s SavedNetwork) {
	if err := c.call(ctx, s.Path, ifaceConnection+".Delete").Err; err != nil {
		log.Warn("delete profile", "path", s.Path, "err", err)
	}
}

// demote renames the profile s to its remembered name with autoconnect
// priority prio. NetworkManager's Update2 replaces all settings, so they are
// read back with their secrets; the deprecated address and route lists
// (whose empty a(ayuay) godbus cannot re-encode) are left out, their
// address-data and route-data successors carry the same values.
func (c *Client) demote(ctx context.Context, s SavedNetwork, prio int32) error {
	settings, err := c.getSettings(ctx, s.Path)
	if err != nil {
		return err
	}
	for _, name := range []string{"802-11-wireless-security", "802-1x"} {
		if _, ok := settings[name]; !ok {
			continue
		}
		var secrets settingsMap
		if err := c.call(ctx, s.Path, ifaceConnection+".GetSecrets", name).Store(&secrets); err != nil {
			return fmt.Errorf("read secrets: %w", err)
		}
		for k, v := range secrets[name] {
			settings[name][k] = v
		}
	}
	for _, ip := range []string{"ipv4", "ipv6"} {
		for _, k := range []string{"addresses", "routes"} {
			delete(settings[ip], k)
		}
	}
	settings["connection"]["id"] = dbus.MakeVariant(c.savedName(s.SSID))
	settings["connection"]["autoconnect"] = dbus.MakeVariant(true)
	settings["connection"]["autoconnect-priority"] = dbus.MakeVariant(prio)
	var out map[string]dbus.Variant
	return c.call(ctx, s.Path, ifaceConnection+".Update2", settings, update2ToDisk|update2NoReapply,
		map[string]dbus.Variant{}).Store(&out)
}
