package nm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/wifi"
)

// settingsMap is NetworkManager's connection settings type, a{sa{sv}}.
type settingsMap = map[string]map[string]dbus.Variant

// Join implements wifi.Backend; see the package documentation for the
// procedure. It returns nil once the new network is ACTIVATED and the profile
// is saved, or a *wifi.JoinError.
func (c *Client) Join(ctx context.Context, ssid []byte, secret string) error {
	err := c.join(ctx, ssid, secret)
	if err == nil {
		return nil
	}
	je, ok := err.(*wifi.JoinError)
	if !ok {
		je = &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonOf(err), Err: err}
	}
	je.SSID = append([]byte(nil), ssid...)
	// Defence in depth: an error text echoing the secret is withheld.
	if secret != "" && je.Err != nil && strings.Contains(je.Err.Error(), secret) {
		je.Err = errors.New("error text withheld")
	}
	if secret != "" && strings.Contains(je.Detail, secret) {
		je.Detail = ""
	}
	return je
}

func (c *Client) join(ctx context.Context, ssid []byte, secret string) error {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	if err := wifi.ValidateSecret(secret); err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	if err := c.waitReconciled(ctx); err != nil {
		return c.callFailed(err)
	}
	if !c.joinMu.TryLock() {
		return &wifi.JoinError{Reason: wifi.ReasonBusy, Detail: "another join is running"}
	}
	defer c.joinMu.Unlock()

	c.mu.Lock()
	owner, dev, kind, closed := c.owner, c.dev, c.state.Kind, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "client closed"}
	case owner == "":
		return &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "NetworkManager is not running"}
	case dev == "":
		return &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "no device " + c.cfg.Interface}
	case kind == wifi.Down:
		return &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "device " + c.cfg.Interface + " is down"}
	}

	sec, hidden, err := wifi.ChooseSecurity(c.securitiesFor(ssid), secret)
	if err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	log := c.log.With("ssid", string(ssid), "security", sec.String(), "hidden", hidden)
	start := time.Now()
	log.Info("join: start")

	// Remember what to fall back to.
	var prevConn dbus.ObjectPath
	if v, err := c.getProp(ctx, dev, ifaceDevice, "ActiveConnection"); err == nil {
		if ac, _ := v.Value().(dbus.ObjectPath); ac != "" && ac != "/" {
			if v, err := c.getProp(ctx, ac, ifaceActive, "Connection"); err == nil {
				prevConn, _ = v.Value().(dbus.ObjectPath)
			}
		}
	}
	log.Debug("join: previous connection", "profile", prevConn)

	pending := c.cfg.ProfileName + "-pending"
	c.deleteProfiles(ctx, log, pending, "")

	// Feed signals to this goroutine from before the activation starts.
	signals, unlisten := c.listen()
	listening := true
	defer func() {
		if listening {
			unlisten()
		}
	}()

	settings := buildSettings(pending, c.cfg.Interface, ssid, sec, hidden, secret)
	var connPath, acPath dbus.ObjectPath
	var result map[string]dbus.Variant
	// Not bounded by ctx: once NetworkManager may have added the profile, we
	// must learn its path to clean up.
	err = c.call(context.WithoutCancel(ctx), rootPath, ifaceNM+".AddAndActivateConnection2", settings, dev, dbus.ObjectPath("/"),
		map[string]dbus.Variant{"persist": dbus.MakeVariant("memory")}).Store(&connPath, &acPath, &result)
	if err != nil {
		return c.callFailed(err)
	}
	log = log.With("profile", connPath, "active", acPath)
	log.Debug("join: activating")

	reason, detail, werr, keysDone := c.waitActivated(ctx, signals, dev, acPath, secret != "")
	unlisten()
	listening = false
	if reason != wifi.ReasonNone && reason != wifi.ReasonCanceled && reason != wifi.ReasonUnavailable && keysDone {
		// The key exchange had succeeded, so the secret is right: the access
		// point dropped the link afterwards (NetworkManager then reports
		// NO_SECRETS, like a wrong password). Try once more.
		log.Info("join: link lost after the key exchange, activating again", "detail", detail)
		signals, unlisten = c.listen()
		listening = true
		if err := c.call(context.WithoutCancel(ctx), rootPath, ifaceNM+".ActivateConnection", connPath, dev, dbus.ObjectPath("/")).Store(&acPath); err != nil {
			reason, detail, werr = wifi.ReasonFailed, "activating again after the link was lost", err
		} else {
			reason, detail, werr, _ = c.waitActivated(ctx, signals, dev, acPath, secret != "")
		}
		unlisten()
		listening = false
	}
	if reason == wifi.ReasonNone {
		log.Info("join: activated", "elapsed", time.Since(start).Round(time.Millisecond))
		return c.commit(ctx, log, connPath, buildSettings(pending, c.cfg.Interface, ssid, sec, hidden, secret))
	}
	log.Info("join: failed", "reason", reason.String(), "detail", detail, "elapsed", time.Since(start).Round(time.Millisecond))

	// Clean up and roll back, even when ctx is done.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*c.cfg.CallTimeout)
	defer cancel()
	je := &wifi.JoinError{Reason: reason, Detail: detail, Err: werr}
	if reason == wifi.ReasonUnavailable {
		return je // NetworkManager is gone; the in-memory profile went with it
	}
	if reason == wifi.ReasonTimeout || reason == wifi.ReasonCanceled {
		_ = c.call(cctx, rootPath, ifaceNM+".DeactivateConnection", acPath).Err
	}
	if err := c.call(cctx, connPath, ifaceConnection+".Delete").Err; err != nil {
		log.Warn("join: delete failed profile", "err", err)
	}
	je.RolledBack = c.rollback(cctx, log, dev, prevConn)
	return je
}

// callFailed turns a failed NetworkManager call into a JoinError.
func (c *Client) callFailed(err error) error {
	var de dbus.Error
	if errors.As(err, &de) {
		switch {
		case strings.HasPrefix(de.Name, "org.freedesktop.DBus.Error.ServiceUnknown"),
			strings.HasPrefix(de.Name, "org.freedesktop.DBus.Error.NameHasNoOwner"),
			de.Name == errUnknownDevice:
			return &wifi.JoinError{Reason: wifi.ReasonUnavailable, Err: err}
		case strings.HasPrefix(de.Name, "org.freedesktop.NetworkManager.Settings.Connection.InvalidProperty"),
			strings.HasSuffix(de.Name, ".InvalidConnection"), strings.HasSuffix(de.Name, ".InvalidProperty"):
			return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &wifi.JoinError{Reason: wifi.ReasonTimeout, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &wifi.JoinError{Reason: wifi.ReasonCanceled, Err: err}
	}
	return &wifi.JoinError{Reason: wifi.ReasonFailed, Err: err}
}

// waitActivated follows the activation of acPath on dev until it is
// ACTIVATED (ReasonNone), fails, times out, ctx is done or NetworkManager
// leaves the bus. keysDone reports that the device got to IP_CONFIG, i.e.
// the key exchange had succeeded: a later failure is then not a wrong
// password, whatever reason NetworkManager gives.
func (c *Client) waitActivated(ctx context.Context, listener <-chan *dbus.Signal, dev, acPath dbus.ObjectPath, secured bool) (_ wifi.Reason, _ string, _ error, keysDone bool) {
	timer := time.NewTimer(c.cfg.JoinTimeout)
	defer timer.Stop()
	var lastDevReason uint32 // the last notable reason of a device state change
	seenOurs := false        // the device's ActiveConnection was acPath at least once
	onOurs := true           // the device's ActiveConnection is acPath (as far as signals tell)
	devFailure := func(r uint32) (wifi.Reason, string, error, bool) {
		if r == 0 || r == 1 {
			r = lastDevReason
		}
		reason := reasonOf(r, secured)
		if keysDone && reason == wifi.ReasonWrongPassword {
			reason = wifi.ReasonFailed
		}
		return reason, "NetworkManager device reason " + devReasonString(r), nil, keysDone
	}

	// The activation may already be over when AddAndActivateConnection2
	// returns: the listener was registered before the call, so its signals
	// are waiting in the buffer.
	for {
		select {
		case <-ctx.Done():
			return wifi.ReasonCanceled, "", ctx.Err(), keysDone
		case <-c.done:
			return wifi.ReasonCanceled, "client closed", nil, keysDone
		case <-timer.C:
			return wifi.ReasonTimeout, fmt.Sprintf("not activated within %v", c.cfg.JoinTimeout), nil, keysDone
		case sig := <-listener:
			switch {
			case sig.Name == ifaceDBus+".NameOwnerChanged":
				return wifi.ReasonUnavailable, "NetworkManager left the bus", nil, keysDone
			case sig.Path == acPath && sig.Name == ifaceActive+".StateChanged" && len(sig.Body) == 2:
				st, _ := sig.Body[0].(uint32)
				r, _ := sig.Body[1].(uint32)
				switch st {
				case acActivated:
					return wifi.ReasonNone, "", nil, keysDone
				case acDeactivated:
					if lastDevReason != 0 {
						return devFailure(lastDevReason)
					}
					reason := reasonOfActive(r, secured)
					if keysDone && reason == wifi.ReasonWrongPassword {
						reason = wifi.ReasonFailed
					}
					return reason, fmt.Sprintf("NetworkManager active connection reason %d", r), nil, keysDone
				}
			case sig.Path == acPath && sig.Name == ifaceProperties+".PropertiesChanged" && changed(sig, ifaceActive, "State"):
				m, _ := sig.Body[1].(map[string]dbus.Variant)
				switch st, _ := m["State"].Value().(uint32); st {
				case acActivated:
					return wifi.ReasonNone, "", nil, keysDone
				case acDeactivated:
					return devFailure(lastDevReason)
				}
			case sig.Path == dev && sig.Name == ifaceDevice+".StateChanged" && len(sig.Body) == 3:
				newState, _ := sig.Body[0].(uint32)
				r, _ := sig.Body[2].(uint32)
				c.log.Debug("join: device state", "state", newState, "reason", devReasonString(r))
				if r > 1 && r != 60 { // not NONE, UNKNOWN or NEW_ACTIVATION
					lastDevReason = r
				}
				if onOurs && newState >= devIPConfig && newState <= devActivated {
					keysDone = true
				}
				if newState == devFailed {
					return devFailure(r)
				}
			case sig.Path == dev && sig.Name == ifaceProperties+".PropertiesChanged" && changed(sig, ifaceDevice, "ActiveConnection"):
				// Another activation took the device over.
				m, _ := sig.Body[1].(map[string]dbus.Variant)
				p, _ := m["ActiveConnection"].Value().(dbus.ObjectPath)
				onOurs = p == acPath
				switch {
				case p == acPath:
					seenOurs = true
				case seenOurs && p != "/" && p != "":
					return wifi.ReasonFailed, "another connection was activated on the device", nil, keysDone
				}
			}
		}
	}
}

// commit makes the activated profile the one Bluenet owns: renamed to
// ProfileName, autoconnect on, written to disk; then the older profiles of
// that name are deleted. The new settings are rebuilt from the join's own
// parameters (plus the UUID NetworkManager gave the profile) rather than
// round-tripped through GetSettings: godbus cannot re-encode every settings
// type NetworkManager returns (an empty ipv6.addresses a(ayuay) comes back
// as aav), and GetSettings never returns the secret.
func (c *Client) commit(ctx context.Context, log *slog.Logger, connPath dbus.ObjectPath, newSettings settingsMap) error {
	ctx = context.WithoutCancel(ctx) // the network is up; finish the bookkeeping
	cur, err := c.getSettings(ctx, connPath)
	if err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonFailed, Detail: "connected, but reading the new profile failed", Err: err}
	}
	if uuid, ok := cur["connection"]["uuid"]; ok {
		newSettings["connection"]["uuid"] = uuid
	}
	newSettings["connection"]["id"] = dbus.MakeVariant(c.cfg.ProfileName)
	newSettings["connection"]["autoconnect"] = dbus.MakeVariant(true)
	var out map[string]dbus.Variant
	err = c.call(ctx, connPath, ifaceConnection+".Update2", newSettings, update2ToDisk|update2NoReapply,
		map[string]dbus.Variant{}).Store(&out)
	if err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonFailed, Detail: "connected, but saving the profile failed", Err: err}
	}
	c.deleteProfiles(ctx, log, c.cfg.ProfileName, connPath)
	log.Info("join: profile saved", "name", c.cfg.ProfileName)
	return nil
}

// deleteProfiles deletes every profile named id except keep.
func (c *Client) deleteProfiles(ctx context.Context, log *slog.Logger, id string, keep dbus.ObjectPath) {
	var paths []dbus.ObjectPath
	if err := c.call(ctx, settingsPath, ifaceSettings+".ListConnections").Store(&paths); err != nil {
		log.Warn("list profiles", "err", err)
		return
	}
	for _, p := range paths {
		if p == keep {
			continue
		}
		s, err := c.getSettings(ctx, p)
		if err != nil {
			continue
		}
		if name, _ := s["connection"]["id"].Value().(string); name != id {
			continue
		}
		if err := c.call(ctx, p, ifaceConnection+".Delete").Err; err != nil {
			log.Warn("delete profile", "path", p, "err", err)
		}
	}
}

// rollback re-activates prevConn on dev unless the device is already on it.
// It reports whether prevConn is active or activating afterwards.
func (c *Client) rollback(ctx context.Context, log *slog.Logger, dev, prevConn dbus.ObjectPath) bool {
	if prevConn == "" || prevConn == "/" {
		return false
	}
	if v, err := c.getProp(ctx, dev, ifaceDevice, "ActiveConnection"); err == nil {
		if ac, _ := v.Value().(dbus.ObjectPath); ac != "" && ac != "/" {
			if v, err := c.getProp(ctx, ac, ifaceActive, "Connection"); err == nil {
				if p, _ := v.Value().(dbus.ObjectPath); p == prevConn {
					log.Info("join: previous connection already coming back")
					return true
				}
			}
		}
	}
	var ac dbus.ObjectPath
	if err := c.call(ctx, rootPath, ifaceNM+".ActivateConnection", prevConn, dev, dbus.ObjectPath("/")).Store(&ac); err != nil {
		log.Warn("join: re-activate previous connection", "err", err)
		return false
	}
	log.Info("join: re-activating previous connection", "profile", prevConn)
	return true
}

func (c *Client) getSettings(ctx context.Context, p dbus.ObjectPath) (settingsMap, error) {
	var s settingsMap
	err := c.call(ctx, p, ifaceConnection+".GetSettings").Store(&s)
	return s, err
}

// buildSettings returns the settings of a new profile. The profile starts
// with autoconnect off (it is switched on when the join succeeds), and IPv4
// must succeed for the activation to count (ipv4.may-fail=false), so
// ACTIVATED means an IPv4 address was obtained.
func buildSettings(id, iface string, ssid []byte, sec wifi.Security, hidden bool, secret string) settingsMap {
	s := settingsMap{
		"connection": {
			"id":             dbus.MakeVariant(id),
			"type":           dbus.MakeVariant("802-11-wireless"),
			"interface-name": dbus.MakeVariant(iface),
			"autoconnect":    dbus.MakeVariant(false),
		},
		"802-11-wireless": {
			"ssid": dbus.MakeVariant(append([]byte(nil), ssid...)),
			"mode": dbus.MakeVariant("infrastructure"),
		},
		"ipv4": {
			"method":   dbus.MakeVariant("auto"),
			"may-fail": dbus.MakeVariant(false),
		},
		"ipv6": {
			"method": dbus.MakeVariant("auto"),
		},
	}
	if hidden {
		s["802-11-wireless"]["hidden"] = dbus.MakeVariant(true)
	}
	if km := keyMgmt(sec); km != "" {
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant(km),
			"psk":      dbus.MakeVariant(secret),
		}
	}
	return s
}

// keyMgmt returns the 802-11-wireless-security.key-mgmt value for sec, or ""
// for an open network.
func keyMgmt(sec wifi.Security) string {
	switch sec {
	case wifi.SecurityPSK:
		return "wpa-psk"
	case wifi.SecuritySAE:
		return "sae"
	}
	return ""
}
