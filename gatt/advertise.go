package gatt

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// AdvertisementType is the LEAdvertisement1 Type.
type AdvertisementType uint8

// Advertisement types. A GATT server must use AdvertisePeripheral: BlueZ
// makes only "peripheral" advertisements connectable.
const (
	AdvertisePeripheral AdvertisementType = iota // "peripheral" (connectable)
	AdvertiseBroadcast                           // "broadcast" (not connectable)
)

// String returns the BlueZ spelling.
func (t AdvertisementType) String() string {
	if t == AdvertiseBroadcast {
		return "broadcast"
	}
	return "peripheral"
}

// Include is a set of fields bluetoothd adds to the advertisement itself
// (LEAdvertisement1 Includes).
type Include uint8

// Includes.
const (
	IncludeTxPower    Include = 1 << iota // "tx-power"
	IncludeAppearance                     // "appearance"
	IncludeLocalName                      // "local-name": the adapter's alias
)

// Strings returns the BlueZ strings.
func (in Include) Strings() []string {
	out := []string{}
	if in&IncludeTxPower != 0 {
		out = append(out, "tx-power")
	}
	if in&IncludeAppearance != 0 {
		out = append(out, "appearance")
	}
	if in&IncludeLocalName != 0 {
		out = append(out, "local-name")
	}
	return out
}

// Advertisement describes an LE advertisement (org.bluez.LEAdvertisement1,
// doc/advertising-api.txt). Zero fields are left out.
//
// Size: legacy advertising data holds 31 bytes, 3 of which go to the flags
// field. A 128-bit service UUID takes 18, so a name rarely fits beside it:
// BlueZ 5.66 puts LocalName (and the alias for IncludeLocalName) into the
// scan response, where centrals that scan actively (all phones, BlueZ)
// find it. [Server.Advertise] computes the advertising data size the way
// bluetoothd does and returns ErrAdvertisementTooLarge instead of letting
// registration fail with a generic error.
type Advertisement struct {
	Type             AdvertisementType
	ServiceUUIDs     []UUID
	SolicitUUIDs     []UUID
	ManufacturerData map[uint16][]byte
	ServiceData      map[UUID][]byte
	// LocalName is sent in the scan response (at most 29 bytes).
	LocalName string
	Includes  Include
	// Appearance (GAP appearance value); 0 leaves it out.
	Appearance uint16
	// Discoverable sets the general discoverable flag independently of the
	// adapter's Discoverable property.
	Discoverable        bool
	DiscoverableTimeout uint16
	// Duration is how long this advertisement is sent when BlueZ rotates
	// between several, in seconds; 0 = BlueZ default (2 s).
	Duration uint16
	// Timeout, in seconds, after which BlueZ removes the advertisement; 0
	// means never.
	Timeout uint16
	// MinInterval and MaxInterval are the advertising interval (BlueZ 5.66
	// honours them only when bluetoothd runs with --experimental; without it
	// they are ignored, not rejected). Millisecond resolution.
	MinInterval, MaxInterval time.Duration
	// TxPower requests a transmit power in dBm (experimental, as above).
	TxPower *int16
}

// advDataLen returns the length of the advertising data bluetoothd would
// build, counting the flags field.
func (a *Advertisement) advDataLen() int {
	n := 3 // flags
	uuidList := func(us []UUID) int {
		var by [17]int
		for _, u := range us {
			by[advLen(u)]++
		}
		t := 0
		for sz, cnt := range by {
			if cnt > 0 {
				t += 2 + sz*cnt
			}
		}
		return t
	}
	n += uuidList(a.ServiceUUIDs) + uuidList(a.SolicitUUIDs)
	for _, d := range a.ManufacturerData {
		n += 2 + 2 + len(d)
	}
	for u, d := range a.ServiceData {
		n += 2 + advLen(u) + len(d)
	}
	if a.Includes&IncludeTxPower != 0 || a.TxPower != nil {
		n += 3
	}
	if a.Includes&IncludeAppearance != 0 || a.Appearance != 0 {
		n += 4
	}
	return n
}

// Validate checks the advertisement against the 31-byte legacy limits.
func (a *Advertisement) Validate() error {
	if n := a.advDataLen(); n > 31 {
		return fmt.Errorf("%w: advertising data needs %d bytes", ErrAdvertisementTooLarge, n)
	}
	if len(a.LocalName) > 29 {
		return fmt.Errorf("%w: local name of %d bytes does not fit in the scan response", ErrAdvertisementTooLarge, len(a.LocalName))
	}
	if a.MinInterval > a.MaxInterval && a.MaxInterval != 0 {
		return fmt.Errorf("gatt: advertisement MinInterval %v > MaxInterval %v", a.MinInterval, a.MaxInterval)
	}
	return nil
}

func (a *Advertisement) props() map[string]dbus.Variant {
	m := map[string]dbus.Variant{"Type": dbus.MakeVariant(a.Type.String())}
	uuids := func(us []UUID) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.String()
		}
		return out
	}
	if len(a.ServiceUUIDs) > 0 {
		m["ServiceUUIDs"] = dbus.MakeVariant(uuids(a.ServiceUUIDs))
	}
	if len(a.SolicitUUIDs) > 0 {
		m["SolicitUUIDs"] = dbus.MakeVariant(uuids(a.SolicitUUIDs))
	}
	if len(a.ManufacturerData) > 0 {
		md := make(map[uint16]dbus.Variant, len(a.ManufacturerData))
		for k, v := range a.ManufacturerData {
			md[k] = dbus.MakeVariant(append([]byte{}, v...))
		}
		m["ManufacturerData"] = dbus.MakeVariant(md)
	}
	if len(a.ServiceData) > 0 {
		sd := make(map[string]dbus.Variant, len(a.ServiceData))
		for k, v := range a.ServiceData {
			sd[k.String()] = dbus.MakeVariant(append([]byte{}, v...))
		}
		m["ServiceData"] = dbus.MakeVariant(sd)
	}
	if a.LocalName != "" {
		m["LocalName"] = dbus.MakeVariant(a.LocalName)
	}
	if inc := a.Includes.Strings(); len(inc) > 0 {
		m["Includes"] = dbus.MakeVariant(inc)
	}
	if a.Appearance != 0 {
		m["Appearance"] = dbus.MakeVariant(a.Appearance)
	}
	if a.Discoverable {
		m["Discoverable"] = dbus.MakeVariant(true)
		if a.DiscoverableTimeout != 0 {
			m["DiscoverableTimeout"] = dbus.MakeVariant(a.DiscoverableTimeout)
		}
	}
	if a.Duration != 0 {
		m["Duration"] = dbus.MakeVariant(a.Duration)
	}
	if a.Timeout != 0 {
		m["Timeout"] = dbus.MakeVariant(a.Timeout)
	}
	if a.MinInterval != 0 {
		m["MinInterval"] = dbus.MakeVariant(uint32(a.MinInterval / time.Millisecond))
	}
	if a.MaxInterval != 0 {
		m["MaxInterval"] = dbus.MakeVariant(uint32(a.MaxInterval / time.Millisecond))
	}
	if a.TxPower != nil {
		m["TxPower"] = dbus.MakeVariant(*a.TxPower)
	}
	return m
}

// MaxAdvertisements is how many advertising instances a Server can hold at
// once (see [Server.AdvertiseInstance]). How many the controller can send
// at the same time is the adapter's SupportedInstances (LEAdvertisingManager1).
const MaxAdvertisements = 4

// advSlot is one advertising instance.
type advSlot struct {
	want       *Advertisement // wanted advertisement, nil when not advertising
	registered bool
	sent       *Advertisement // what the last RegisterAdvertisement carried
}

// advPath is the object path of advertising instance i.
func (s *Server) advPath(i int) dbus.ObjectPath {
	return s.cfg.Path + dbus.ObjectPath(fmt.Sprintf("/adv%d", i))
}

// advsLostLocked marks every instance as no longer registered (bluetoothd or
// the adapter went away); s.mu is held.
func (s *Server) advsLostLocked() {
	for i := range s.advs {
		s.advs[i].registered = false
	}
}

// advPendingLocked reports whether an instance is wanted but not
// registered; s.mu is held.
func (s *Server) advPendingLocked() bool {
	for _, a := range s.advs {
		if a.want != nil && !a.registered {
			return true
		}
	}
	return false
}

// advObj carries the LEAdvertisement1 methods of instance i.
type advObj struct {
	s *Server
	i int
}

// table returns the LEAdvertisement1 method table.
func (o *advObj) table() map[string]any { return map[string]any{"Release": o.Release} }

// Release implements LEAdvertisement1.Release: bluetoothd dropped the
// advertisement (its Timeout expired, or the adapter went away).
func (o *advObj) Release(msg dbus.Message) *dbus.Error {
	s := o.s
	if !s.fromBluez(msg) {
		return errNotBluez
	}
	s.mu.Lock()
	s.advs[o.i].registered = false
	s.mu.Unlock()
	s.log.Info("advertisement released by bluetoothd", "instance", o.i)
	return nil
}

func (s *Server) advProps(i int) map[string]dbus.Variant {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.advs[i].want == nil {
		return map[string]dbus.Variant{"Type": dbus.MakeVariant("peripheral")}
	}
	return s.advs[i].want.props()
}

func (s *Server) exportAdv() error {
	for i := range s.advs {
		props := func() map[string]dbus.Variant { return s.advProps(i) }
		if err := s.exportOne(s.advPath(i), bluez.LEAdvertisement1, (&advObj{s, i}).table(), props, nil); err != nil {
			return err
		}
	}
	return nil
}

// registerAdv registers advertising instance i; regMu is held. Once sent,
// the call is waited for even when ctx ends (see Server.register).
//
// A registration that bluetoothd answered only after the call timeout went
// through all the same: bluetoothd holds the path, with the properties it
// read then, and answers the next RegisterAdvertisement with AlreadyExists.
// The instance then counts as registered with what that call carried. It
// is not taken back at once: the late registration may still be pending in
// bluetoothd, and BlueZ 5.66 aborts when an advertisement is unregistered
// while its registration is pending. If the wanted advertisement has
// changed since, an error says so, and the next AdvertiseInstance replaces
// it as it replaces any registered advertisement.
func (s *Server) registerAdv(ctx context.Context, adapter dbus.BusObject, i int) error {
	s.mu.Lock()
	late, want := s.advs[i].sent, s.advs[i].want
	s.advs[i].sent = want
	s.mu.Unlock()
	err := s.register(ctx, adapter, bluez.LEAdvertisingManager1+".RegisterAdvertisement", s.advPath(i))
	if err != nil && errors.Is(mapBluezError(err), ErrAlreadyExists) {
		s.mu.Lock()
		s.advs[i].registered = true
		s.advs[i].sent = late
		same := late != nil && want != nil && sameProps(late.props(), want.props())
		s.mu.Unlock()
		if !same {
			return fmt.Errorf("gatt: register advertisement: %w: an earlier version, registered after its call timed out (replaced at the next call)", ErrAlreadyExists)
		}
		s.log.Info("advertisement registered by a call that timed out", "path", s.advPath(i))
		return nil
	}
	if err != nil {
		err = mapBluezError(err)
		return fmt.Errorf("gatt: register advertisement: %w", err)
	}
	s.mu.Lock()
	s.advs[i].registered = true
	s.mu.Unlock()
	s.log.Info("advertisement registered", "path", s.advPath(i))
	return nil
}

// Advertise starts advertising adv as instance 0, replacing what that
// instance advertised, and keeps it registered across bluetoothd restarts
// until StopAdvertising or Close. It returns when bluetoothd has accepted
// it. When it fails the instance is left not advertising.
func (s *Server) Advertise(ctx context.Context, adv Advertisement) error {
	return s.AdvertiseInstance(ctx, 0, adv)
}

// AdvertiseInstance is [Server.Advertise] for instance i (0 ≤ i <
// MaxAdvertisements). Instances are independent advertisements, each with
// its own data and scan response; the controller rotates between them
// (bluetoothd refuses more than the adapter's SupportedInstances with
// ErrAdvertisingSlotsFull). Replacing an instance's data re-registers it;
// replacing it with the same data does nothing.
//
// The data is not changed in place with a PropertiesChanged signal, which
// bluetoothd (since 5.48) would apply without re-registering: before BlueZ
// 5.73 the refresh it starts is not tracked, so an advertisement
// unregistered or a client gone while it is pending is used after being
// freed (BlueZ commit c01c40498), and before 5.74 a refused refresh aborts
// bluetoothd (6b5447583). Debian 12 and Raspberry Pi OS ship 5.66.
func (s *Server) AdvertiseInstance(ctx context.Context, i int, adv Advertisement) error {
	if i < 0 || i >= MaxAdvertisements {
		return fmt.Errorf("gatt: advertising instance %d out of range [0, %d)", i, MaxAdvertisements)
	}
	if err := adv.Validate(); err != nil {
		return err
	}
	cp := adv
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	adapter, reg := s.adapter, s.advs[i].registered
	s.mu.Unlock()
	if adapter == "" {
		return ErrNoAdapter
	}
	obj := s.conn.Object(bluez.BusName, adapter)
	if reg {
		s.mu.Lock()
		same := s.advs[i].want != nil && sameProps(s.advs[i].want.props(), cp.props())
		s.mu.Unlock()
		if same {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := obj.CallWithContext(cctx, bluez.LEAdvertisingManager1+".UnregisterAdvertisement", 0, s.advPath(i)).Err
		cancel()
		s.mu.Lock()
		s.advs[i].registered = false
		s.mu.Unlock()
		if err != nil {
			s.log.Debug("unregister advertisement", "instance", i, "err", err)
		}
	}
	s.mu.Lock()
	s.advs[i].want = &cp
	s.mu.Unlock()
	if err := s.registerAdv(ctx, obj, i); err != nil {
		s.mu.Lock()
		s.advs[i].want = nil
		s.mu.Unlock()
		return err
	}
	return nil
}

// StopAdvertising unregisters every advertising instance. It is not an
// error to stop when not advertising.
func (s *Server) StopAdvertising(ctx context.Context) error {
	var errs []error
	for i := range MaxAdvertisements {
		errs = append(errs, s.StopInstance(ctx, i))
	}
	return errors.Join(errs...)
}

// StopInstance unregisters advertising instance i. It is not an error to
// stop an instance that is not advertising.
func (s *Server) StopInstance(ctx context.Context, i int) error {
	if i < 0 || i >= MaxAdvertisements {
		return fmt.Errorf("gatt: advertising instance %d out of range [0, %d)", i, MaxAdvertisements)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	adapter, reg := s.adapter, s.advs[i].registered
	s.advs[i].want = nil
	s.advs[i].registered = false
	s.mu.Unlock()
	if !reg || adapter == "" {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.conn.Object(bluez.BusName, adapter).CallWithContext(cctx, bluez.LEAdvertisingManager1+".UnregisterAdvertisement", 0, s.advPath(i)).Err
	if err != nil {
		return fmt.Errorf("gatt: unregister advertisement %d: %w", i, mapBluezError(err))
	}
	return nil
}

// Advertising reports whether an advertisement (of any instance) is
// currently registered.
func (s *Server) Advertising() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.advs {
		if a.registered {
			return true
		}
	}
	return false
}

// AdvertisingInstance reports whether instance i is currently registered.
func (s *Server) AdvertisingInstance(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return i >= 0 && i < MaxAdvertisements && s.advs[i].registered
}

// sameProps reports whether two advertisements' properties are equal.
func sameProps(a, b map[string]dbus.Variant) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !reflect.DeepEqual(v.Value(), w.Value()) {
			return false
		}
	}
	return true
}
