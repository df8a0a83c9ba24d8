package central

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// RescanInterval is how often Scan stops and starts discovery again, at
// most; the first restarts come sooner (1 s, then 2 s).
const RescanInterval = 3 * time.Second

// Advertisement is what the central knows about a peripheral it has seen.
type Advertisement struct {
	Address string // "00:AA:01:00:00:00"
	Name    string // advertised local name; may be empty
	Alias   string // BlueZ's alias: the name, or the address with dashes
	RSSI    int16  // 0 when unknown
	UUIDs   []UUID // advertised service UUIDs
	// ServiceData is the advertised service data by service UUID; nil when
	// there is none.
	ServiceData map[UUID][]byte
	Path        dbus.ObjectPath // org.bluez.Device1 object

	// Connected: BlueZ has a link to the device (a connected device may not
	// advertise, so its RSSI can be stale or 0).
	Connected bool
}

// ScanFilter narrows a scan. The zero value reports every LE device.
type ScanFilter struct {
	// UUIDs keeps only devices advertising one of these services.
	UUIDs []UUID
	// Address keeps only the device with this address.
	Address string
}

func (f ScanFilter) match(a Advertisement) bool {
	if f.Address != "" && !strings.EqualFold(f.Address, a.Address) {
		return false
	}
	if len(f.UUIDs) == 0 {
		return true
	}
	for _, u := range f.UUIDs {
		if slices.Contains(a.UUIDs, u) {
			return true
		}
	}
	return false
}

func advertisement(path dbus.ObjectPath, p map[string]dbus.Variant) Advertisement {
	a := Advertisement{Path: path}
	a.Address, _ = p["Address"].Value().(string)
	a.Name, _ = p["Name"].Value().(string)
	a.Alias, _ = p["Alias"].Value().(string)
	a.RSSI, _ = p["RSSI"].Value().(int16)
	a.Connected, _ = p["Connected"].Value().(bool)
	uuids, _ := p["UUIDs"].Value().([]string)
	a.UUIDs = parseUUIDs(uuids)
	sd, _ := p["ServiceData"].Value().(map[string]dbus.Variant)
	for k, v := range sd {
		u, err := bluez.ParseUUID(k)
		b, ok := v.Value().([]byte)
		if err != nil || !ok {
			continue
		}
		if a.ServiceData == nil {
			a.ServiceData = map[UUID][]byte{}
		}
		a.ServiceData[u] = b
	}
	return a
}

// Scan discovers LE devices matching filter and calls fn for each report
// (the first sighting and later property changes such as RSSI) until fn
// returns false or ctx is done. Scan returns ctx.Err() when ctx ends the
// scan, nil when fn does.
//
// BlueZ keeps what it knew of a device from earlier scans and connections,
// and once it has resolved a device's GATT services it no longer updates the
// device's UUIDs from advertisements. So that a scan reports what is on the
// air now, Scan first removes the devices BlueZ caches that are neither
// connected, paired nor trusted (BlueZ creates them again from their next
// advertisement); connected, paired and trusted devices are reported at once.
func (c *Central) Scan(ctx context.Context, filter ScanFilter, fn func(Advertisement) bool) error {
	type report struct {
		path dbus.ObjectPath
		p    map[string]dbus.Variant
	}
	reports := make(chan report, 64)
	known := map[dbus.ObjectPath]map[string]dbus.Variant{}
	quit := make(chan struct{})
	stop := c.listen(func(s *dbus.Signal) {
		var r report
		switch s.Name {
		case bluez.InterfacesAdded:
			if len(s.Body) < 2 {
				return
			}
			path, _ := s.Body[0].(dbus.ObjectPath)
			ifs, _ := s.Body[1].(map[string]map[string]dbus.Variant)
			p, ok := ifs[bluez.Device1]
			if !ok || !bluez.Under(path, c.adapter) {
				return
			}
			r = report{path, p}
		case bluez.PropertiesChanged:
			if len(s.Body) < 2 || s.Body[0] != bluez.Device1 || !bluez.Under(s.Path, c.adapter) {
				return
			}
			p, _ := s.Body[1].(map[string]dbus.Variant)
			r = report{s.Path, p}
		default:
			return
		}
		select {
		case reports <- r:
		case <-quit:
		}
	})
	defer func() { close(quit); stop() }()

	if err := c.forgetStale(ctx); err != nil {
		return err
	}
	f := map[string]dbus.Variant{"Transport": dbus.MakeVariant("le"), "DuplicateData": dbus.MakeVariant(true)}
	if len(filter.UUIDs) > 0 {
		var us []string
		for _, u := range filter.UUIDs {
			us = append(us, u.String())
		}
		f["UUIDs"] = dbus.MakeVariant(us)
	}
	start := func() error {
		if err := c.call(ctx, c.adapter, bluez.Adapter1+".SetDiscoveryFilter", f).Err; err != nil {
			return wrap("SetDiscoveryFilter", err)
		}
		return wrap("StartDiscovery", c.call(ctx, c.adapter, bluez.Adapter1+".StartDiscovery").Err)
	}
	if err := start(); err != nil {
		return err
	}
	defer func() {
		// Best effort: the context may be done already.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultCallTimeout)
		defer cancel()
		_ = c.call(sctx, c.adapter, bluez.Adapter1+".StopDiscovery").Err
	}()

	objs, err := c.managedObjects(ctx)
	if err != nil {
		return err
	}
	for path, ifs := range objs {
		if p, ok := ifs[bluez.Device1]; ok && bluez.Under(path, c.adapter) {
			known[path] = p
			if a := advertisement(path, p); filter.match(a) && !fn(a) {
				return nil
			}
		}
	}
	wait := time.Second
	restart := time.NewTimer(wait)
	defer restart.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-restart.C:
			// Start scanning afresh: controllers filter duplicate reports
			// within one scan, and some (BlueZ's virtual ones) report an
			// advertiser only when scanning starts.
			_ = c.call(ctx, c.adapter, bluez.Adapter1+".StopDiscovery").Err
			if err := start(); err != nil && ctx.Err() == nil {
				c.log.Debug("restart discovery", "err", err)
			}
			wait = min(2*wait, RescanInterval)
			restart.Reset(wait)
		case r := <-reports:
			p := known[r.path]
			if p == nil {
				p = map[string]dbus.Variant{}
				known[r.path] = p
			}
			for k, v := range r.p {
				p[k] = v
			}
			if a := advertisement(r.path, p); filter.match(a) && !fn(a) {
				return nil
			}
		}
	}
}

// Find scans until a device matching filter is seen and returns it.
func (c *Central) Find(ctx context.Context, filter ScanFilter) (Advertisement, error) {
	var found Advertisement
	err := c.Scan(ctx, filter, func(a Advertisement) bool { found = a; return false })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return found, ErrNotFound
		}
		return found, err
	}
	return found, nil
}

// forgetStale removes cached devices of the adapter that are not connected,
// paired or trusted (see Scan).
func (c *Central) forgetStale(ctx context.Context) error {
	objs, err := c.managedObjects(ctx)
	if err != nil {
		return err
	}
	for path, ifs := range objs {
		p, ok := ifs[bluez.Device1]
		if !ok || !bluez.Under(path, c.adapter) {
			continue
		}
		connected, _ := p["Connected"].Value().(bool)
		paired, _ := p["Paired"].Value().(bool)
		trusted, _ := p["Trusted"].Value().(bool)
		if connected || paired || trusted {
			continue
		}
		// Best effort: the device may be gone already.
		_ = c.call(ctx, c.adapter, bluez.Adapter1+".RemoveDevice", path).Err
	}
	return nil
}
