package gatt

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// matches are the signal match rules the server adds on its connection.
func (s *Server) matches() [][]dbus.MatchOption {
	return [][]dbus.MatchOption{
		{dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, bluez.BusName)},
		{dbus.WithMatchSender(bluez.BusName), dbus.WithMatchInterface(bluez.ObjectManager)},
		{dbus.WithMatchSender(bluez.BusName), dbus.WithMatchInterface(bluez.Properties),
			dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchArg(0, bluez.Device1)},
	}
}

func (s *Server) removeMatches() {
	for _, m := range s.matches() {
		_ = s.conn.RemoveMatchSignal(m...)
	}
}

// watch subscribes to the signals the server follows and starts the
// goroutine that handles them.
func (s *Server) watch() error {
	for _, m := range s.matches() {
		if err := s.conn.AddMatchSignalContext(s.ctx, m...); err != nil {
			s.removeMatches()
			return fmt.Errorf("gatt: add match: %w", err)
		}
	}
	s.sigCh = make(chan *dbus.Signal, 256)
	s.conn.Signal(s.sigCh)
	s.wg.Add(1)
	go s.loop()
	return nil
}

// loop handles signals and drives re-registration.
func (s *Server) loop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case sig, ok := <-s.sigCh:
			if !ok {
				return
			}
			s.handleSignal(sig)
		}
	}
}

func (s *Server) handleSignal(sig *dbus.Signal) {
	switch sig.Name {
	case "org.freedesktop.DBus.NameOwnerChanged":
		if len(sig.Body) != 3 {
			return
		}
		name, _ := sig.Body[0].(string)
		newOwner, _ := sig.Body[2].(string)
		if name != bluez.BusName {
			return
		}
		s.bluezChanged(newOwner)
	case bluez.InterfacesAdded:
		if !s.fromBluezSignal(sig) || len(sig.Body) != 2 {
			return
		}
		p, _ := sig.Body[0].(dbus.ObjectPath)
		ifaces, _ := sig.Body[1].(map[string]map[string]dbus.Variant)
		if props, ok := ifaces[bluez.Adapter1]; ok {
			addr, _ := props["Address"].Value().(string)
			if f := s.cfg.OnAdapter; f != nil {
				s.events.push(func() { f(AdapterEvent{Path: p, Address: addr, Added: true}) })
			}
			s.mu.Lock()
			need := s.adapter == "" && s.bluezOwner != ""
			s.mu.Unlock()
			if need && bluez.AdapterMatches(s.cfg.Adapter, p, addr) {
				s.startRegister()
			}
		}
		if props, ok := ifaces[bluez.Device1]; ok {
			if on, _ := props["Connected"].Value().(bool); on && s.onAdapter(p) {
				s.setConnected(p, true)
			}
		}
	case bluez.InterfacesRemoved:
		if !s.fromBluezSignal(sig) || len(sig.Body) != 2 {
			return
		}
		p, _ := sig.Body[0].(dbus.ObjectPath)
		ifaces, _ := sig.Body[1].([]string)
		for _, i := range ifaces {
			switch i {
			case bluez.Device1:
				s.setConnected(p, false)
			case bluez.Adapter1:
				if f := s.cfg.OnAdapter; f != nil {
					s.events.push(func() { f(AdapterEvent{Path: p, Added: false}) })
				}
				s.mu.Lock()
				ours := p == s.adapter
				if ours {
					s.adapter, s.adapterAddr, s.adapterProps = "", "", nil
					s.appRegistered = false
					s.advsLostLocked()
					s.regGen++
					s.lost = true
				}
				s.mu.Unlock()
				if ours {
					s.dropDevices()
					s.resetNotifying()
					s.report(fmt.Errorf("gatt: adapter %s removed: %w", p, ErrNoAdapter))
				}
			}
		}
	case bluez.PropertiesChanged:
		if !s.fromBluezSignal(sig) || len(sig.Body) < 2 {
			return
		}
		if iface, _ := sig.Body[0].(string); iface != bluez.Device1 {
			return
		}
		changed, _ := sig.Body[1].(map[string]dbus.Variant)
		v, ok := changed["Connected"]
		if !ok || !s.onAdapter(sig.Path) {
			return
		}
		on, _ := v.Value().(bool)
		s.setConnected(sig.Path, on)
	}
}

func (s *Server) fromBluezSignal(sig *dbus.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sig.Sender != "" && sig.Sender == s.bluezOwner
}

// onAdapter reports whether device path p belongs to the selected adapter.
func (s *Server) onAdapter(p dbus.ObjectPath) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adapter != "" && strings.HasPrefix(string(p), string(s.adapter)+"/")
}

func (s *Server) setConnected(p dbus.ObjectPath, on bool) {
	s.mu.Lock()
	was := s.connected[p]
	var ended *Session
	if on {
		if !was && s.lost && (!s.appRegistered || s.advPendingLocked()) {
			s.early[p] = true
		}
		s.connected[p] = true
		if s.sessions[p] == nil && !s.closed {
			s.sessions[p] = newSession(p)
		}
	} else {
		delete(s.connected, p)
		delete(s.early, p)
		ended = s.sessions[p]
		delete(s.sessions, p)
	}
	s.mu.Unlock()
	if ended != nil {
		ended.end()
	}
	d := Device{Path: p, Address: AddressFromPath(p)}
	switch {
	case on && !was:
		s.log.Debug("device connected", "device", d.Address)
		if f := s.cfg.OnConnect; f != nil {
			s.events.push(func() { f(d) })
		}
	case !on && was:
		s.log.Debug("device disconnected", "device", d.Address)
		if f := s.cfg.OnDisconnect; f != nil {
			s.events.push(func() { f(d) })
		}
	}
}

func (s *Server) dropDevices() {
	for _, d := range s.Devices() {
		s.setConnected(d.Path, false)
	}
	s.endAllSessions()
}

func (s *Server) resetNotifying() {
	for _, c := range s.chars {
		c.setNotifying(false, false)
	}
}

// bluezChanged handles org.bluez getting a new owner, or losing it.
func (s *Server) bluezChanged(owner string) {
	s.mu.Lock()
	old := s.bluezOwner
	s.bluezOwner = owner
	s.adapter, s.adapterAddr, s.adapterProps = "", "", nil
	wasReg := s.appRegistered
	s.appRegistered = false
	s.advsLostLocked()
	s.regGen++
	s.lost = s.lost || old != ""
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	if old != "" {
		s.dropDevices()
		s.resetNotifying()
		if owner == "" && wasReg {
			s.report(fmt.Errorf("gatt: bluetoothd left the bus, application no longer registered: %w", ErrBluezNotRunning))
		}
	}
	if owner != "" {
		s.log.Info("bluetoothd appeared, registering", "owner", owner)
		s.startRegister()
	}
}

// startRegister starts a goroutine that registers everything, retrying with
// backoff until it succeeds, bluetoothd changes again, or the server
// closes.
func (s *Server) startRegister() {
	s.mu.Lock()
	gen := s.regGen
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		delay := 50 * time.Millisecond
		for {
			s.mu.Lock()
			stale := gen != s.regGen || s.closed || s.bluezOwner == ""
			s.mu.Unlock()
			if stale {
				return
			}
			err := s.registerAll(s.ctx, true)
			if err == nil {
				return
			}
			if s.ctx.Err() != nil {
				return
			}
			// Right after bluetoothd starts its adapters and their
			// interfaces are not there yet: only report that once it
			// persists.
			if !startingUp(err) || time.Since(start) > 5*time.Second {
				s.report(err)
			} else {
				s.log.Debug("registration: bluetoothd not ready yet", "err", err, "retry", delay)
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			// A bluetoothd that is setting its adapter up answers at once
			// and is ready within seconds: ask again soon, so that the
			// application is back as soon as it is (a longer backoff here
			// added up to 1.6 s in the VM after a SIGKILL).
			if startingUp(err) {
				delay = min(delay*2, 250*time.Millisecond)
			} else {
				delay = min(delay*2, 5*time.Second)
			}
		}
	}()
}

// startingUp reports whether err is what bluetoothd answers while it is
// still setting an adapter up: no adapter yet, or the adapter object
// without the manager interface yet.
func startingUp(err error) bool {
	if errors.Is(err, ErrNoAdapter) {
		return true
	}
	var de dbus.Error
	if errors.As(err, &de) {
		switch de.Name {
		case bluez.ErrorUnknownObject, bluez.ErrorUnknownMethod,
			bluez.ErrorUnknownInterface:
			return true
		}
	}
	return false
}

// registerAll finds bluetoothd and the adapter and registers the
// application and, when wanted, the advertisement. With background set it
// runs from the watcher; otherwise from Open.
func (s *Server) registerAll(ctx context.Context, background bool) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	gen := s.regGen
	s.mu.Unlock()

	owner, err := s.nameOwner(ctx)
	if err != nil {
		return err
	}
	objs, err := s.bluezObjects(ctx)
	if err != nil {
		return err
	}
	adapter, addr, err := selectAdapter(objs, s.cfg.Adapter)
	if err != nil {
		return err
	}

	s.mu.Lock()
	if gen != s.regGen && background {
		s.mu.Unlock()
		return nil // superseded by a newer bluetoothd or adapter event
	}
	s.bluezOwner = owner
	s.adapter, s.adapterAddr, s.adapterProps = adapter, addr, objs[adapter][bluez.Adapter1]
	appReg := s.appRegistered
	var pending []int // wanted advertisements not registered
	for i, a := range s.advs {
		if a.want != nil && !a.registered {
			pending = append(pending, i)
		}
	}
	s.mu.Unlock()

	// Devices already connected (e.g. when we start after a central).
	for p, ifaces := range objs {
		if props, ok := ifaces[bluez.Device1]; ok {
			if on, _ := props["Connected"].Value().(bool); on && strings.HasPrefix(string(p), string(adapter)+"/") {
				s.setConnected(p, true)
			}
		}
	}

	obj := s.conn.Object(bluez.BusName, adapter)
	did := false // registered something in this call
	if !appReg {
		err := s.register(ctx, obj, bluez.GattManager1+".RegisterApplication", s.root)
		if err != nil && !errors.Is(mapBluezError(err), ErrAlreadyExists) {
			return fmt.Errorf("gatt: register application on %s: %w", adapter, mapBluezError(err))
		}
		s.mu.Lock()
		s.appRegistered = gen == s.regGen
		s.mu.Unlock()
		s.log.Info("application registered", "adapter", adapter, "path", s.root)
		did = true
	}
	for _, i := range pending {
		if err := s.registerAdv(ctx, obj, i); err != nil {
			return err
		}
		did = true
	}
	if !did {
		return nil // another registration got there first
	}
	if f := s.cfg.OnRegistered; f != nil {
		s.events.push(f)
	}
	s.disconnectEarly()
	return nil
}

// disconnectEarly disconnects the devices that connected while the
// application was not registered after bluetoothd restarted or the adapter
// returned. Such a central saw a database without the application, or, when
// it connected before the new bluetoothd listened for ATT, has a link with
// no ATT server behind it at all; only a new connection serves it again.
// The link is dropped through the kernel's management interface when the
// process may (Device1.Disconnect waits 2 s first), else through bluetoothd.
func (s *Server) disconnectEarly() {
	s.mu.Lock()
	var paths []dbus.ObjectPath
	for p := range s.early {
		paths = append(paths, p)
	}
	clear(s.early)
	adapter := path.Base(string(s.adapter))
	s.mu.Unlock()
	for _, p := range paths {
		addr := AddressFromPath(p)
		s.log.Info("disconnecting a central that connected before the application was registered again", "device", addr)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
			defer cancel()
			var typ string
			_ = s.conn.Object(bluez.BusName, p).CallWithContext(ctx, bluez.Properties+".Get", 0, bluez.Device1, "AddressType").Store(&typ)
			err := disconnectNow(ctx, adapter, addr, typ)
			if err == nil {
				return
			}
			s.log.Debug("kernel disconnect failed, asking bluetoothd", "device", addr, "err", err)
			if err := s.conn.Object(bluez.BusName, p).CallWithContext(ctx, bluez.Device1+".Disconnect", 0).Err; err != nil {
				s.log.Debug("disconnect failed", "device", addr, "err", err)
			}
		}()
	}
}

// register makes a RegisterApplication or RegisterAdvertisement call
// (method) on adapter. Once sent, the call is waited for until bluetoothd
// answers or the call timeout passes, even if ctx ends meanwhile: bluetoothd
// answers a registration only when it has read our objects and the kernel
// has taken the advertisement, and a caller that stopped waiting before then
// (a daemon told to stop) goes on to unregister or leave the bus while
// bluetoothd is still working on it. BlueZ 5.66 does not survive that: in
// the test bed, a daemon stopped 150 ms after it had started re-registering
// an advertisement left bluetoothd aborting with "munmap_chunk(): invalid
// pointer". A ctx that has ended before the call sends nothing.
func (s *Server) register(ctx context.Context, adapter dbus.BusObject, method string, path dbus.ObjectPath) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	return adapter.CallWithContext(cctx, method, 0, path, map[string]dbus.Variant{}).Err
}

func (s *Server) nameOwner(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var owner string
	err := s.conn.BusObject().CallWithContext(cctx, "org.freedesktop.DBus.GetNameOwner", 0, bluez.BusName).Store(&owner)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBluezNotRunning, err)
	}
	return owner, nil
}

func (s *Server) bluezObjects(ctx context.Context) (bluez.Objects, error) {
	return managedObjects(ctx, s.conn, s.timeout)
}

func managedObjects(ctx context.Context, conn *dbus.Conn, timeout time.Duration) (bluez.Objects, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	objs, err := bluez.ManagedObjects(cctx, conn)
	if err != nil {
		return nil, fmt.Errorf("gatt: list bluetoothd objects: %w", mapBluezError(err))
	}
	return objs, nil
}

// selectAdapter picks the adapter named by selector out of bluetoothd's
// objects by bluez.SelectAdapter's rule.
func selectAdapter(objs bluez.Objects, selector string) (dbus.ObjectPath, string, error) {
	a, ok := bluez.SelectAdapter(objs, selector)
	switch {
	case ok:
		return a.Path, a.Address, nil
	case selector == "":
		return "", "", ErrNoAdapter
	}
	return "", "", fmt.Errorf("%w: %q", ErrNoAdapter, selector)
}
