// Package client is Bluenet's client: it finds, inspects and provisions
// devices over Bluetooth LE, as a central on BlueZ (package central). It
// speaks two provisioning protocols: the Bluenet GATT profile (the Go daemon,
// and the original Python Bluenet, which has no Result characteristic) and
// Improv Wi-Fi via BLE (a Bluenet daemon with its Improv service, ESPHome and
// other Improv devices).
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// Errors of this package; test with errors.Is. Join failures reported by the
// device are *JoinError values.
var (
	// ErrUnreachable: the device was not found, or the link could not be
	// made or was lost (out of range, switched off, not advertising).
	ErrUnreachable = errors.New("client: device unreachable")
	// ErrNotBluenet: the device has no Bluenet service.
	ErrNotBluenet = errors.New("client: not a Bluenet device")
	// ErrNotImprov: the device has no Improv service.
	ErrNotImprov = errors.New("client: not an Improv device")
	// ErrNotSupported: the device does not offer what was asked (an Improv
	// command its Capabilities leave out).
	ErrNotSupported = errors.New("client: not supported by the device")
	// ErrTimeout: the device did not report an outcome in time.
	ErrTimeout = errors.New("client: timed out")
	// ErrJoinFailed matches every *JoinError.
	ErrJoinFailed = errors.New("client: join failed")
)

// Defaults of Config's timing fields.
const (
	DefaultScanTimeout    = 15 * time.Second
	DefaultConnectTimeout = 30 * time.Second
	DefaultCycleGap       = time.Second
	DefaultFallbackGrace  = 3 * time.Second
	DefaultSettle         = 10 * time.Second
	DefaultResultGrace    = time.Second
)

// Config configures a Client. Conn is required; the other fields have
// useful zero values.
type Config struct {
	// Conn is a connection to the system bus; the Client never closes it.
	Conn *dbus.Conn
	// Adapter is the Bluetooth adapter ("hci1" or its address); empty
	// selects the first one.
	Adapter string
	// Logger receives debug logs; nil discards them. Passwords are never
	// logged.
	Logger *slog.Logger

	// ScanTimeout bounds the search for a device in Connect
	// (DefaultScanTimeout); ConnectTimeout the connection and service
	// discovery (DefaultConnectTimeout).
	ScanTimeout, ConnectTimeout time.Duration
	// CycleGap is the silence that ends a round of Available Networks
	// notifications (DefaultCycleGap; the Go daemon pauses 3 s between
	// rounds and sends SSIDs 50 ms apart, the original 300 ms apart).
	CycleGap time.Duration
	// FallbackGrace is how long a device without the Result characteristic
	// must stay off the new network after trying it before the join counts
	// as failed (DefaultFallbackGrace). Settle is how long such a device
	// that was already connected to the requested network must stay so for
	// the join to count as done (DefaultSettle).
	FallbackGrace, Settle time.Duration

	// ResultGrace is how long an Improv client waits for more after a
	// result that may not be the last (a scan answered one network per
	// result, or Provisioned without a result yet), and for an error after
	// Identify (DefaultResultGrace).
	ResultGrace time.Duration
	// ImprovWriteWithoutResponse sends Improv commands as the Improv web page
	// does: in pieces of 20 bytes (what fits in an ATT write at the smallest
	// MTU), written without response. The default is one write with response,
	// as Home Assistant does (BlueZ turns a long one into prepared writes).
	ImprovWriteWithoutResponse bool

	// Passkey supplies the 6-digit passkey a device shows when it pairs
	// with passkey entry (bluenet start --passkey-command); nil: only Just
	// Works pairing is possible. See pairing.go.
	Passkey func(ctx context.Context, address string) (uint32, error)
}

// Client is a Bluenet client on one Bluetooth adapter.
type Client struct {
	cfg Config
	c   *central.Central
	log *slog.Logger
	pa  clientAgent
}

// New opens the adapter. Close releases it.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setDefault(&cfg.ScanTimeout, DefaultScanTimeout)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.CycleGap, DefaultCycleGap)
	setDefault(&cfg.FallbackGrace, DefaultFallbackGrace)
	setDefault(&cfg.Settle, DefaultSettle)
	setDefault(&cfg.ResultGrace, DefaultResultGrace)
	c, err := central.New(ctx, central.Config{Conn: cfg.Conn, Adapter: cfg.Adapter, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{cfg: cfg, c: c, log: cfg.Logger}, nil
}

// Close stops listening to BlueZ. Sessions should be closed first.
func (c *Client) Close() error {
	c.closeAgent()
	return c.c.Close()
}

// Device is a device found by a scan: one that advertises the Bluenet
// service, the Improv service, or both.
type Device struct {
	Address string `json:"address"`
	Name    string `json:"name"`  // advertised name; may be empty
	Alias   string `json:"alias"` // BlueZ's alias: the name, or the address with dashes
	RSSI    int16  `json:"rssi"`  // dBm; 0 when unknown
	// Seen: the device advertised during this scan. BlueZ also remembers
	// devices from earlier scans and connections; those are reported with
	// Seen false until they advertise (they may be out of range).
	Seen      bool `json:"seen"`
	Connected bool `json:"connected"`

	// Bluenet and Improv report which provisioning services the device
	// advertises.
	Bluenet bool `json:"bluenet"`
	Improv  bool `json:"improv"`
	// ImprovState and ImprovCapabilities are from the Improv service data
	// (UUID 4677); 0 when the device advertises none (before Improv 2.0) or
	// it is malformed.
	ImprovState        improv.State        `json:"improv_state,omitempty"`
	ImprovCapabilities improv.Capabilities `json:"improv_capabilities,omitempty"`
}

// Protocols names the advertised provisioning services: "bluenet",
// "improv", "bluenet+improv", or "" when neither was seen (a device
// remembered from before).
func (d Device) Protocols() string {
	switch {
	case d.Bluenet && d.Improv:
		return "bluenet+improv"
	case d.Bluenet:
		return string(ProtocolBluenet)
	case d.Improv:
		return string(ProtocolImprov)
	}
	return ""
}

// Label is the name to show: the alias, else the name, else the address.
func (d Device) Label() string {
	switch {
	case d.Alias != "" && d.Alias != strings.ReplaceAll(d.Address, ":", "-"):
		return d.Alias
	case d.Name != "":
		return d.Name
	}
	return d.Address
}

// Scan reports Bluenet and Improv devices (those advertising the Bluenet
// or the Improv service; ESPHome devices that speak only Improv too): fn is
// called for each device BlueZ already knows (Seen false unless it is
// connected), then for every sighting and update (such as a new RSSI or a
// new Improv state) until ctx is done. Scan returns nil when ctx's deadline
// ends it.
func (c *Client) Scan(ctx context.Context, fn func(Device)) error {
	err := c.c.Scan(ctx, servicesFilter(), func(a central.Advertisement) bool {
		fn(c.device(ctx, a))
		return true
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: scan: %w", err)
	}
	return nil
}

// rssiUnavailable is what a controller reports when it has no RSSI (HCI).
const rssiUnavailable = 127

func device(a central.Advertisement) Device {
	d := Device{Address: a.Address, Name: a.Name, Alias: a.Alias, RSSI: a.RSSI, Connected: a.Connected,
		Seen:    a.RSSI != 0 || a.Connected, // BlueZ drops RSSI when a discovery ends
		Bluenet: advertises(a, bluenet.ServiceUUID), Improv: advertises(a, improv.ServiceUUID)}
	if d.RSSI == rssiUnavailable {
		d.RSSI = 0
	}
	return d
}

// device is device(a) with the Improv service data, when a advertises
// Improv.
func (c *Client) device(ctx context.Context, a central.Advertisement) Device {
	d := device(a)
	if d.Improv {
		if sd, ok := c.serviceData(ctx, a, improv.ServiceDataUUID); ok {
			if st, caps, err := improv.ParseServiceData(sd); err == nil {
				d.ImprovState, d.ImprovCapabilities = st, caps
			} else {
				c.log.Debug("ignoring Improv service data", "address", a.Address, "err", err)
			}
		}
	}
	return d
}

// IsAddress reports whether s is a Bluetooth address ("00:AA:01:00:00:00").
// A loop, not a package-level regexp: that one was compiled at every start
// of every command, the daemon's included.
func IsAddress(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// find looks for the device named by target (an address, or a name or
// alias). A device BlueZ remembers is taken at once, whether or not it
// advertises now: connecting to it tells whether it is in range (and some
// controllers report an advertiser only once per scan).
func (c *Client) find(ctx context.Context, target string) (Device, error) {
	sctx, cancel := context.WithTimeout(ctx, c.cfg.ScanTimeout)
	defer cancel()
	filter := servicesFilter()
	if IsAddress(target) {
		// An address finds the device whether or not a service UUID is in
		// its advertisement (some devices put it in the scan response).
		filter = central.ScanFilter{Address: target}
	}
	var found Device
	err := c.c.Scan(sctx, filter, func(a central.Advertisement) bool {
		if !IsAddress(target) && a.Alias != target && a.Name != target {
			return true
		}
		found = c.device(ctx, a)
		return false
	})
	switch {
	case err == nil:
		return found, nil
	case ctx.Err() != nil:
		return Device{}, ctx.Err()
	case sctx.Err() != nil:
		return Device{}, fmt.Errorf("%w: %s not found within %v (out of range, or not advertising)",
			ErrUnreachable, target, c.cfg.ScanTimeout)
	}
	return Device{}, fmt.Errorf("client: scan for %s: %w", target, err)
}

// Protocol is a provisioning protocol.
type Protocol string

// Protocols. ProtocolAuto lets Link.Choose pick.
const (
	ProtocolAuto    Protocol = ""
	ProtocolBluenet Protocol = "bluenet"
	ProtocolImprov  Protocol = "improv"
)

// Link is a connection to one device, before a protocol is chosen. Close
// it, or the session made from it, to disconnect.
type Link struct {
	cl  *Client
	p   *central.Peripheral
	dev Device
	// pairedBefore: the device was paired before Dial; a bond made later
	// is removed by Close.
	pairedBefore bool
}

// Dial finds the device named by target (its address, or its name or alias
// as scan shows it) and connects. A device that is not in range fails with
// ErrUnreachable.
func (c *Client) Dial(ctx context.Context, target string) (*Link, error) {
	dev, err := c.find(ctx, target)
	if err != nil {
		return nil, err
	}
	c.log.Debug("connecting", "address", dev.Address, "name", dev.Label(), "rssi", dev.RSSI)
	cctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	p, err := c.c.Connect(cctx, dev.Address)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, central.ErrConnectFailed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, central.ErrNotFound) {
			return nil, fmt.Errorf("%w: could not connect to %s (out of range?): %v", ErrUnreachable, dev.Address, err)
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	l := &Link{cl: c, p: p, dev: dev}
	l.pairedBefore = l.paired(ctx)
	c.log.Debug("connected", "address", dev.Address, "bluenet", l.Offers(ProtocolBluenet),
		"improv", l.Offers(ProtocolImprov), "was_connected", p.WasConnected())
	return l, nil
}

// Device returns what the scan saw of the device.
func (l *Link) Device() Device { return l.dev }

// Offers reports whether the device has the GATT service of protocol p (its
// characteristics that a client needs).
func (l *Link) Offers(p Protocol) bool {
	var need []string
	switch p {
	case ProtocolBluenet:
		need = []string{bluenet.StateUUID, bluenet.SSIDUUID, bluenet.CredentialsUUID}
	case ProtocolImprov:
		need = []string{improv.StateUUID, improv.ErrorUUID, improv.RPCCommandUUID, improv.RPCResultUUID}
	default:
		return l.Offers(ProtocolBluenet) || l.Offers(ProtocolImprov)
	}
	for _, u := range need {
		if !l.has(u) {
			return false
		}
	}
	return true
}

// Choose returns the protocol to speak: want when the device offers it; for
// ProtocolAuto the Bluenet profile when the device offers it (it tells why
// a join failed), else Improv. A device without the wanted service fails
// with ErrNotBluenet or ErrNotImprov (ErrNotBluenet when it has neither).
func (l *Link) Choose(want Protocol) (Protocol, error) {
	switch want {
	case ProtocolBluenet:
		if !l.Offers(ProtocolBluenet) {
			return "", fmt.Errorf("%w: %s has no Bluenet service", ErrNotBluenet, l.dev.Address)
		}
		return ProtocolBluenet, nil
	case ProtocolImprov:
		if !l.Offers(ProtocolImprov) {
			return "", fmt.Errorf("%w: %s has no Improv service", ErrNotImprov, l.dev.Address)
		}
		return ProtocolImprov, nil
	case ProtocolAuto:
		switch {
		case l.Offers(ProtocolBluenet):
			return ProtocolBluenet, nil
		case l.Offers(ProtocolImprov):
			return ProtocolImprov, nil
		}
		return "", fmt.Errorf("%w: %s has neither the Bluenet nor the Improv service", ErrNotBluenet, l.dev.Address)
	}
	return "", fmt.Errorf("client: unknown protocol %q", want)
}

// Close disconnects, unless the device was already connected before Dial.
// It works even after ctx of Dial is done (Ctrl-C).
func (l *Link) Close() error {
	err := l.p.Close(context.Background())
	l.dropBond()
	return err
}

// Session is a connection to one Bluenet device, speaking the Bluenet
// profile.
type Session struct {
	*Link
	result bool // the device has the Result characteristic
}

// Connect finds the device named by target (its address, or its name or
// alias as scan shows it), connects and checks that it is a Bluenet
// device. A device that is not in range fails with ErrUnreachable. Close
// the session to disconnect.
func (c *Client) Connect(ctx context.Context, target string) (*Session, error) {
	l, err := c.Dial(ctx, target)
	if err != nil {
		return nil, err
	}
	s, err := l.Bluenet()
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return s, nil
}

// Bluenet starts a Bluenet profile session on the link; ErrNotBluenet when
// the device has no Bluenet service. Closing the session closes the link.
func (l *Link) Bluenet() (*Session, error) {
	if _, err := l.Choose(ProtocolBluenet); err != nil {
		return nil, err
	}
	s := &Session{Link: l, result: l.has(bluenet.ResultUUID)}
	l.cl.log.Debug("Bluenet session", "address", l.dev.Address, "result_characteristic", s.result)
	return s, nil
}

// HasResult reports whether the device has Bluenet's Result characteristic
// (the original Python Bluenet does not).
func (s *Session) HasResult() bool { return s.result }

// Info is what a Bluenet device tells about itself.
type Info struct {
	State    bluenet.State
	Hostname string
	Version  string
	// LastResult is the Result characteristic's value; nil when the device
	// has none.
	LastResult *bluenet.Result
}

// Info reads the state, host name, version and (when there is one) the
// result of the last join.
func (s *Session) Info(ctx context.Context) (Info, error) {
	var info Info
	st, err := s.readState(ctx)
	if err != nil {
		return info, err
	}
	info.State = st
	if info.Hostname, err = s.readString(ctx, bluenet.HostnameUUID); err != nil {
		return info, err
	}
	if s.has(bluenet.VersionUUID) {
		if info.Version, err = s.readString(ctx, bluenet.VersionUUID); err != nil {
			return info, err
		}
	}
	if s.result {
		b, err := s.read(ctx, bluenet.ResultUUID)
		if err != nil {
			return info, err
		}
		r, err := bluenet.ParseResult(b)
		if err != nil {
			return info, fmt.Errorf("client: %w", err)
		}
		info.LastResult = &r
	}
	return info, nil
}

func (s *Link) char(uuid string) (*central.Characteristic, error) {
	ch, err := s.characteristic(uuid)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", s.dev.Address, err)
	}
	return ch, nil
}

func (s *Link) read(ctx context.Context, uuid string) ([]byte, error) {
	ch, err := s.char(uuid)
	if err != nil {
		return nil, err
	}
	var b []byte
	err = s.secured(ctx, func() (err error) { b, err = ch.Read(ctx); return err })
	if err != nil {
		return nil, s.linkErr(fmt.Errorf("client: %w", err))
	}
	return b, nil
}

func (s *Link) readString(ctx context.Context, uuid string) (string, error) {
	b, err := s.read(ctx, uuid)
	return string(b), err
}

func (s *Session) readState(ctx context.Context) (bluenet.State, error) {
	b, err := s.read(ctx, bluenet.StateUUID)
	if err != nil {
		return bluenet.State{}, err
	}
	st, err := bluenet.ParseState(b)
	if err != nil {
		return st, fmt.Errorf("client: %w", err)
	}
	return st, nil
}

func (s *Link) write(ctx context.Context, uuid string, v []byte) error {
	ch, err := s.char(uuid)
	if err != nil {
		return err
	}
	if err := s.secured(ctx, func() error { return ch.Write(ctx, v) }); err != nil {
		return s.linkErr(fmt.Errorf("client: %w", err))
	}
	return nil
}

func (s *Link) subscribe(ctx context.Context, uuid string) (<-chan []byte, func(), error) {
	ch, err := s.char(uuid)
	if err != nil {
		return nil, nil, err
	}
	var vals <-chan []byte
	var stop func()
	err = s.secured(ctx, func() (err error) { vals, stop, err = ch.Subscribe(ctx); return err })
	if err != nil {
		return nil, nil, s.linkErr(fmt.Errorf("client: %w", err))
	}
	return vals, stop, nil
}

// linkErr turns err into ErrUnreachable when the link has dropped.
func (s *Link) linkErr(err error) error {
	select {
	case <-s.p.Done():
		return fmt.Errorf("%w: connection to %s lost", ErrUnreachable, s.dev.Address)
	default:
	}
	if errors.Is(err, central.ErrNotConnected) {
		return fmt.Errorf("%w: connection to %s lost", ErrUnreachable, s.dev.Address)
	}
	return err
}

// lostErr is the error for a link that dropped while waiting.
func (s *Link) lostErr() error {
	return fmt.Errorf("%w: connection to %s lost", ErrUnreachable, s.dev.Address)
}
