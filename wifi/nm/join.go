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
func (c *Client) Join(ctx context.Context, ssid []byte, cred wifi.Credentials) error {
	err := c.join(ctx, ssid, cred)
	if err == nil {
		return nil
	}
	je, ok := err.(*wifi.JoinError)
	if !ok {
		je = &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonOf(err), Err: err}
	}
	je.SSID = append([]byte(nil), ssid...)
	// Defence in depth: an error text echoing the secret is withheld.
	for _, secret := range cred.Secrets() {
		if je.Err != nil && strings.Contains(je.Err.Error(), secret) {
			je.Err = errors.New("error text withheld")
		}
		if strings.Contains(je.Detail, secret) {
			je.Detail = ""
		}
	}
	return je
}

// joinPlan is what prepare decided for a join, before NetworkManager is
// asked to change anything.
type joinPlan struct {
	ssid     []byte
	cred     wifi.Credentials
	sec      wifi.Security
	hidden   bool
	dev      dbus.ObjectPath // the device of Config.Interface
	prevConn dbus.ObjectPath // the profile active before the join, or ""
	pending  string          // the new profile's temporary name
	log      *slog.Logger
	start    time.Time
}

// settings returns the new profile's settings under the temporary name.
func (p *joinPlan) settings(iface string) settingsMap {
	return buildSettings(p.pending, iface, p.ssid, p.sec, p.hidden, p.cred)
}

// outcome is how an activation ended: Reason is wifi.ReasonNone once it is
// ACTIVATED. KeysDone reports that the device got to IP_CONFIG, i.e. the key
// exchange had succeeded.
type outcome struct {
	Reason   wifi.Reason
	Detail   string
	Err      error
	KeysDone bool
}

// activation is a new profile NetworkManager added and what came of
// activating it.
type activation struct {
	conn, ac dbus.ObjectPath // the new profile and its (last) active connection
	outcome
}

// join runs a join in three steps: prepare (validate, choose the security,
// remember the connection to fall back to), activate (add the pending
// profile and follow its activation, once more after a link lost after the
// key exchange) and then commit or roll back.
func (c *Client) join(ctx context.Context, ssid []byte, cred wifi.Credentials) error {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	if err := cred.Validate(); err != nil {
		return &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	if err := c.waitReconciled(ctx); err != nil {
		return c.callFailed(err)
	}
	if !c.joinMu.TryLock() {
		return &wifi.JoinError{Reason: wifi.ReasonBusy, Detail: "another join is running"}
	}
	defer c.joinMu.Unlock()

	plan, err := c.prepare(ctx, ssid, cred)
	if err != nil {
		return err
	}
	ctx, stopEAP := c.watchEAP(ctx, plan.log, cred)
	defer stopEAP()
	act, err := c.activate(ctx, plan)
	if err != nil {
		return err
	}
	elapsed := time.Since(plan.start).Round(time.Millisecond)
	if act.Reason == wifi.ReasonNone {
		plan.log.Info("join: activated", "elapsed", elapsed)
		return c.commit(ctx, plan.log, act.conn, plan.settings(c.cfg.Interface))
	}
	act.Reason, act.Detail, act.Err = eapOutcome(ctx, act.Reason, act.Detail, act.Err)
	plan.log.Info("join: failed", "reason", act.Reason.String(), "detail", act.Detail, "elapsed", elapsed)
	return c.rollbackJoin(ctx, plan, act)
}

// prepare checks that NetworkManager and the device can take a join, chooses
// the security from the access points seen, and records the profile active
// now (to fall back to). It changes nothing.
func (c *Client) prepare(ctx context.Context, ssid []byte, cred wifi.Credentials) (*joinPlan, error) {
	c.mu.Lock()
	owner, dev, kind, closed := c.owner, c.dev, c.state.Kind, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "client closed"}
	case owner == "":
		return nil, &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "NetworkManager is not running"}
	case dev == "":
		return nil, &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "no device " + c.cfg.Interface}
	case kind == wifi.Down:
		return nil, &wifi.JoinError{Reason: wifi.ReasonUnavailable, Detail: "device " + c.cfg.Interface + " is down"}
	}

	sec, hidden, err := chooseSecurity(c.securitiesFor(ssid), cred)
	if err != nil {
		return nil, &wifi.JoinError{Reason: wifi.ReasonInvalid, Err: err}
	}
	plan := &joinPlan{ssid: ssid, cred: cred, sec: sec, hidden: hidden, dev: dev,
		pending: c.cfg.ProfileName + "-pending", start: time.Now(),
		log: c.log.With("ssid", string(ssid), "security", sec.String(), "hidden", hidden)}
	plan.log.Info("join: start")

	if v, err := c.getProp(ctx, dev, ifaceDevice, "ActiveConnection"); err == nil {
		if ac, _ := v.Value().(dbus.ObjectPath); ac != "" && ac != "/" {
			if v, err := c.getProp(ctx, ac, ifaceActive, "Connection"); err == nil {
				plan.prevConn, _ = v.Value().(dbus.ObjectPath)
			}
		}
	}
	plan.log.Debug("join: previous connection", "profile", plan.prevConn)
	return plan, nil
}

// activate adds the new network as an in-memory profile under the pending
// name and activates it, following the activation to its end. If the link
// is lost after a successful key exchange (the secret is right; NetworkManager
// then says NO_SECRETS, like a wrong password) it activates the profile once
// more. It returns an error only when NetworkManager refused to add the
// profile, so that there is nothing to clean up.
func (c *Client) activate(ctx context.Context, plan *joinPlan) (*activation, error) {
	c.deleteProfiles(ctx, plan.log, plan.pending, "")

	// Feed signals to this goroutine from before the activation starts: it
	// may be over when AddAndActivateConnection2 returns.
	signals, unlisten := c.listen()
	act := &activation{}
	var result map[string]dbus.Variant
	// Not bounded by ctx: once NetworkManager may have added the profile, we
	// must learn its path to clean up.
	err := c.call(context.WithoutCancel(ctx), rootPath, ifaceNM+".AddAndActivateConnection2",
		plan.settings(c.cfg.Interface), plan.dev, dbus.ObjectPath("/"),
		map[string]dbus.Variant{"persist": dbus.MakeVariant("memory")}).Store(&act.conn, &act.ac, &result)
	if err != nil {
		unlisten()
		return nil, c.callFailed(err)
	}
	plan.log = plan.log.With("profile", act.conn, "active", act.ac)
	plan.log.Debug("join: activating")
	act.outcome = c.waitActivated(ctx, signals, plan.dev, act.ac, plan.sec != wifi.SecurityOpen)
	unlisten()

	if !act.retryable() {
		return act, nil
	}
	plan.log.Info("join: link lost after the key exchange, activating again", "detail", act.Detail)
	signals, unlisten = c.listen()
	defer unlisten()
	if err := c.call(context.WithoutCancel(ctx), rootPath, ifaceNM+".ActivateConnection",
		act.conn, plan.dev, dbus.ObjectPath("/")).Store(&act.ac); err != nil {
		act.outcome = outcome{Reason: wifi.ReasonFailed, Detail: "activating again after the link was lost", Err: err}
		return act, nil
	}
	act.outcome = c.waitActivated(ctx, signals, plan.dev, act.ac, plan.sec != wifi.SecurityOpen)
	return act, nil
}

// retryable reports whether an activation failed after the key exchange had
// succeeded, for a reason that another activation may not meet: not a
// cancellation and not NetworkManager gone.
func (a *activation) retryable() bool {
	switch a.Reason {
	case wifi.ReasonNone, wifi.ReasonCanceled, wifi.ReasonUnavailable:
		return false
	}
	return a.KeysDone
}

// rollbackJoin ends a failed join: it deletes the new profile and
// re-activates the previous connection, even when ctx is done, and returns
// the JoinError.
func (c *Client) rollbackJoin(ctx context.Context, plan *joinPlan, act *activation) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*c.cfg.CallTimeout)
	defer cancel()
	je := &wifi.JoinError{Reason: act.Reason, Detail: act.Detail, Err: act.Err}
	if act.Reason == wifi.ReasonUnavailable {
		// NetworkManager is gone, or the device. The in-memory profile
		// survives a restart (in /run): reconcile removes it when the device
		// is found again, or now if it is already back.
		c.startReconcile(cctx)
		return je
	}
	if act.Reason == wifi.ReasonTimeout || act.Reason == wifi.ReasonCanceled {
		_ = c.call(cctx, rootPath, ifaceNM+".DeactivateConnection", act.ac).Err
	}
	if err := c.call(cctx, act.conn, ifaceConnection+".Delete").Err; err != nil {
		plan.log.Warn("join: delete failed profile", "err", err)
	}
	je.RolledBack = c.rollback(cctx, plan.log, plan.dev, plan.prevConn)
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
// leaves the bus. After the device got to IP_CONFIG (KeysDone) a failure is
// not a wrong password, whatever reason NetworkManager gives.
func (c *Client) waitActivated(ctx context.Context, listener <-chan *dbus.Signal, dev, acPath dbus.ObjectPath, secured bool) outcome {
	keysDone := false
	timer := time.NewTimer(c.cfg.JoinTimeout)
	defer timer.Stop()
	var lastDevReason uint32 // the last notable reason of a device state change
	seenOurs := false        // the device's ActiveConnection was acPath at least once
	onOurs := true           // the device's ActiveConnection is acPath (as far as signals tell)
	devFailure := func(r uint32) outcome {
		if r == 0 || r == 1 {
			r = lastDevReason
		}
		reason := reasonOf(r, secured)
		if keysDone && reason == wifi.ReasonWrongPassword {
			reason = wifi.ReasonFailed
		}
		return outcome{reason, "NetworkManager device reason " + devReasonString(r), nil, keysDone}
	}

	// The activation may already be over when AddAndActivateConnection2
	// returns: the listener was registered before the call, so its signals
	// are waiting in the buffer.
	for {
		select {
		case <-ctx.Done():
			return outcome{wifi.ReasonCanceled, "", ctx.Err(), keysDone}
		case <-c.done:
			return outcome{wifi.ReasonCanceled, "client closed", nil, keysDone}
		case <-timer.C:
			return outcome{wifi.ReasonTimeout, fmt.Sprintf("not activated within %v", c.cfg.JoinTimeout), nil, keysDone}
		case sig := <-listener:
			switch {
			case sig.Name == ifaceDBus+".NameOwnerChanged":
				return outcome{wifi.ReasonUnavailable, "NetworkManager left the bus", nil, keysDone}
			case sig.Path == acPath && sig.Name == ifaceActive+".StateChanged" && len(sig.Body) == 2:
				st, _ := sig.Body[0].(uint32)
				r, _ := sig.Body[1].(uint32)
				switch st {
				case acActivated:
					return outcome{wifi.ReasonNone, "", nil, keysDone}
				case acDeactivated:
					if lastDevReason != 0 {
						return devFailure(lastDevReason)
					}
					reason := reasonOfActive(r, secured)
					if keysDone && reason == wifi.ReasonWrongPassword {
						reason = wifi.ReasonFailed
					}
					return outcome{reason, fmt.Sprintf("NetworkManager active connection reason %d", r), nil, keysDone}
				}
			case sig.Path == acPath && sig.Name == ifaceProperties+".PropertiesChanged" && changed(sig, ifaceActive, "State"):
				m, _ := sig.Body[1].(map[string]dbus.Variant)
				switch st, _ := m["State"].Value().(uint32); st {
				case acActivated:
					return outcome{wifi.ReasonNone, "", nil, keysDone}
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
					return outcome{wifi.ReasonFailed, "another connection was activated on the device", nil, keysDone}
				}
			}
		}
	}
}

// commit makes the activated profile the one Bluenet owns: renamed to
// ProfileName, autoconnect on, written to disk; then the older profile of
// that name is remembered (see remember). The new settings are rebuilt from the join's own
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
	log.Info("join: profile saved", "name", c.cfg.ProfileName)
	ssid, _ := newSettings["802-11-wireless"]["ssid"].Value().([]byte)
	c.remember(ctx, log, connPath, ssid)
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
func buildSettings(id, iface string, ssid []byte, sec wifi.Security, hidden bool, cred wifi.Credentials) settingsMap {
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
	addSecurity(s, sec, cred)
	return s
}
