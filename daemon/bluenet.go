package daemon

import (
	"bytes"
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
	bnIdentity    = gatt.MustParseUUID(bluenet.IdentityUUID)
	bnDetails     = gatt.MustParseUUID(bluenet.DetailsUUID)
)

// detailsPayload is the Network Details notification size: what ATT's
// default MTU 23 carries, so that every phone gets whole notifications.
const detailsPayload = 20

// ssidKey and identityKey are the session keys of a central's SSID and
// 802.1X login.
type (
	ssidKey     struct{}
	identityKey struct{}
)

// bluenetService speaks the Bluenet GATT profile on the daemon's core.
type bluenetService struct {
	d       *daemon
	version string

	networks, state, hostname, result, details *gatt.Char

	mu         sync.Mutex
	lastResult bluenet.ResultCode
	cycleStop  context.CancelFunc // running Available Networks cycle
	detailStop context.CancelFunc // running Network Details rounds
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
			{UUID: bnSSID, Flags: b.d.protect(gatt.FlagWrite), OnWrite: b.onSSIDWrite},
			{UUID: bnCredentials, Flags: b.d.protect(gatt.FlagWrite), OnWrite: b.onCredentialsWrite},
			{UUID: bnResult, Flags: b.d.protect(gatt.FlagRead | gatt.FlagNotify),
				OnRead: func(*gatt.Request) ([]byte, error) { return bluenet.EncodeResult(b.lastResultCode()), nil }},
			{UUID: bnIdentity, Flags: b.d.protect(gatt.FlagWrite), OnWrite: b.onIdentityWrite},
			{UUID: bnDetails, Flags: b.d.protect(gatt.FlagRead | gatt.FlagNotify), OnSubscribe: b.onDetailsSubscribe,
				OnRead: func(*gatt.Request) ([]byte, error) { return bluenet.EncodeDetails(b.detailsList()), nil }},
		},
	}}
}

func (b *bluenetService) attach(srv *gatt.Server) {
	b.networks = srv.Characteristic(bnNetworks)
	b.state = srv.Characteristic(bnState)
	b.hostname = srv.Characteristic(bnHostname)
	b.result = srv.Characteristic(bnResult)
	b.details = srv.Characteristic(bnDetails)
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
		Duration:     advDuration,
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
	if b.detailStop != nil {
		b.detailStop()
		b.detailStop = nil
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
	idv, _ := r.Session.Load(identityKey{})
	login, _ := idv.(*wifi.EAP)
	if len(value) > 64 && (login == nil || len(value) > wifi.MaxEAPPasswordLen) {
		b.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	cred := wifi.Passphrase(string(value))
	if login != nil {
		l := *login
		l.Password = string(value)
		cred = wifi.Credentials{EAP: &l}
	}
	// A prepared-write piece carries MTU-5 bytes; a shorter one is the last.
	more := r.MTU > 5 && len(r.Chunk) >= int(r.MTU)-5
	if !more {
		if err := cred.Validate(); err != nil {
			b.setResult(bluenet.ResultInvalidInput)
			b.d.log.Info("credentials rejected", "central", r.Address, "reason", "invalid length or characters")
			return gatt.ErrInvalidValueLength
		}
	}
	delay := time.Duration(0)
	if more {
		delay = b.d.cfg.JoinDelay
	}
	b.scheduleJoin(r.Device, r.Address, ssid, cred, delay)
	return nil
}

// onIdentityWrite keeps an 802.1X login in the central's session: its next
// Credentials write is the password of an enterprise join. The device's
// system CAs check the server unless the phone asks for no check (logged
// as a warning by the backend).
func (b *bluenetService) onIdentityWrite(r *gatt.Request, value []byte) error {
	if err := b.d.startSetup(r.Device); err != nil {
		return b.refuse(r, err)
	}
	// A long write arrives in pieces; only the whole value parses.
	more := r.MTU > 5 && len(r.Chunk) >= int(r.MTU)-5
	id, err := bluenet.ParseIdentity(value)
	if err != nil {
		if more {
			r.Session.Delete(identityKey{})
			return nil
		}
		b.setResult(bluenet.ResultInvalidInput)
		b.d.log.Info("identity rejected", "central", r.Address, "err", err)
		return gatt.ErrInvalidValueLength
	}
	login := &wifi.EAP{Method: wifi.EAPPEAP, Phase2: wifi.Phase2MSCHAPv2, Identity: id.Identity,
		AnonymousIdentity: id.AnonymousIdentity, DomainSuffixMatch: id.DomainSuffixMatch, NoCACheck: id.NoCACheck}
	if id.Method == bluenet.EAPTTLS {
		login.Method = wifi.EAPTTLS
	}
	if id.Inner == bluenet.InnerPAP {
		login.Phase2 = wifi.Phase2PAP
	}
	r.Session.Store(identityKey{}, login)
	b.d.log.Debug("identity written", "identity", id.Identity, "central", r.Address)
	return nil
}

// scheduleJoin (re)starts the central's join timer.
func (b *bluenetService) scheduleJoin(dev dbus.ObjectPath, addr string, ssid []byte, cred wifi.Credentials, delay time.Duration) {
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
		if err := cred.Validate(); err != nil {
			b.setResult(bluenet.ResultInvalidInput)
			b.d.log.Info("credentials rejected", "central", addr, "reason", "invalid length or characters")
			return
		}
		b.d.goOwned(func(ctx context.Context) {
			if err := b.d.join(ctx, dev, addr, ssid, cred); wifi.ReasonOf(err) == wifi.ReasonBusy {
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
	d.requestScan(ctx)
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
			// The gap runs from one notification's start to the next:
			// sending one takes time of its own.
			sent := time.Now()
			d.notify(b.networks, ssid)
			if i < len(list)-1 && !wait(time.Until(sent.Add(d.cfg.NotifyGap)), nil) {
				return
			}
		}
		if !wait(d.cfg.CyclePause, nil) {
			return
		}
	}
}

// requestScan asks the Wi-Fi backend for a fresh scan without waiting for
// its answer: the list known now is sent at once, and the scan's results
// come with the next round.
func (d *daemon) requestScan(ctx context.Context) {
	d.goOwned(func(context.Context) {
		scanCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := d.cfg.WiFi.RequestScan(scanCtx); err != nil {
			d.log.Debug("request scan", "err", err)
		}
	})
}

// detailsList is Network Details' list: one entry per SSID (its strongest
// access point), strongest first, hidden ones left out, the network in use
// marked.
func (b *bluenetService) detailsList() []bluenet.NetworkDetails {
	aps, _ := b.d.accessPoints()
	cur := b.d.currentState()
	var out []bluenet.NetworkDetails
	for _, ssid := range NetworkList(aps) {
		best := wifi.AccessPoint{}
		for _, ap := range aps {
			if bytes.Equal(ap.SSID, ssid) && (best.SSID == nil || ap.Strength > best.Strength) {
				best = ap
			}
		}
		r := rssi(best)
		out = append(out, bluenet.NetworkDetails{SSID: ssid, RSSI: int8(max(min(r, 0), -128)),
			Security: detailsSecurity(best.Auth), Band: detailsBand(best.Band()),
			Current: cur.Kind == wifi.Connected && bytes.Equal(cur.SSID, ssid)})
	}
	return out
}

// onDetailsSubscribe sends Network Details rounds while anyone is
// subscribed: one at once (after asking for a fresh scan), then one every
// CyclePause.
func (b *bluenetService) onDetailsSubscribe(subscribed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !subscribed {
		if b.detailStop != nil {
			b.detailStop()
			b.detailStop = nil
		}
		return
	}
	if b.detailStop != nil || b.stopped {
		return
	}
	var ctx context.Context
	ctx, b.detailStop = context.WithCancel(b.d.ctx)
	b.d.goOwned(func(context.Context) { b.detailRounds(ctx) })
}

func (b *bluenetService) detailRounds(ctx context.Context) {
	d := b.d
	d.requestScan(ctx)
	for {
		for _, v := range bluenet.DetailsNotifications(b.detailsList(), detailsPayload) {
			if ctx.Err() != nil {
				return
			}
			d.notify(b.details, v)
			if !sleep(ctx, d.cfg.NotifyGap) {
				return
			}
		}
		// Again after the pause, as Available Networks does: a phone that
		// subscribed in the middle of a round gets the next one whole.
		if !sleep(ctx, d.cfg.CyclePause) {
			return
		}
	}
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
