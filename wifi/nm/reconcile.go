package nm

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// reconcilePoll is how often reconcile re-reads an activation it waits for.
const reconcilePoll = 200 * time.Millisecond

// startReconcile checks for profiles left behind by an interrupted join each
// time the device is found (at New, after NetworkManager restarted, when the
// device comes back) and, if there are any, runs reconcile in the
// background. A Join waits for it (see
// waitReconciled) and it waits for a running Join, so the two never
// interleave.
func (c *Client) startReconcile(ctx context.Context) {
	pend, owned, err := c.profilesByName(ctx, c.cfg.ProfileName+"-pending", c.cfg.ProfileName)
	if err != nil || (len(pend) == 0 && len(owned) <= 1) {
		return
	}
	done := make(chan struct{})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.reconciling = done
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer close(done)
		c.joinMu.Lock()
		defer c.joinMu.Unlock()
		c.reconcile(c.life)
	}()
}

// waitReconciled waits for a running reconcile to end, or for ctx.
func (c *Client) waitReconciled(ctx context.Context) error {
	c.mu.Lock()
	done := c.reconciling
	c.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return nil
	}
}

// profileInfo is what reconcile needs of a stored profile.
type profileInfo struct {
	path      dbus.ObjectPath
	timestamp uint64 // connection.timestamp: last successful activation
}

// reconcile repairs what a Join interrupted by a crash of the daemon (or by
// a NetworkManager restart) left behind, so that exactly one profile named
// ProfileName and none named ProfileName+"-pending" remain:
//
//   - a pending profile that is the device's active connection and
//     ACTIVATED (after waiting, at most JoinTimeout, for an activation under
//     way) is promoted as commit would have done: renamed, autoconnect on,
//     written to disk (it was in memory only), the older ProfileName
//     profiles deleted;
//   - any other pending profile is deleted;
//   - of several ProfileName profiles (a crash between the rename and the
//     deletion) the active one, else the most recently used, is kept;
//   - if the device is then on no connection, the remaining ProfileName
//     profile is activated, so the device is never left without a network.
func (c *Client) reconcile(ctx context.Context) {
	log := c.log.With("op", "reconcile")
	c.mu.Lock()
	dev := c.dev
	c.mu.Unlock()
	pending := c.cfg.ProfileName + "-pending"

	pend, owned, err := c.profilesByName(ctx, pending, c.cfg.ProfileName)
	if err != nil {
		log.Warn("reconcile: list profiles", "err", err)
		return
	}
	if len(pend) == 0 && len(owned) <= 1 {
		return
	}
	log.Info("reconcile: left-over profiles", "pending", len(pend), "named", len(owned))

	activeConn, acPath, acState := c.deviceConnection(ctx, dev)
	var promoted dbus.ObjectPath
	for _, p := range pend {
		if p.path == activeConn && acState == acActivating && promoted == "" {
			log.Info("reconcile: waiting for the pending activation", "profile", p.path)
			acState = c.waitSettled(ctx, acPath)
		}
		if p.path == activeConn && acState == acActivated && promoted == "" {
			if err := c.promote(ctx, p.path); err != nil {
				log.Warn("reconcile: promote pending profile", "profile", p.path, "err", err)
			} else {
				log.Info("reconcile: pending profile was connected; saved as "+c.cfg.ProfileName, "profile", p.path)
				promoted = p.path
				continue
			}
		}
		if err := c.call(ctx, p.path, ifaceConnection+".Delete").Err; err != nil {
			log.Warn("reconcile: delete pending profile", "profile", p.path, "err", err)
		} else {
			log.Info("reconcile: pending profile deleted", "profile", p.path)
		}
	}

	// Keep one profile named ProfileName (promote deleted the others).
	keep := promoted
	if keep != "" {
		owned = nil
	}
	if keep == "" {
		for _, p := range owned {
			if p.path == activeConn {
				keep = p.path
			}
		}
	}
	if keep == "" {
		var best uint64
		for _, p := range owned {
			if keep == "" || p.timestamp > best {
				keep, best = p.path, p.timestamp
			}
		}
	}
	for _, p := range owned {
		if p.path == keep {
			continue
		}
		if err := c.call(ctx, p.path, ifaceConnection+".Delete").Err; err != nil {
			log.Warn("reconcile: delete older profile", "profile", p.path, "err", err)
		}
	}

	// Never leave the device without a network.
	if keep == "" || dev == "" {
		return
	}
	if cur, _, st := c.deviceConnection(ctx, dev); cur != "" && (st == acActivating || st == acActivated) {
		return
	}
	var ac dbus.ObjectPath
	if err := c.call(ctx, rootPath, ifaceNM+".ActivateConnection", keep, dev, dbus.ObjectPath("/")).Store(&ac); err != nil {
		log.Warn("reconcile: activate "+c.cfg.ProfileName, "err", err)
		return
	}
	log.Info("reconcile: re-activating "+c.cfg.ProfileName, "profile", keep)
}

// profilesByName lists the stored profiles named a and b.
func (c *Client) profilesByName(ctx context.Context, a, b string) (as, bs []profileInfo, _ error) {
	var paths []dbus.ObjectPath
	if err := c.call(ctx, settingsPath, ifaceSettings+".ListConnections").Store(&paths); err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		s, err := c.getSettings(ctx, p)
		if err != nil {
			continue
		}
		ts, _ := s["connection"]["timestamp"].Value().(uint64)
		switch name, _ := s["connection"]["id"].Value().(string); name {
		case a:
			as = append(as, profileInfo{p, ts})
		case b:
			bs = append(bs, profileInfo{p, ts})
		}
	}
	return as, bs, nil
}

// deviceConnection returns the profile behind dev's active connection, the
// active connection and its state ("" and 0 when there is none).
func (c *Client) deviceConnection(ctx context.Context, dev dbus.ObjectPath) (conn, ac dbus.ObjectPath, state uint32) {
	if dev == "" {
		return "", "", 0
	}
	v, err := c.getProp(ctx, dev, ifaceDevice, "ActiveConnection")
	if err != nil {
		return "", "", 0
	}
	ac, _ = v.Value().(dbus.ObjectPath)
	if ac == "" || ac == "/" {
		return "", "", 0
	}
	props, err := c.getAll(ctx, ac, ifaceActive)
	if err != nil {
		return "", "", 0
	}
	conn, _ = props["Connection"].Value().(dbus.ObjectPath)
	state, _ = props["State"].Value().(uint32)
	return conn, ac, state
}

// waitSettled re-reads the state of the active connection ac until it is no
// longer ACTIVATING, for at most JoinTimeout; it returns the last state (0
// once ac is gone).
func (c *Client) waitSettled(ctx context.Context, ac dbus.ObjectPath) uint32 {
	deadline := time.Now().Add(c.cfg.JoinTimeout)
	for {
		v, err := c.getProp(ctx, ac, ifaceActive, "State")
		if err != nil {
			return 0
		}
		st, _ := v.Value().(uint32)
		if st != acActivating || time.Now().After(deadline) {
			return st
		}
		select {
		case <-ctx.Done():
			return st
		case <-time.After(reconcilePoll):
		}
	}
}

// promote does for a connected pending profile what commit does after a
// Join: renamed to ProfileName, autoconnect on, written to disk. Its settings
// are read back with GetSettings and GetSecrets (the secret is not in
// GetSettings) and sent back without the values godbus cannot re-encode
// (see storable).
func (c *Client) promote(ctx context.Context, p dbus.ObjectPath) error {
	cur, err := c.getSettings(ctx, p)
	if err != nil {
		return err
	}
	s := storable(cur)
	for _, group := range []string{"802-11-wireless-security", "802-1x"} {
		if _, ok := cur[group]; !ok {
			continue
		}
		var sec settingsMap
		if err := c.call(ctx, p, ifaceConnection+".GetSecrets", group).Store(&sec); err != nil {
			return err
		}
		for k, v := range storable(sec)[group] {
			s[group][k] = v
		}
	}
	if s["connection"] == nil {
		s["connection"] = map[string]dbus.Variant{}
	}
	s["connection"]["id"] = dbus.MakeVariant(c.cfg.ProfileName)
	s["connection"]["autoconnect"] = dbus.MakeVariant(true)
	var out map[string]dbus.Variant
	if err := c.call(ctx, p, ifaceConnection+".Update2", s, update2ToDisk|update2NoReapply,
		map[string]dbus.Variant{}).Store(&out); err != nil {
		return err
	}
	c.deleteProfiles(ctx, slog.New(slog.DiscardHandler), c.cfg.ProfileName, p)
	return nil
}

// storable returns a copy of s without the values godbus cannot send back
// with their original type: it decodes a struct as []any, so a(ayuay)
// (NetworkManager's deprecated ipv6.addresses) would go back as aav and be
// refused. No NetworkManager setting is an array of variants, so any value
// whose signature has one is such a struct. They are the deprecated address
// and route lists, which NetworkManager derives again from address-data and
// route-data.
func storable(s settingsMap) settingsMap {
	out := make(settingsMap, len(s))
	for group, m := range s {
		mm := make(map[string]dbus.Variant, len(m))
		for k, v := range m {
			if v.Value() == nil || strings.Contains(v.Signature().String(), "av") {
				continue
			}
			mm[k] = v
		}
		out[group] = mm
	}
	return out
}
