package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// The Bluenet profile's UUIDs, parsed once.
var (
	bnService     = gatt.MustParseUUID(bluenet.ServiceUUID)
	bnNetworks    = gatt.MustParseUUID(bluenet.NetworksUUID)
	bnState       = gatt.MustParseUUID(bluenet.StateUUID)
	bnHostname    = gatt.MustParseUUID(bluenet.HostnameUUID)
	bnVersion     = gatt.MustParseUUID(bluenet.VersionUUID)
	bnSSID        = gatt.MustParseUUID(bluenet.SSIDUUID)
	bnCredentials = gatt.MustParseUUID(bluenet.CredentialsUUID)
	bnResult      = gatt.MustParseUUID(bluenet.ResultUUID)
)

// ssidKey is the session key of a central's SSID slot.
type ssidKey struct{}

// bluenetService speaks the Bluenet GATT profile on the daemon's core.
type bluenetService struct {
	d       *daemon
	version string

	networks, state, hostname, result *gatt.Char

	mu         sync.Mutex
	lastResult bluenet.ResultCode
	cycleStop  context.CancelFunc // running Available Networks cycle
	joinTimers map[dbus.ObjectPath]*time.Timer
	stopped    bool
}

func newBluenet(d *daemon) *bluenetService {
	v := d.cfg.Version
	if v == "" {
		v = bluenet.Version
	}
	return &bluenetService{d: d, version: v, lastResult: bluenet.ResultNone,
		joinTimers: map[dbus.ObjectPath]*time.Timer{}}
}

func (b *bluenetService) name() string { return ProtocolBluenet }

func (b *bluenetService) gattServices() []gatt.Service {
	return []gatt.Service{{
		UUID:    bnService,
		Primary: true,
		Characteristics: []gatt.Characteristic{
			{UUID: bnNetworks, Flags: gatt.FlagNotify, OnSubscribe: b.onNetworksSubscribe},
			{UUID: bnState, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return EncodeState(b.d.waitState()), nil }},
			{UUID: bnHostname, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return []byte(b.d.hostnameValue()), nil }},
			{UUID: bnVersion, Flags: gatt.FlagRead, Value: []byte(b.version)},
			{UUID: bnSSID, Flags: gatt.FlagWrite, OnWrite: b.onSSIDWrite},
			{UUID: bnCredentials, Flags: gatt.FlagWrite, OnWrite: b.onCredentialsWrite},
			{UUID: bnResult, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return bluenet.EncodeResult(b.lastResultCode()), nil }},
		},
	}}
}

func (b *bluenetService) attach(srv *gatt.Server) {
	b.networks = srv.Characteristic(bnNetworks)
	b.state = srv.Characteristic(bnState)
	b.hostname = srv.Characteristic(bnHostname)
	b.result = srv.Characteristic(bnResult)
}

func (b *bluenetService) advertisement() gatt.Advertisement {
	return gatt.Advertisement{
		Type:         gatt.AdvertisePeripheral,
		ServiceUUIDs: []gatt.UUID{bnService},
		// The name goes into the scan response. LocalName rather than
		// the "local-name" include: for the include the kernel cuts
		// names longer than 10 bytes down to 10.
		LocalName:    advName(b.d.aliasName()),
		Discoverable: true,
	}
}

func (b *bluenetService) wifiChanged(prev, st wifi.State) {
	if !st.Equal(prev) {
		b.d.notify(b.state, EncodeState(st))
	}
	// The original re-sent the host name whenever the link became Connected;
	// with %IP it also changes with the address.
	if (st.Kind == wifi.Connected && prev.Kind != wifi.Connected) || st.IPv4 != prev.IPv4 {
		b.d.notify(b.hostname, []byte(ExpandHostname(b.d.cfg.Hostname, st.IPv4)))
	}
}

func (b *bluenetService) joinChanged(done bool, err error) {
	if !done {
		b.setResult(bluenet.ResultInProgress)
		return
	}
	b.setResult(resultOf(err))
}

func (b *bluenetService) setupChanged() {}

// refuse answers a provisioning write that the setup window or another
// central's setup does not allow, and changes nothing.
func (b *bluenetService) refuse(r *gatt.Request, err error) error {
	if errors.Is(err, setup.ErrBusy) {
		b.d.log.Info("provisioning write refused: another central is setting the device up", "central", r.Address)
		b.setResult(bluenet.ResultBusy)
		return gatt.ErrInProgress
	}
	b.d.log.Info("provisioning write refused: the setup window is closed", "central", r.Address)
	b.setResult(bluenet.ResultNotAuthorized)
	return gatt.ErrNotAuthorized
}

func (b *bluenetService) disconnected(dev gatt.Device) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.joinTimers[dev.Path]; t != nil {
		t.Stop()
		delete(b.joinTimers, dev.Path)
	}
}

func (b *bluenetService) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.cycleStop != nil {
		b.cycleStop()
		b.cycleStop = nil
	}
	for _, t := range b.joinTimers {
		t.Stop()
	}
}

func (b *bluenetService) lastResultCode() bluenet.ResultCode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastResult
}

func (b *bluenetService) setResult(c bluenet.ResultCode) {
	b.mu.Lock()
	b.lastResult = c
	b.mu.Unlock()
	b.d.notify(b.result, bluenet.EncodeResult(c))
}

// onSSIDWrite keeps the SSID a central wants to join in its session. The
// value is what the gatt server assembled from the central's (long) write.
func (b *bluenetService) onSSIDWrite(r *gatt.Request, value []byte) error {
	if err := b.d.startSetup(r.Device); err != nil {
		return b.refuse(r, err)
	}
	if len(value) > 32 {
		b.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	if r.Offset == 0 && len(value) == 0 {
		b.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	r.Session.Store(ssidKey{}, append([]byte(nil), value...))
	b.d.log.Debug("SSID written", "ssid", string(value), "central", r.Address)
	return nil
}

// onCredentialsWrite checks the secret and starts the join with the SSID
// the same central wrote before. When the piece may be followed by more
// pieces of a long write, the join starts after JoinDelay unless another
// piece arrives first.
func (b *bluenetService) onCredentialsWrite(r *gatt.Request, value []byte) error {
	if err := b.d.startSetup(r.Device); err != nil {
		return b.refuse(r, err)
	}
	v, ok := r.Session.Load(ssidKey{})
	ssid, _ := v.([]byte)
	if !ok || wifi.ValidateSSID(ssid) != nil {
		b.setResult(bluenet.ResultInvalidInput)
		b.d.log.Info("credentials written before a valid SSID", "central", r.Address)
		return gatt.ErrNotPermitted
	}
	if len(value) > 64 {
		b.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	secret := string(value)
	// A prepared-write piece carries MTU-5 bytes; a shorter one is the last.
	more := r.MTU > 5 && len(r.Chunk) >= int(r.MTU)-5
	if !more {
		if err := wifi.ValidateSecret(secret); err != nil {
			b.setResult(bluenet.ResultInvalidInput)
			b.d.log.Info("credentials rejected", "central", r.Address, "reason", "invalid length or characters")
			return gatt.ErrInvalidValueLength
		}
	}
	delay := time.Duration(0)
	if more {
		delay = b.d.cfg.JoinDelay
	}
	b.scheduleJoin(r.Device, r.Address, ssid, secret, delay)
	return nil
}

// scheduleJoin (re)starts the central's join timer.
func (b *bluenetService) scheduleJoin(dev dbus.ObjectPath, addr string, ssid []byte, secret string, delay time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if t := b.joinTimers[dev]; t != nil {
		t.Stop()
	}
	b.joinTimers[dev] = time.AfterFunc(delay, func() {
		b.mu.Lock()
		delete(b.joinTimers, dev)
		b.mu.Unlock()
		if err := wifi.ValidateSecret(secret); err != nil {
			b.setResult(bluenet.ResultInvalidInput)
			b.d.log.Info("credentials rejected", "central", addr, "reason", "invalid length or characters")
			return
		}
		b.d.goOwned(func(ctx context.Context) {
			if err := b.d.join(ctx, dev, addr, ssid, secret); wifi.ReasonOf(err) == wifi.ReasonBusy {
				// The running join keeps its own result; tell only this one off.
				b.setResult(bluenet.ResultBusy)
			}
		})
	})
}

// onNetworksSubscribe starts the Available Networks cycle when a central
// subscribes and stops it when the last one leaves.
func (b *bluenetService) onNetworksSubscribe(subscribed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !subscribed {
		if b.cycleStop != nil {
			b.cycleStop()
			b.cycleStop = nil
			b.d.log.Debug("available networks: nobody subscribed, cycle stopped")
		}
		return
	}
	if b.cycleStop != nil || b.stopped {
		return // already running for an earlier subscriber
	}
	var ctx context.Context
	ctx, b.cycleStop = context.WithCancel(b.d.ctx)
	b.d.goOwned(func(context.Context) { b.cycle(ctx) })
}

// cycle sends every known SSID once, NotifyGap apart, pauses CyclePause and
// starts again, until ctx is done. An empty list waits for the next scan.
func (b *bluenetService) cycle(ctx context.Context) {
	d := b.d
	scanCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := d.cfg.WiFi.RequestScan(scanCtx); err != nil {
		d.log.Debug("request scan", "err", err)
	}
	cancel()
	d.log.Debug("available networks: cycle started")
	gap := time.NewTimer(0)
	defer gap.Stop()
	wait := func(dur time.Duration, changed <-chan struct{}) bool {
		gap.Reset(dur)
		select {
		case <-ctx.Done():
			return false
		case <-gap.C:
		case <-changed:
			if !gap.Stop() {
				<-gap.C
			}
		}
		return true
	}
	<-gap.C
	for {
		aps, changed := d.accessPoints()
		list := NetworkList(aps)
		if len(list) == 0 {
			if !wait(d.cfg.CyclePause, changed) {
				return
			}
			continue
		}
		for i, ssid := range list {
			if ctx.Err() != nil {
				return
			}
			d.notify(b.networks, ssid)
			if i < len(list)-1 && !wait(d.cfg.NotifyGap, nil) {
				return
			}
		}
		if !wait(d.cfg.CyclePause, nil) {
			return
		}
	}
}
