package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

// ImprovConfig configures the Improv Wi-Fi service.
type ImprovConfig struct {
	// URL is the redirect URL sent in the RPC result after a successful
	// provisioning; "%IP" in it is replaced by the new IPv4 address. Empty:
	// the result carries no URL.
	URL string
	// IdentifyCommand is run through /bin/sh -c when a phone asks the device
	// to identify itself (e.g. blink an LED); empty: Identify is not offered.
	IdentifyCommand string
	// Hardware is the hardware name in Device Info; empty: the device-tree
	// model, the DMI product name, or the architecture.
	Hardware string
	// FirmwareVersion is Bluenet's version in Device Info; default "dev".
	FirmwareVersion string
	// Hostnames reads and sets the host name; nil: systemd-hostnamed on
	// Config.Conn.
	Hostnames Hostnamer
}

// Hostnamer reads and sets the machine's host name.
type Hostnamer interface {
	Hostname(ctx context.Context) (string, error)
	SetHostname(ctx context.Context, name string) error
}

// Improv UUIDs, parsed once.
var (
	imService      = gatt.MustParseUUID(improv.ServiceUUID)
	imState        = gatt.MustParseUUID(improv.StateUUID)
	imError        = gatt.MustParseUUID(improv.ErrorUUID)
	imRPCCommand   = gatt.MustParseUUID(improv.RPCCommandUUID)
	imRPCResult    = gatt.MustParseUUID(improv.RPCResultUUID)
	imCapabilities = gatt.MustParseUUID(improv.CapabilitiesUUID)
	imServiceData  = gatt.MustParseUUID(improv.ServiceDataUUID)
)

const (
	// identifyEvery is the least time between two Identify commands run.
	identifyEvery = 3 * time.Second
	// rpcStale is how long an incomplete RPC packet waits for its next piece;
	// a new packet after that starts clean.
	rpcStale = 2 * time.Second
	// scanWait bounds how long a Scan RPC waits for results when none are
	// known yet.
	scanWait = 8 * time.Second
)

// rpcKey is the session key of a central's RPC reassembly.
type rpcKey struct{}

// rpcBuffer is one central's RPC reassembly.
type rpcBuffer struct {
	mu   sync.Mutex
	asm  improv.Assembler
	last time.Time
}

// improvService speaks Improv Wi-Fi via BLE on the daemon's core.
type improvService struct {
	d     *daemon
	cfg   ImprovConfig
	caps  improv.Capabilities
	hosts Hostnamer

	state, errState, result *gatt.Char

	mu           sync.Mutex
	shown        improv.State     // last state notified
	errCode      improv.ErrorCode // Error State
	lastResult   []byte           // RPC Result value
	provisioning bool             // an Improv join is running
	provisioned  dbus.ObjectPath  // central whose join succeeded, until it leaves
	failed       dbus.ObjectPath  // central whose join failed, until it leaves
	lastIdentify time.Time
}

func newImprov(d *daemon) *improvService {
	cfg := d.cfg.Improv
	if cfg.FirmwareVersion == "" {
		cfg.FirmwareVersion = "dev"
	}
	s := &improvService{d: d, cfg: cfg, hosts: cfg.Hostnames,
		caps: improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname}
	if cfg.IdentifyCommand != "" {
		s.caps |= improv.CapabilityIdentify
	}
	if s.hosts == nil {
		s.hosts = hostnamed{conn: d.cfg.Conn}
	}
	s.shown = s.computeState()
	return s
}

func (s *improvService) name() string { return ProtocolImprov }

func (s *improvService) gattServices() []gatt.Service {
	return []gatt.Service{{
		UUID:    imService,
		Primary: true,
		Characteristics: []gatt.Characteristic{
			{UUID: imState, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return []byte{byte(s.currentState())}, nil }},
			{UUID: imError, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return []byte{byte(s.errorCode())}, nil }},
			// Home Assistant writes with response, the Improv web page without.
			{UUID: imRPCCommand, Flags: s.d.protect(gatt.FlagWrite | gatt.FlagWriteWithoutResponse), OnWrite: s.onRPCWrite},
			{UUID: imRPCResult, Flags: gatt.FlagRead | gatt.FlagNotify,
				OnRead: func(*gatt.Request) ([]byte, error) { return s.resultValue(), nil }},
			{UUID: imCapabilities, Flags: gatt.FlagRead, Value: []byte{byte(s.caps)}},
		},
	}}
}

func (s *improvService) attach(srv *gatt.Server) {
	s.state = srv.Characteristic(imState)
	s.errState = srv.Characteristic(imError)
	s.result = srv.Characteristic(imRPCResult)
}

// advertisement puts the service UUID and the service data 4677 in the
// advertising data itself (Home Assistant ignores them in the scan
// response): flags 3 + UUID 18 + service data 10 = 31 bytes, so the name
// goes in the scan response.
func (s *improvService) advertisement() gatt.Advertisement {
	return gatt.Advertisement{
		Type:         gatt.AdvertisePeripheral,
		ServiceUUIDs: []gatt.UUID{imService},
		ServiceData:  map[gatt.UUID][]byte{imServiceData: improv.EncodeServiceData(s.currentState(), s.caps)},
		LocalName:    advName(s.d.aliasName()),
		Discoverable: true,
		Duration:     advDuration,
	}
}

func (s *improvService) wifiChanged(prev, cur wifi.State) {
	if cur.Kind != wifi.Connected {
		s.mu.Lock()
		s.provisioned = ""
		s.mu.Unlock()
	}
	s.refresh()
}

func (s *improvService) joinChanged(bool, error) {}

func (s *improvService) setupChanged() { s.refresh() }

func (s *improvService) disconnected(dev gatt.Device) {
	s.mu.Lock()
	if s.provisioned == dev.Path {
		s.provisioned = ""
	}
	if s.failed == dev.Path {
		s.failed = ""
	}
	s.mu.Unlock()
	s.refresh()
}

func (s *improvService) stop() {}

// computeState decides the Current State:
//   - Provisioning while a join asked for over Improv runs;
//   - Authorized after that join failed, until its central leaves, so that
//     the phone can try again;
//   - Provisioned after it succeeded, and whenever the device is online and
//     nobody authorized a setup on the device: Home Assistant's discovery
//     skips such devices, so a working device does not nag every Home
//     Assistant in range;
//   - Authorized while the setup window is open, else Authorization
//     Required.
func (s *improvService) computeState() improv.State {
	s.mu.Lock()
	provisioning, provisioned, failed := s.provisioning, s.provisioned != "", s.failed != ""
	s.mu.Unlock()
	online := s.d.currentState().Kind == wifi.Connected
	switch {
	case provisioning:
		return improv.StateProvisioning
	case failed && s.d.setupOpen():
		return improv.StateAuthorized
	case provisioned:
		return improv.StateProvisioned // its Connected state may be a moment behind
	case online && !s.d.setupAuthorized():
		return improv.StateProvisioned
	case s.d.setupOpen():
		return improv.StateAuthorized
	}
	return improv.StateAuthorizationRequired
}

func (s *improvService) currentState() improv.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown
}

// refresh recomputes the state; when it changed, it is notified and the
// advertisement's service data follows advSettle later.
func (s *improvService) refresh() {
	st := s.computeState()
	s.mu.Lock()
	changed := st != s.shown
	s.shown = st
	s.mu.Unlock()
	if !changed {
		return
	}
	s.d.log.Info("improv", "state", st.String())
	if s.state != nil {
		s.d.notify(s.state, []byte{byte(st)})
	}
	s.d.pokeSoon()
}

func (s *improvService) errorCode() improv.ErrorCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errCode
}

func (s *improvService) setError(e improv.ErrorCode) {
	s.mu.Lock()
	changed := s.errCode != e
	s.errCode = e
	s.mu.Unlock()
	if changed {
		if e != improv.ErrorNone {
			s.d.log.Info("improv error", "error", e.String())
		}
		s.d.notify(s.errState, []byte{byte(e)})
	}
}

func (s *improvService) resultValue() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.lastResult)
}

func (s *improvService) sendResult(b []byte) {
	s.mu.Lock()
	s.lastResult = bytes.Clone(b)
	s.mu.Unlock()
	s.d.notify(s.result, b)
}

// onRPCWrite feeds one written piece into the central's reassembly and
// handles each complete packet. Errors are reported in Error State, never
// as an ATT error: the write itself always succeeds.
func (s *improvService) onRPCWrite(r *gatt.Request, _ []byte) error {
	v, _ := r.Session.Load(rpcKey{})
	buf, ok := v.(*rpcBuffer)
	if !ok {
		buf = &rpcBuffer{}
		r.Session.Store(rpcKey{}, buf)
	}
	buf.mu.Lock()
	now := time.Now()
	if r.Offset == 0 && buf.asm.Pending() > 0 && now.Sub(buf.last) > rpcStale {
		buf.asm.Reset() // the rest of an earlier packet never came
	}
	buf.last = now
	p, done, err := buf.asm.Write(int(r.Offset), r.Chunk)
	buf.mu.Unlock()
	switch {
	case err != nil:
		s.d.log.Info("improv: invalid RPC packet", "central", r.Address, "err", err)
		s.setError(improv.ErrorInvalidRPC)
	case done:
		s.handle(r, p)
	}
	return nil
}

// handle runs one RPC command.
func (s *improvService) handle(r *gatt.Request, p improv.Packet) {
	s.setError(improv.ErrorNone) // a new RPC clears the error
	s.d.log.Debug("improv RPC", "command", p.Command.String(), "central", r.Address)
	switch p.Command {
	case improv.CommandWiFiSettings:
		s.wifiSettings(r, p.Data)
	case improv.CommandIdentify:
		s.identify()
	case improv.CommandDeviceInfo:
		s.sendResult(improv.EncodeDeviceInfo(improv.DeviceInfo{
			FirmwareName: "bluenet", FirmwareVersion: s.cfg.FirmwareVersion,
			Hardware: s.hardware(), DeviceName: s.d.aliasName(),
		}))
	case improv.CommandScan:
		s.d.goOwned(s.scan)
	case improv.CommandHostname:
		s.d.goOwned(func(ctx context.Context) { s.hostname(ctx, p.Data) })
	case improv.CommandDeviceName:
		s.d.goOwned(func(ctx context.Context) { s.deviceName(ctx, p.Data) })
	default:
		s.setError(improv.ErrorUnknownRPC)
	}
}

// wifiSettings starts a join with the settings of RPC 0x01.
func (s *improvService) wifiSettings(r *gatt.Request, data []byte) {
	w, err := improv.ParseWiFiSettings(data)
	if err != nil {
		s.setError(improv.ErrorInvalidRPC)
		return
	}
	if err := s.d.startSetup(r.Device); err != nil {
		if errors.Is(err, setup.ErrBusy) {
			s.d.log.Info("improv: Wi-Fi settings refused: another central is setting the device up", "central", r.Address)
			s.setError(improv.ErrorUnknown) // Improv has no "busy"
			return
		}
		s.setError(improv.ErrorNotAuthorized)
		return
	}
	ssid := []byte(w.SSID)
	if wifi.ValidateSSID(ssid) != nil || wifi.ValidateSecret(w.Password) != nil {
		s.d.log.Info("improv: Wi-Fi settings rejected", "central", r.Address, "reason", "invalid SSID or password length or characters")
		s.setError(improv.ErrorUnableToConnect)
		return
	}
	s.mu.Lock()
	if s.provisioning {
		s.mu.Unlock()
		s.setError(improv.ErrorUnableToConnect) // Improv has no "busy"
		return
	}
	s.provisioning = true
	s.failed = ""
	s.mu.Unlock()
	s.refresh()
	dev, addr := r.Device, r.Address
	s.d.goOwned(func(ctx context.Context) {
		err := s.d.join(ctx, dev, addr, ssid, wifi.Passphrase(w.Password))
		s.mu.Lock()
		s.provisioning = false
		if err == nil {
			s.provisioned = dev
		} else {
			s.failed = dev
		}
		s.mu.Unlock()
		if err != nil {
			s.setError(improv.ErrorUnableToConnect)
			s.refresh()
			return
		}
		s.refresh()
		// Always a result: Home Assistant waits for it.
		var urls []string
		if s.cfg.URL != "" {
			urls = append(urls, ExpandHostname(s.cfg.URL, s.d.cfg.WiFi.State().IPv4))
		}
		b, err := improv.EncodeResult(improv.CommandWiFiSettings, urls...)
		if err != nil {
			s.d.log.Warn("improv: the redirect URL does not fit in a result packet", "err", err)
			b, _ = improv.EncodeResult(improv.CommandWiFiSettings)
		}
		s.sendResult(b)
	})
}

// identify runs IdentifyCommand, at most once per identifyEvery, without
// waiting for it.
func (s *improvService) identify() {
	if s.cfg.IdentifyCommand == "" {
		s.setError(improv.ErrorUnknownRPC)
		return
	}
	s.mu.Lock()
	if time.Since(s.lastIdentify) < identifyEvery {
		s.mu.Unlock()
		return
	}
	s.lastIdentify = time.Now()
	s.mu.Unlock()
	s.d.goOwned(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "/bin/sh", "-c", s.cfg.IdentifyCommand).CombinedOutput(); err != nil {
			s.d.log.Warn("identify command failed", "err", err, "output", strings.TrimSpace(string(out)))
		}
	})
}

// scan answers RPC 0x04 with the networks the device sees, asking for a
// fresh scan and waiting for results only when none are known.
func (s *improvService) scan(ctx context.Context) {
	aps, changed := s.d.accessPoints()
	s.d.requestScan(ctx)
	if len(aps) == 0 {
		select {
		case <-changed:
		case <-time.After(scanWait):
		case <-ctx.Done():
			return
		}
		aps, _ = s.d.accessPoints()
	}
	nets := make([]improv.Network, 0, len(aps))
	for _, ap := range aps {
		nets = append(nets, improv.Network{SSID: string(ap.SSID), RSSI: rssi(ap), Auth: auth(ap.Auth)})
	}
	b, _ := improv.EncodeScanResult(nets)
	s.sendResult(b)
}

// rssi is the access point's signal in dBm, derived from the strength in
// percent when the backend does not know it.
func rssi(ap wifi.AccessPoint) int {
	if ap.RSSI != 0 {
		return int(ap.RSSI)
	}
	return int(wifi.StrengthToDBm(ap.Strength))
}

// auth maps what an access point offers to Improv's scan result string.
func auth(a wifi.Auth) improv.Auth {
	switch a {
	case wifi.AuthOpen, wifi.AuthOWE:
		return improv.AuthOpen
	case wifi.AuthWEP:
		return improv.AuthWEP
	case wifi.AuthWPA:
		return improv.AuthWPA
	case wifi.AuthWPA2:
		return improv.AuthWPA2
	case wifi.AuthWPA3:
		return improv.AuthWPA3
	}
	return "WPA2 EAP"
}

// hostname answers RPC 0x05: get, or (authorized) set.
func (s *improvService) hostname(ctx context.Context, data []byte) {
	name, set, _ := improv.ParseNameArgument(data)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if set {
		if !s.d.setupOpen() {
			s.setError(improv.ErrorNotAuthorized)
			return
		}
		if !improv.ValidHostname(name) {
			s.setError(improv.ErrorBadHostname)
			return
		}
		if err := s.hosts.SetHostname(ctx, name); err != nil {
			s.d.log.Warn("improv: set host name", "err", err)
			s.setError(improv.ErrorUnknown)
			return
		}
	}
	cur, err := s.hosts.Hostname(ctx)
	if err != nil {
		s.d.log.Warn("improv: read host name", "err", err)
		s.setError(improv.ErrorUnknown)
		return
	}
	b, err := improv.EncodeResult(improv.CommandHostname, cur)
	if err != nil {
		s.setError(improv.ErrorUnknown)
		return
	}
	s.sendResult(b)
}

// deviceName answers RPC 0x06: get, or (authorized) set the adapter's
// alias.
func (s *improvService) deviceName(ctx context.Context, data []byte) {
	name, set, _ := improv.ParseNameArgument(data)
	if set {
		if !s.d.setupOpen() {
			s.setError(improv.ErrorNotAuthorized)
			return
		}
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 248 || !validText(name) {
			s.setError(improv.ErrorUnknown)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.d.setAlias(ctx, name); err != nil {
			s.d.log.Warn("improv: set device name", "err", err)
			s.setError(improv.ErrorUnknown)
			return
		}
	}
	b, err := improv.EncodeResult(improv.CommandDeviceName, improv.Truncate(s.d.aliasName(), 253))
	if err != nil {
		s.setError(improv.ErrorUnknown)
		return
	}
	s.sendResult(b)
}

// validText reports whether s is UTF-8 without control characters.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// hardware is Device Info's hardware string.
func (s *improvService) hardware() string {
	if s.cfg.Hardware != "" {
		return s.cfg.Hardware
	}
	for _, f := range []string{"/sys/firmware/devicetree/base/model", "/proc/device-tree/model", "/sys/class/dmi/id/product_name"} {
		if b, err := os.ReadFile(f); err == nil {
			if v := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); v != "" {
				return v
			}
		}
	}
	return runtime.GOARCH
}

// hostnamed reads and sets the host name through systemd-hostnamed; when
// hostnamed cannot be reached, reading falls back to the kernel's.
type hostnamed struct{ conn *dbus.Conn }

const hostname1 = "org.freedesktop.hostname1"

func (h hostnamed) Hostname(ctx context.Context) (string, error) {
	if h.conn != nil {
		var v dbus.Variant
		err := h.conn.Object(hostname1, "/org/freedesktop/hostname1").
			CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, hostname1, "Hostname").Store(&v)
		if name, ok := v.Value().(string); err == nil && ok && name != "" {
			return name, nil
		}
	}
	return os.Hostname()
}

func (h hostnamed) SetHostname(ctx context.Context, name string) error {
	if h.conn == nil {
		return errors.New("daemon: no system bus for systemd-hostnamed")
	}
	obj := h.conn.Object(hostname1, "/org/freedesktop/hostname1")
	if err := obj.CallWithContext(ctx, hostname1+".SetStaticHostname", 0, name, false).Err; err != nil {
		return fmt.Errorf("daemon: hostnamed SetStaticHostname: %w", err)
	}
	if err := obj.CallWithContext(ctx, hostname1+".SetHostname", 0, name, false).Err; err != nil {
		return fmt.Errorf("daemon: hostnamed SetHostname: %w", err)
	}
	return nil
}
