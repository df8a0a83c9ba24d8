package gatt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// Pairing agent: org.bluez.Agent1 registered through org.bluez.AgentManager1
// (BlueZ 5.66 doc/agent-api.txt). bluetoothd asks the default agent before
// it lets a device pair, even for Just Works (RequestAuthorization, or
// RequestConfirmation under LE Secure Connections), and hands it the
// passkey to show (DisplayPasskey) when the capability includes a display.

const (
	ifaceAgent    = "org.bluez.Agent1"
	ifaceAgentMgr = "org.bluez.AgentManager1"
	agentMgrPath  = dbus.ObjectPath("/org/bluez")
)

// Capability is an agent's IO capability, which decides the pairing method
// (Bluetooth Core, Vol 3, Part H, 2.3.5.1).
type Capability string

// Capabilities BlueZ accepts.
const (
	// NoInputNoOutput pairs with Just Works: no code, encryption against
	// passive listeners but no protection from an active man in the middle.
	NoInputNoOutput Capability = "NoInputNoOutput"
	// DisplayOnly shows a 6-digit passkey that the user types on the phone
	// (passkey entry: protects against a man in the middle).
	DisplayOnly Capability = "DisplayOnly"
	// DisplayYesNo shows a code and asks yes or no.
	DisplayYesNo Capability = "DisplayYesNo"
	// KeyboardOnly asks for a passkey.
	KeyboardOnly Capability = "KeyboardOnly"
	// KeyboardDisplay shows or asks for a passkey.
	KeyboardDisplay Capability = "KeyboardDisplay"
)

func (c Capability) valid() bool {
	switch c {
	case NoInputNoOutput, DisplayOnly, DisplayYesNo, KeyboardOnly, KeyboardDisplay:
		return true
	}
	return false
}

// AuthKind says what bluetoothd asks an agent to authorize.
type AuthKind string

// What an agent is asked.
const (
	// AuthPairing: a device wants to pair with Just Works
	// (Agent1.RequestAuthorization).
	AuthPairing AuthKind = "pairing"
	// AuthConfirm: a device wants to pair and both sides computed Passkey
	// (Agent1.RequestConfirmation: numeric comparison, or Just Works
	// under LE Secure Connections).
	AuthConfirm AuthKind = "confirm"
	// AuthDisplay: a device pairs with passkey entry and Passkey is to be
	// shown (Agent1.DisplayPasskey); rejecting it means it is not shown.
	AuthDisplay AuthKind = "display"
	// AuthPasskey: the agent must supply the passkey
	// (Agent1.RequestPasskey).
	AuthPasskey AuthKind = "passkey"
	// AuthService: a bonded device wants to use a profile UUID
	// (Agent1.AuthorizeService; BR/EDR profiles mostly).
	AuthService AuthKind = "service"
)

// AuthRequest is one question bluetoothd asks the agent.
type AuthRequest struct {
	Kind    AuthKind
	Device  dbus.ObjectPath // the remote device, /org/bluez/hciN/dev_XX_…
	Passkey uint32          // AuthConfirm, AuthDisplay
	Entered uint16          // AuthDisplay: keys the user has typed so far
	UUID    string          // AuthService
}

// AgentConfig configures RegisterAgent. The zero value registers a Just
// Works agent that accepts every pairing, which is rarely what a device
// wants: set Authorize.
type AgentConfig struct {
	// Capability is the IO capability; default NoInputNoOutput.
	Capability Capability
	// Path is the agent's object path; default /org/bluenet/agent.
	Path dbus.ObjectPath
	// Default makes it bluetoothd's default agent (RequestDefaultAgent),
	// the one asked about incoming pairings. A peripheral wants this.
	Default bool
	// Authorize decides every request before anything else happens
	// (pairing, confirmation, showing a passkey, supplying one, a service):
	// a non-nil error rejects it (org.bluez.Error.Rejected) and the pairing
	// fails. nil: accept all. It runs on its own goroutine per call and
	// must return within bluetoothd's timeout (about 30 s).
	Authorize func(ctx context.Context, r AuthRequest) error
	// DisplayPasskey shows the passkey the user must type on the phone
	// (DisplayOnly, KeyboardDisplay), once Authorize accepted it. It is
	// called again as keys are entered (r.Entered). nil: the passkey is
	// only logged at info level.
	DisplayPasskey func(r AuthRequest)
	// RequestPasskey supplies a passkey (KeyboardOnly, KeyboardDisplay),
	// 0 to 999999; nil: such requests are rejected.
	RequestPasskey func(ctx context.Context, r AuthRequest) (uint32, error)
	// OnCancel is called when bluetoothd cancels a request in progress
	// (the pairing failed or timed out). Optional.
	OnCancel func()
	// Timeout bounds each call to bluetoothd; default 10 s.
	Timeout time.Duration
	// Logger receives the agent's log lines; default: discard.
	Logger *slog.Logger
}

// Agent is a registered pairing agent. It registers itself again when
// bluetoothd restarts. Close unregisters it.
type Agent struct {
	conn *dbus.Conn
	cfg  AgentConfig
	log  *slog.Logger

	mu       sync.Mutex
	owner    string // org.bluez's unique name when registered
	released bool
	closed   bool
	sigCh    chan *dbus.Signal
	done     chan struct{}
	wg       sync.WaitGroup
	cancel   context.CancelFunc
	ctx      context.Context
}

// errRejected is what the agent answers when it refuses a request.
var errRejected = dbus.NewError("org.bluez.Error.Rejected", []any{"rejected"})

// agentWatch is the match rule for org.bluez's owner changes. It differs
// from the server's (it names the path) so that removing it leaves the
// server's own rule alone on a shared connection.
var agentWatch = []dbus.MatchOption{
	dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchObjectPath("/org/freedesktop/DBus"),
	dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"),
	dbus.WithMatchArg(0, bluez.BusName),
}

// RegisterAgent exports an org.bluez.Agent1 on conn and registers it with
// bluetoothd (AgentManager1.RegisterAgent, then RequestDefaultAgent if
// cfg.Default). Only calls from bluetoothd's connection are answered.
func RegisterAgent(ctx context.Context, conn *dbus.Conn, cfg AgentConfig) (*Agent, error) {
	if cfg.Capability == "" {
		cfg.Capability = NoInputNoOutput
	}
	if !cfg.Capability.valid() {
		return nil, fmt.Errorf("gatt: agent: unknown capability %q", cfg.Capability)
	}
	if cfg.Path == "" {
		cfg.Path = "/org/bluenet/agent"
	}
	if !cfg.Path.IsValid() {
		return nil, fmt.Errorf("gatt: agent: invalid object path %q", cfg.Path)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	a := &Agent{conn: conn, cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := conn.ExportMethodTable((&agentObj{a}).table(), cfg.Path, ifaceAgent); err != nil {
		return nil, fmt.Errorf("gatt: agent: export: %w", err)
	}
	if err := conn.AddMatchSignalContext(ctx, agentWatch...); err != nil {
		_ = conn.ExportMethodTable(nil, cfg.Path, ifaceAgent)
		return nil, fmt.Errorf("gatt: agent: add match: %w", err)
	}
	if err := a.register(ctx); err != nil {
		_ = conn.RemoveMatchSignal(agentWatch...)
		_ = conn.ExportMethodTable(nil, cfg.Path, ifaceAgent)
		return nil, err
	}
	a.sigCh = make(chan *dbus.Signal, 16)
	conn.Signal(a.sigCh)
	a.wg.Add(1)
	go a.loop()
	return a, nil
}

// register looks up org.bluez's owner and registers the agent with it.
func (a *Agent) register(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	var owner string
	if err := a.conn.BusObject().CallWithContext(cctx, "org.freedesktop.DBus.GetNameOwner", 0, bluez.BusName).Store(&owner); err != nil {
		return fmt.Errorf("%w: %v", ErrBluezNotRunning, err)
	}
	// Set the owner first: bluetoothd may call us before the reply.
	a.mu.Lock()
	a.owner, a.released = owner, false
	a.mu.Unlock()
	mgr := a.conn.Object(bluez.BusName, agentMgrPath)
	if err := mgr.CallWithContext(cctx, ifaceAgentMgr+".RegisterAgent", 0, a.cfg.Path, string(a.cfg.Capability)).Err; err != nil {
		return fmt.Errorf("gatt: agent: RegisterAgent: %w", mapBluezErr(err))
	}
	if a.cfg.Default {
		if err := mgr.CallWithContext(cctx, ifaceAgentMgr+".RequestDefaultAgent", 0, a.cfg.Path).Err; err != nil {
			_ = mgr.CallWithContext(cctx, ifaceAgentMgr+".UnregisterAgent", 0, a.cfg.Path).Err
			return fmt.Errorf("gatt: agent: RequestDefaultAgent: %w", mapBluezErr(err))
		}
	}
	a.log.Info("gatt: pairing agent registered", "path", a.cfg.Path, "capability", a.cfg.Capability, "default", a.cfg.Default)
	return nil
}

// mapBluezErr turns well-known BlueZ error names into sentinels.
func mapBluezErr(err error) error {
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.bluez.Error.AlreadyExists" {
		return fmt.Errorf("%w: %v", ErrAlreadyExists, err)
	}
	return err
}

// loop registers the agent again when bluetoothd comes back.
func (a *Agent) loop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.done:
			return
		case sig, ok := <-a.sigCh:
			if !ok {
				return
			}
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
				continue
			}
			if name, _ := sig.Body[0].(string); name != bluez.BusName {
				continue
			}
			newOwner, _ := sig.Body[2].(string)
			a.mu.Lock()
			if newOwner == "" {
				a.owner = ""
			}
			a.mu.Unlock()
			if newOwner == "" {
				a.log.Info("gatt: bluetoothd left; the pairing agent waits for it")
				continue
			}
			// bluetoothd needs a moment to set its managers up; retry.
			var err error
			for i := 0; i < 20; i++ {
				if err = a.register(a.ctx); err == nil || a.ctx.Err() != nil {
					break
				}
				select {
				case <-a.done:
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
			if err != nil && a.ctx.Err() == nil {
				a.log.Warn("gatt: pairing agent not registered again", "err", err)
			}
		}
	}
}

// Path returns the agent's object path.
func (a *Agent) Path() dbus.ObjectPath { return a.cfg.Path }

// Capability returns the agent's IO capability.
func (a *Agent) Capability() Capability { return a.cfg.Capability }

// Close unregisters the agent (when bluetoothd still has it) and removes
// its object. It is safe to call more than once.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	owner, released := a.owner, a.released
	a.mu.Unlock()
	close(a.done)
	a.cancel()
	a.conn.RemoveSignal(a.sigCh)
	a.wg.Wait()
	_ = a.conn.RemoveMatchSignal(agentWatch...)
	var err error
	if owner != "" && !released {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		err = a.conn.Object(bluez.BusName, agentMgrPath).CallWithContext(cctx, ifaceAgentMgr+".UnregisterAgent", 0, a.cfg.Path).Err
		cancel()
		if err != nil {
			err = fmt.Errorf("gatt: agent: UnregisterAgent: %w", err)
		}
	}
	_ = a.conn.ExportMethodTable(nil, a.cfg.Path, ifaceAgent)
	return err
}

// fromBluez reports whether msg came from bluetoothd's connection.
func (a *Agent) fromBluez(msg dbus.Message) bool {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	a.mu.Lock()
	defer a.mu.Unlock()
	return sender != "" && sender == a.owner && !a.closed
}

// authorize runs cfg.Authorize.
func (a *Agent) authorize(r AuthRequest) *dbus.Error {
	if a.cfg.Authorize == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	if err := a.cfg.Authorize(ctx, r); err != nil {
		a.log.Info("gatt: pairing refused", "kind", r.Kind, "device", r.Device, "reason", err)
		return errRejected
	}
	return nil
}

// agentObj carries the org.bluez.Agent1 methods.
type agentObj struct{ a *Agent }

// table returns the Agent1 method table (see Server.exportOne for why not
// conn.Export).
func (o *agentObj) table() map[string]any {
	return map[string]any{
		"Release":              o.Release,
		"RequestPinCode":       o.RequestPinCode,
		"DisplayPinCode":       o.DisplayPinCode,
		"RequestPasskey":       o.RequestPasskey,
		"DisplayPasskey":       o.DisplayPasskey,
		"RequestConfirmation":  o.RequestConfirmation,
		"RequestAuthorization": o.RequestAuthorization,
		"AuthorizeService":     o.AuthorizeService,
		"Cancel":               o.Cancel,
	}
}

// Release implements Agent1.Release: bluetoothd unregistered the agent.
func (o *agentObj) Release(msg dbus.Message) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	o.a.mu.Lock()
	o.a.released = true
	o.a.mu.Unlock()
	o.a.log.Info("gatt: pairing agent released by bluetoothd")
	return nil
}

// RequestPinCode implements Agent1.RequestPinCode (BR/EDR legacy
// pairing): always rejected; this agent is for LE.
func (o *agentObj) RequestPinCode(msg dbus.Message, dev dbus.ObjectPath) (string, *dbus.Error) {
	if !o.a.fromBluez(msg) {
		return "", errNotBluez
	}
	return "", errRejected
}

// DisplayPinCode implements Agent1.DisplayPinCode (BR/EDR legacy): rejected.
func (o *agentObj) DisplayPinCode(msg dbus.Message, dev dbus.ObjectPath, pin string) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	return errRejected
}

// RequestPasskey implements Agent1.RequestPasskey.
func (o *agentObj) RequestPasskey(msg dbus.Message, dev dbus.ObjectPath) (uint32, *dbus.Error) {
	if !o.a.fromBluez(msg) {
		return 0, errNotBluez
	}
	r := AuthRequest{Kind: AuthPasskey, Device: dev}
	if err := o.a.authorize(r); err != nil {
		return 0, err
	}
	if o.a.cfg.RequestPasskey == nil {
		return 0, errRejected
	}
	ctx, cancel := context.WithTimeout(o.a.ctx, 30*time.Second)
	defer cancel()
	pk, err := o.a.cfg.RequestPasskey(ctx, r)
	if err != nil || pk > 999999 {
		return 0, errRejected
	}
	return pk, nil
}

// DisplayPasskey implements Agent1.DisplayPasskey: the passkey is shown
// only when Authorize accepts (bluetoothd ignores the reply; without the
// code the phone cannot complete passkey entry).
func (o *agentObj) DisplayPasskey(msg dbus.Message, dev dbus.ObjectPath, passkey uint32, entered uint16) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	r := AuthRequest{Kind: AuthDisplay, Device: dev, Passkey: passkey, Entered: entered}
	if err := o.a.authorize(r); err != nil {
		return err
	}
	if f := o.a.cfg.DisplayPasskey; f != nil {
		f(r)
	} else {
		o.a.log.Info("gatt: pairing passkey", "device", dev, "passkey", fmt.Sprintf("%06d", passkey))
	}
	return nil
}

// RequestConfirmation implements Agent1.RequestConfirmation.
func (o *agentObj) RequestConfirmation(msg dbus.Message, dev dbus.ObjectPath, passkey uint32) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	return o.a.authorize(AuthRequest{Kind: AuthConfirm, Device: dev, Passkey: passkey})
}

// RequestAuthorization implements Agent1.RequestAuthorization (Just Works).
func (o *agentObj) RequestAuthorization(msg dbus.Message, dev dbus.ObjectPath) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	return o.a.authorize(AuthRequest{Kind: AuthPairing, Device: dev})
}

// AuthorizeService implements Agent1.AuthorizeService.
func (o *agentObj) AuthorizeService(msg dbus.Message, dev dbus.ObjectPath, uuid string) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	return o.a.authorize(AuthRequest{Kind: AuthService, Device: dev, UUID: uuid})
}

// Cancel implements Agent1.Cancel.
func (o *agentObj) Cancel(msg dbus.Message) *dbus.Error {
	if !o.a.fromBluez(msg) {
		return errNotBluez
	}
	o.a.log.Info("gatt: pairing request canceled by bluetoothd")
	if f := o.a.cfg.OnCancel; f != nil {
		f()
	}
	return nil
}
