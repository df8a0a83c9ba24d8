package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/bluez"
)

// LE pairing. A device started with `bluenet start --pairing` protects its
// provisioning characteristics with encrypt-write (Just Works) or
// secure-write (passkey entry). With BlueZ as the central, bluetoothd raises
// the link's security and pairs by itself when a write or read is refused
// for want of encryption, asking the default agent (if any) on this
// machine. When that pairing fails (no agent here, or one that cannot type
// a passkey), the client pairs explicitly: it registers its own agent
// (KeyboardDisplay when it can supply a passkey, else NoInputNoOutput),
// calls Device1.Pair and tries again once. A bond the client made is
// removed again when the link closes.

// ErrPairing: the device asks for pairing and it failed (the device's setup
// window is closed, a wrong passkey, or none given).
var ErrPairing = errors.New("client: pairing failed")

// pairTimeout bounds one Device1.Pair (passkey entry waits for a person).
const pairTimeout = 2 * time.Minute

// clientAgent is the client's pairing agent, registered on first need.
type clientAgent struct {
	mu     sync.Mutex
	agent  *gatt.Agent
	target dbus.ObjectPath // the device being paired; others are refused
}

// agentFor registers the client's agent (once) and points it at dev.
func (c *Client) agentFor(ctx context.Context, dev dbus.ObjectPath) error {
	c.pa.mu.Lock()
	defer c.pa.mu.Unlock()
	c.pa.target = dev
	if c.pa.agent != nil {
		return nil
	}
	capability := gatt.NoInputNoOutput
	if c.cfg.Passkey != nil {
		capability = gatt.KeyboardDisplay
	}
	a, err := gatt.RegisterAgent(ctx, c.cfg.Conn, gatt.AgentConfig{
		Capability: capability,
		Path:       "/org/bluenet/client_agent",
		Authorize: func(_ context.Context, r gatt.AuthRequest) error {
			c.pa.mu.Lock()
			defer c.pa.mu.Unlock()
			if r.Device != c.pa.target {
				return fmt.Errorf("not the device being provisioned (%s)", r.Device)
			}
			return nil
		},
		RequestPasskey: func(ctx context.Context, r gatt.AuthRequest) (uint32, error) {
			if c.cfg.Passkey == nil {
				return 0, errors.New("no passkey")
			}
			return c.cfg.Passkey(ctx, bluez.AddressFromPath(r.Device))
		},
		DisplayPasskey: func(r gatt.AuthRequest) {
			c.log.Info("pairing passkey: the device must enter it", "passkey", fmt.Sprintf("%06d", r.Passkey))
		},
		Logger: c.log,
	})
	if err != nil {
		return fmt.Errorf("client: pairing agent: %w", err)
	}
	c.pa.agent = a
	return nil
}

// closeAgent unregisters the agent if one was registered.
func (c *Client) closeAgent() {
	c.pa.mu.Lock()
	a := c.pa.agent
	c.pa.agent = nil
	c.pa.mu.Unlock()
	if a != nil {
		_ = a.Close(context.Background())
	}
}

// paired reads the device's Paired property (false when unknown).
func (l *Link) paired(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var v dbus.Variant
	err := l.cl.cfg.Conn.Object("org.bluez", l.p.Path()).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
		"org.bluez.Device1", "Paired").Store(&v)
	b, _ := v.Value().(bool)
	return err == nil && b
}

// needsPairing reports whether err is bluetoothd refusing an operation for
// want of an encrypted or authenticated link ("Not paired": ATT 0x05, 0x0F
// or 0x0C after its own pairing attempt failed).
func (l *Link) needsPairing(ctx context.Context, err error) bool {
	return pairingError(err) && !l.paired(ctx)
}

// pairingError reports whether err is bluetoothd's "Not paired" kind of
// Not Permitted. Not Permitted also answers a value the device refuses
// (Bluenet's invalid input): pair only when bluetoothd says the link is
// the matter, so a device without pairing is never bonded with.
func pairingError(err error) bool {
	if !errors.Is(err, central.ErrNotPermitted) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "paired") || strings.Contains(msg, "authenticat") || strings.Contains(msg, "encrypt")
}

// Pair pairs with the device now, through the client's own agent (with
// Config.Passkey: KeyboardDisplay, so a device that displays a passkey can
// pair). A device that pairs with a passkey needs this before the first
// protected write: bluetoothd's own pairing then uses the default agent of
// this machine, which cannot type the code, and the failed pairing drops
// the link. Pairing with a device that is already paired does nothing.
func (l *Link) Pair(ctx context.Context) error {
	if l.paired(ctx) {
		return nil
	}
	return l.pair(ctx)
}

// pair pairs with the device through the client's own agent.
func (l *Link) pair(ctx context.Context) error {
	l.cl.log.Debug("the device asks for pairing", "address", l.dev.Address)
	if err := l.cl.agentFor(ctx, l.p.Path()); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, pairTimeout)
	defer cancel()
	err := l.cl.cfg.Conn.Object("org.bluez", l.p.Path()).CallWithContext(pctx, "org.bluez.Device1.Pair", 0).Err
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.bluez.Error.AlreadyExists" {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w with %s: %v (the device accepts pairing only while its setup window is open: press its button or run `bluenet allow` on it; a passkey device needs --passkey)",
			ErrPairing, l.dev.Address, err)
	}
	l.cl.log.Info("paired", "address", l.dev.Address)
	return nil
}

// secured runs op; when the device refuses it for want of pairing, it
// pairs and runs op once more.
func (l *Link) secured(ctx context.Context, op func() error) error {
	err := op()
	if err == nil || !l.needsPairing(ctx, err) {
		return err
	}
	if perr := l.pair(ctx); perr != nil {
		return perr
	}
	return op()
}

// dropBond removes a bond made during this link (by the client or by
// bluetoothd on its own), so provisioning leaves no key behind.
func (l *Link) dropBond() {
	if l.pairedBefore || !l.paired(context.Background()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.cl.cfg.Conn.Object("org.bluez", l.cl.c.Adapter()).CallWithContext(ctx, "org.bluez.Adapter1.RemoveDevice", 0, l.p.Path()).Err; err != nil {
		l.cl.log.Warn("could not remove the bond made for provisioning", "address", l.dev.Address, "err", err)
		return
	}
	l.cl.log.Debug("bond removed", "address", l.dev.Address)
}
