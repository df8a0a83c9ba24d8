package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// fakeAgentMgr is org.bluez.AgentManager1 on the fake bluetoothd's
// connection: it records the calls.
type fakeAgentMgr struct {
	mu    sync.Mutex
	calls []string
	path  dbus.ObjectPath
	owner string
}

func (m *fakeAgentMgr) RegisterAgent(msg dbus.Message, p dbus.ObjectPath, capability string) *dbus.Error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "RegisterAgent "+capability)
	m.path = p
	m.owner, _ = msg.Headers[dbus.FieldSender].Value().(string)
	return nil
}

func (m *fakeAgentMgr) RequestDefaultAgent(p dbus.ObjectPath) *dbus.Error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "RequestDefaultAgent")
	return nil
}

func (m *fakeAgentMgr) UnregisterAgent(p dbus.ObjectPath) *dbus.Error { return nil }

func TestPairingFlags(t *testing.T) {
	for _, tc := range []struct {
		name        string
		p           PairingConfig
		write, read string
	}{
		{"off", PairingConfig{}, "write", "read"},
		{"just works", PairingConfig{Enabled: true}, "encrypt-write", "encrypt-read"},
		{"passkey", PairingConfig{Enabled: true, PasskeyCommand: "true"}, "secure-write", "secure-read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeAgentMgr{}
			f, _ := newImprovFixture(t, func(c *Config) {
				c.Pairing = tc.p
				exportAgentMgr(t, c, m)
			})
			for _, u := range []string{bluenet.SSIDUUID, bluenet.CredentialsUUID, bluenet.IdentityUUID, improv.RPCCommandUUID} {
				if fl := f.app.Char(u).Flags; !slices.Contains(fl, tc.write) || (tc.write != "write" && slices.Contains(fl, "write")) {
					t.Errorf("%s flags %v, want %s", u, fl, tc.write)
				}
			}
			for _, u := range []string{bluenet.ResultUUID, bluenet.DetailsUUID} {
				if fl := f.app.Char(u).Flags; !slices.Contains(fl, tc.read) {
					t.Errorf("%s flags %v, want %s", u, fl, tc.read)
				}
			}
			// Reads of state and host name stay open.
			for _, u := range []string{bluenet.StateUUID, bluenet.HostnameUUID, improv.StateUUID} {
				if fl := f.app.Char(u).Flags; !slices.Contains(fl, "read") {
					t.Errorf("%s flags %v, want read", u, fl)
				}
			}
			m.mu.Lock()
			calls := fmt.Sprint(m.calls)
			m.mu.Unlock()
			want := "[]"
			switch {
			case tc.p.PasskeyCommand != "":
				want = "[RegisterAgent DisplayOnly RequestDefaultAgent]"
			case tc.p.Enabled:
				want = "[RegisterAgent NoInputNoOutput RequestDefaultAgent]"
			}
			if calls != want {
				t.Errorf("agent manager calls %s, want %s", calls, want)
			}
		})
	}
}

// fixtureBluez finds a fixture's fake bluetoothd from its Config.Conn
// (newFixture fills it in before it calls mod).
var (
	fixtureBluezMu sync.Mutex
	fixtureBluez   = map[*dbus.Conn]*gatttest.Bluez{}
)

// exportAgentMgr serves m on the fake bluetoothd's connection (which owns
// org.bluez), so that the daemon can register its agent.
func exportAgentMgr(t *testing.T, c *Config, m *fakeAgentMgr) {
	t.Helper()
	fixtureBluezMu.Lock()
	bz := fixtureBluez[c.Conn]
	fixtureBluezMu.Unlock()
	if bz == nil {
		t.Fatal("no fake bluetoothd for this connection")
	}
	if err := bz.Conn().Export(m, "/org/bluez", "org.bluez.AgentManager1"); err != nil {
		t.Fatal(err)
	}
}

// The agent refuses pairing while the window is closed and accepts it
// while it is open; the adapter is pairable only while it is open; the
// passkey is logged and handed to --passkey-command.
func TestPairingAgentFollowsWindow(t *testing.T) {
	w := setup.New(setup.Config{Mode: setup.Button})
	t.Cleanup(w.Close)
	m := &fakeAgentMgr{}
	f, _ := newImprovFixture(t, func(c *Config) {
		c.Setup = w
		c.Pairing = PairingConfig{Enabled: true, PasskeyCommand: `echo "$1 $BLUENET_DEVICE" > /dev/null`}
		exportAgentMgr(t, c, m)
	})
	pairable := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for f.bz.AdapterProperty("Pairable").Value() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Pairable = %v, want %v", f.bz.AdapterProperty("Pairable"), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m.mu.Lock()
	agent, owner := m.path, m.owner
	m.mu.Unlock()
	dev := gatttest.DevicePath("00:11:22:33:44:55")
	call := func(method string, args ...any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return f.bz.Conn().Object(owner, agent).CallWithContext(ctx, "org.bluez.Agent1."+method, 0, args...).Err
	}
	pairable(false)
	if err := call("RequestAuthorization", dev); gatttest.ErrorName(err) != "org.bluez.Error.Rejected" {
		t.Errorf("pairing with the window closed: %v, want Rejected", err)
	}
	if err := call("DisplayPasskey", dev, uint32(123456), uint16(0)); gatttest.ErrorName(err) != "org.bluez.Error.Rejected" {
		t.Errorf("passkey with the window closed: %v, want Rejected", err)
	}
	w.Authorize(time.Minute)
	pairable(true)
	if err := call("RequestAuthorization", dev); err != nil {
		t.Errorf("pairing with the window open: %v", err)
	}
	if err := call("DisplayPasskey", dev, uint32(42), uint16(0)); err != nil {
		t.Errorf("passkey with the window open: %v", err)
	}
	if err := call("RequestPasskey", dev); gatttest.ErrorName(err) != "org.bluez.Error.Rejected" {
		t.Errorf("RequestPasskey: %v, want Rejected (the device only displays)", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(f.logs.String(), "passkey=000042") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(f.logs.String(), "passkey=000042") {
		t.Errorf("the passkey is not logged")
	}
	if strings.Contains(f.logs.String(), "passkey command failed") {
		t.Errorf("passkey command failed:\n%s", f.logs.String())
	}
}

func TestPairingString(t *testing.T) {
	for _, tc := range []struct {
		p    PairingConfig
		want string
	}{
		{PairingConfig{}, "off"},
		{PairingConfig{PasskeyCommand: "x"}, "off"},
		{PairingConfig{Enabled: true}, "just works"},
		{PairingConfig{Enabled: true, PasskeyCommand: "x", KeepBonds: true}, "passkey, bonds kept"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}
