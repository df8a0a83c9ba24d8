package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
)

// PairingConfig configures LE pairing (--pairing). With Enabled the
// provisioning characteristics (Bluenet SSID, Credentials, Identity, Result,
// Network Details; Improv RPC Command) demand an encrypted link, so
// bluetoothd makes a central pair before it may write them, and the daemon
// registers bluetoothd's default pairing agent. The agent refuses pairing
// while the setup window is closed, and the adapter is pairable only while
// it is open.
type PairingConfig struct {
	// Enabled turns LE pairing on.
	Enabled bool
	// PasskeyCommand, when set, makes the agent DisplayOnly: pairing is
	// passkey entry under LE Secure Connections (protection from an active
	// man in the middle) and the characteristics use secure-read/-write.
	// The 6-digit code is passed to /bin/sh -c PasskeyCommand as $1 and in
	// the environment as BLUENET_PASSKEY (with BLUENET_DEVICE, the
	// central's address), and logged at info level: a code shown to whoever
	// stands at the device is no secret, and it is only good for this one
	// pairing. Empty: NoInputNoOutput (Just Works: encryption against
	// passive listeners only).
	PasskeyCommand string
	// KeepBonds keeps the bonds centrals make with the device. By default a
	// bond made through the daemon's agent is removed (Adapter1.RemoveDevice)
	// when the central disconnects, so a phone that set the Wi-Fi up once
	// holds no key to the device.
	KeepBonds bool
}

// String is the pairing mode as bluenet status shows it.
func (p PairingConfig) String() string {
	var s string
	switch {
	case !p.Enabled:
		return "off"
	case p.secure():
		s = "passkey"
	default:
		s = "just works"
	}
	if p.KeepBonds {
		s += ", bonds kept"
	}
	return s
}

// errWindowClosed is why the agent refuses a pairing.
var errWindowClosed = errors.New("the setup window is closed")

// secure reports whether pairing must be passkey entry (MITM protection).
func (p PairingConfig) secure() bool { return p.Enabled && p.PasskeyCommand != "" }

// protect turns a provisioning characteristic's plain read and write flags
// into the encrypted ones when pairing is on: encrypt-read/-write (Just
// Works will do) or, with a passkey, secure-read/-write (LE Secure
// Connections with MITM protection).
func (d *daemon) protect(f gatt.Flags) gatt.Flags {
	p := d.cfg.Pairing
	if !p.Enabled {
		return f
	}
	r, w := gatt.FlagEncryptRead, gatt.FlagEncryptWrite
	if p.secure() {
		r, w = gatt.FlagSecureRead, gatt.FlagSecureWrite
	}
	if f&gatt.FlagRead != 0 {
		f = f&^gatt.FlagRead | r
	}
	if f&gatt.FlagWrite != 0 {
		f = f&^gatt.FlagWrite | w
	}
	return f
}

// startAgent registers the default pairing agent when pairing is on.
func (d *daemon) startAgent(ctx context.Context) (*gatt.Agent, error) {
	if !d.cfg.Pairing.Enabled {
		return nil, nil
	}
	capability := gatt.NoInputNoOutput
	if d.cfg.Pairing.secure() {
		capability = gatt.DisplayOnly
	}
	a, err := gatt.RegisterAgent(ctx, d.cfg.Conn, gatt.AgentConfig{
		Capability:     capability,
		Default:        true,
		Authorize:      d.authorizePairing,
		DisplayPasskey: d.displayPasskey,
		OnCancel:       func() { d.log.Info("pairing canceled") },
		Logger:         d.log.With("component", "agent"),
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: pairing agent: %w", err)
	}
	return a, nil
}

// authorizePairing is the agent's decision: pairing only while the setup
// window is open. Devices it lets pair are remembered so that their bond
// is removed when they disconnect.
func (d *daemon) authorizePairing(_ context.Context, r gatt.AuthRequest) error {
	if r.Kind == gatt.AuthService {
		// A profile of a bonded device (BR/EDR mostly): not ours to decide.
		return errors.New("no services are offered to bonded devices")
	}
	if !d.window.Open() {
		return errWindowClosed
	}
	if r.Kind == gatt.AuthPasskey {
		// The device displays; it never types.
		return errors.New("the device cannot enter a passkey")
	}
	d.mu.Lock()
	d.paired[r.Device] = true
	d.mu.Unlock()
	d.log.Info("pairing accepted", "device", r.Device, "kind", string(r.Kind))
	return nil
}

// displayPasskey logs the passkey and runs --passkey-command with it.
func (d *daemon) displayPasskey(r gatt.AuthRequest) {
	code := fmt.Sprintf("%06d", r.Passkey)
	if r.Entered > 0 {
		return
	}
	addr := addressOf(r.Device)
	d.log.Info("pairing passkey: enter it on the phone", "passkey", code, "central", addr)
	cmd := d.cfg.Pairing.PasskeyCommand
	if cmd == "" {
		return
	}
	d.goOwned(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd, "sh", code)
		c.Env = append(os.Environ(), "BLUENET_PASSKEY="+code, "BLUENET_DEVICE="+addr)
		if out, err := c.CombinedOutput(); err != nil {
			d.log.Warn("passkey command failed", "err", err, "output", strings.TrimSpace(string(out)))
		}
	})
}

// addressOf turns /org/bluez/hci0/dev_AA_BB_… into AA:BB:….
func addressOf(p dbus.ObjectPath) string {
	s := string(p)
	i := strings.LastIndex(s, "/dev_")
	if i < 0 {
		return s
	}
	return strings.ReplaceAll(s[i+5:], "_", ":")
}

// setPairable makes the adapter pairable while the setup window is open
// (pairing on only).
func (d *daemon) setPairable(ctx context.Context, a *gatt.Adapter) {
	if !d.cfg.Pairing.Enabled || a == nil {
		return
	}
	open := d.window.Open()
	if err := a.SetPairable(ctx, open); err != nil {
		d.log.Warn("could not set the adapter pairable", "pairable", open, "err", err)
		return
	}
	d.log.Debug("adapter pairable", "pairable", open)
}

// dropBond removes the bond a central made through the agent, once it has
// disconnected (unless KeepBonds).
func (d *daemon) dropBond(dev gatt.Device) {
	if !d.cfg.Pairing.Enabled {
		return
	}
	d.mu.Lock()
	made := d.paired[dev.Path]
	delete(d.paired, dev.Path)
	d.mu.Unlock()
	if !made || d.cfg.Pairing.KeepBonds {
		return
	}
	a := d.adapter.Load()
	if a == nil {
		return
	}
	d.goOwned(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := d.cfg.Conn.Object("org.bluez", a.Path()).CallWithContext(ctx, "org.bluez.Adapter1.RemoveDevice", 0, dev.Path).Err
		if err != nil {
			d.log.Warn("could not remove the bond of a central", "central", dev.Address, "err", err)
			return
		}
		d.log.Info("bond removed", "central", dev.Address)
	})
}
