package gatt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
	"github.com/bluenet-project/bluenet/internal/dbustest"
)

// agentMgr is a fake org.bluez.AgentManager1 on its own connection, which
// owns org.bluez and then calls the agent the way bluetoothd does.
type agentMgr struct {
	conn *dbus.Conn
	mu   sync.Mutex
	log  []string
	fail map[string]string // method → D-Bus error name to answer
}

func (m *agentMgr) record(s string) *dbus.Error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, s)
	method := s[:strings.IndexByte(s, ' ')]
	if name := m.fail[method]; name != "" {
		return dbus.NewError(name, []any{"fake failure"})
	}
	return nil
}

func (m *agentMgr) calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.log...)
}

type agentMgrObj struct{ m *agentMgr }

func (o agentMgrObj) RegisterAgent(msg dbus.Message, p dbus.ObjectPath, capability string) *dbus.Error {
	return o.m.record(fmt.Sprintf("RegisterAgent %s %s", p, capability))
}
func (o agentMgrObj) RequestDefaultAgent(msg dbus.Message, p dbus.ObjectPath) *dbus.Error {
	return o.m.record(fmt.Sprintf("RequestDefaultAgent %s", p))
}
func (o agentMgrObj) UnregisterAgent(msg dbus.Message, p dbus.ObjectPath) *dbus.Error {
	return o.m.record(fmt.Sprintf("UnregisterAgent %s", p))
}

// newAgentMgr starts a fake bluetoothd's agent manager on bus.
func newAgentMgr(t *testing.T, bus *dbustest.Bus) *agentMgr {
	t.Helper()
	m := &agentMgr{conn: bus.Conn(t), fail: map[string]string{}}
	if err := m.conn.Export(agentMgrObj{m}, agentMgrPath, ifaceAgentMgr); err != nil {
		t.Fatal(err)
	}
	reply, err := m.conn.RequestName(bluez.BusName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.bluez: %v %v", reply, err)
	}
	return m
}

// call calls an Agent1 method on the agent from conn, as bluetoothd would.
func call(conn *dbus.Conn, agent *Agent, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return conn.Object(agent.conn.Names()[0], agent.Path()).CallWithContext(ctx, ifaceAgent+"."+method, 0, args...)
}

func errName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestAgentRegister(t *testing.T) {
	tests := []struct {
		name    string
		cfg     AgentConfig
		fail    map[string]string
		want    []string
		wantErr string
	}{
		{
			name: "defaults: Just Works, not default",
			want: []string{"RegisterAgent /org/bluenet/agent NoInputNoOutput"},
		},
		{
			name: "display only, default agent",
			cfg:  AgentConfig{Capability: DisplayOnly, Default: true, Path: "/x/agent"},
			want: []string{"RegisterAgent /x/agent DisplayOnly", "RequestDefaultAgent /x/agent"},
		},
		{
			name:    "already registered",
			fail:    map[string]string{"RegisterAgent": "org.bluez.Error.AlreadyExists"},
			want:    []string{"RegisterAgent /org/bluenet/agent NoInputNoOutput"},
			wantErr: "already registered",
		},
		{
			name: "default refused: unregistered again",
			cfg:  AgentConfig{Default: true},
			fail: map[string]string{"RequestDefaultAgent": "org.bluez.Error.DoesNotExist"},
			want: []string{"RegisterAgent /org/bluenet/agent NoInputNoOutput", "RequestDefaultAgent /org/bluenet/agent",
				"UnregisterAgent /org/bluenet/agent"},
			wantErr: "RequestDefaultAgent",
		},
		{name: "bad capability", cfg: AgentConfig{Capability: "Telepathy"}, wantErr: "unknown capability"},
		{name: "bad path", cfg: AgentConfig{Path: "agent"}, wantErr: "invalid object path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := dbustest.New(t)
			m := newAgentMgr(t, bus)
			m.mu.Lock()
			if tt.fail != nil {
				m.fail = tt.fail
			}
			m.mu.Unlock()
			conn := bus.Conn(t)
			a, err := RegisterAgent(context.Background(), conn, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RegisterAgent: %v, want error with %q", err, tt.wantErr)
				}
				if tt.name == "already registered" && !errors.Is(err, ErrAlreadyExists) {
					t.Errorf("not ErrAlreadyExists: %v", err)
				}
			} else if err != nil {
				t.Fatalf("RegisterAgent: %v", err)
			}
			if got := m.calls(); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if a == nil {
				return
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := m.calls(); got[len(got)-1] != "UnregisterAgent "+string(a.Path()) {
				t.Errorf("Close did not unregister: %v", got)
			}
			// The object is gone.
			if err := call(m.conn, a, "RequestAuthorization", dbus.ObjectPath("/org/bluez/hci0/dev_1")).Err; err == nil {
				t.Error("agent still answers after Close")
			}
			if err := a.Close(context.Background()); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestAgentRequests(t *testing.T) {
	const dev = dbus.ObjectPath("/org/bluez/hci0/dev_11_22_33_44_55_66")
	bus := dbustest.New(t)
	m := newAgentMgr(t, bus)
	var mu sync.Mutex
	open := true
	var asked []AuthRequest
	var shown []AuthRequest
	canceled := 0
	cfg := AgentConfig{
		Capability: KeyboardDisplay,
		Default:    true,
		Authorize: func(_ context.Context, r AuthRequest) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, r)
			if !open {
				return errors.New("setup window closed")
			}
			return nil
		},
		DisplayPasskey: func(r AuthRequest) {
			mu.Lock()
			defer mu.Unlock()
			shown = append(shown, r)
		},
		RequestPasskey: func(_ context.Context, r AuthRequest) (uint32, error) {
			return 123456, nil
		},
		OnCancel: func() { mu.Lock(); canceled++; mu.Unlock() },
	}
	a, err := RegisterAgent(context.Background(), bus.Conn(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	stranger := bus.Conn(t)

	tests := []struct {
		name      string
		open      bool
		from      *dbus.Conn // nil: bluetoothd
		method    string
		args      []any
		wantErr   string
		wantAsk   *AuthRequest
		wantShown bool
		wantU32   *uint32
	}{
		{name: "Just Works accepted while open", open: true, method: "RequestAuthorization", args: []any{dev},
			wantAsk: &AuthRequest{Kind: AuthPairing, Device: dev}},
		{name: "Just Works rejected while closed", open: false, method: "RequestAuthorization", args: []any{dev},
			wantErr: "org.bluez.Error.Rejected", wantAsk: &AuthRequest{Kind: AuthPairing, Device: dev}},
		{name: "confirmation carries the passkey", open: true, method: "RequestConfirmation", args: []any{dev, uint32(42)},
			wantAsk: &AuthRequest{Kind: AuthConfirm, Device: dev, Passkey: 42}},
		{name: "confirmation rejected while closed", open: false, method: "RequestConfirmation", args: []any{dev, uint32(42)},
			wantErr: "org.bluez.Error.Rejected", wantAsk: &AuthRequest{Kind: AuthConfirm, Device: dev, Passkey: 42}},
		{name: "passkey shown while open", open: true, method: "DisplayPasskey", args: []any{dev, uint32(7), uint16(2)},
			wantAsk: &AuthRequest{Kind: AuthDisplay, Device: dev, Passkey: 7, Entered: 2}, wantShown: true},
		{name: "passkey not shown while closed", open: false, method: "DisplayPasskey", args: []any{dev, uint32(7), uint16(0)},
			wantErr: "org.bluez.Error.Rejected", wantAsk: &AuthRequest{Kind: AuthDisplay, Device: dev, Passkey: 7}},
		{name: "passkey supplied", open: true, method: "RequestPasskey", args: []any{dev},
			wantAsk: &AuthRequest{Kind: AuthPasskey, Device: dev}, wantU32: ptr(uint32(123456))},
		{name: "service authorized", open: true, method: "AuthorizeService", args: []any{dev, "0000110a-0000-1000-8000-00805f9b34fb"},
			wantAsk: &AuthRequest{Kind: AuthService, Device: dev, UUID: "0000110a-0000-1000-8000-00805f9b34fb"}},
		{name: "PIN codes (BR/EDR legacy) rejected", open: true, method: "RequestPinCode", args: []any{dev},
			wantErr: "org.bluez.Error.Rejected"},
		{name: "PIN display rejected", open: true, method: "DisplayPinCode", args: []any{dev, "0000"},
			wantErr: "org.bluez.Error.Rejected"},
		{name: "cancel", open: true, method: "Cancel"},
		{name: "a stranger cannot ask", open: true, from: stranger, method: "RequestAuthorization", args: []any{dev},
			wantErr: "org.bluez.Error.NotAuthorized"},
		{name: "a stranger cannot release", open: true, from: stranger, method: "Release",
			wantErr: "org.bluez.Error.NotAuthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			open, asked, shown = tt.open, nil, nil
			mu.Unlock()
			from := tt.from
			if from == nil {
				from = m.conn
			}
			c := call(from, a, tt.method, tt.args...)
			if got := errName(c.Err); got != tt.wantErr {
				t.Fatalf("%s: error %q, want %q", tt.method, got, tt.wantErr)
			}
			if tt.wantU32 != nil {
				var v uint32
				if err := c.Store(&v); err != nil || v != *tt.wantU32 {
					t.Errorf("reply %v %v, want %v", v, err, *tt.wantU32)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tt.wantAsk == nil && len(asked) != 0:
				t.Errorf("Authorize called: %+v", asked)
			case tt.wantAsk != nil && (len(asked) != 1 || asked[0] != *tt.wantAsk):
				t.Errorf("Authorize got %+v, want %+v", asked, *tt.wantAsk)
			}
			if (len(shown) == 1) != tt.wantShown || len(shown) > 1 {
				t.Errorf("DisplayPasskey calls %+v, want shown=%v", shown, tt.wantShown)
			}
		})
	}
	mu.Lock()
	if canceled != 1 {
		t.Errorf("OnCancel called %d times, want 1", canceled)
	}
	mu.Unlock()

	// Released by bluetoothd: Close does not unregister.
	if err := call(m.conn, a, "Release").Err; err != nil {
		t.Fatal(err)
	}
	n := len(m.calls())
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.calls(); len(got) != n {
		t.Errorf("Close after Release called bluetoothd: %v", got[n:])
	}
}

func ptr[T any](v T) *T { return &v }

// TestAgentNoPasskeySource: without RequestPasskey, passkey requests are
// rejected; without Authorize, everything else is accepted.
func TestAgentNoPasskeySource(t *testing.T) {
	bus := dbustest.New(t)
	m := newAgentMgr(t, bus)
	a, err := RegisterAgent(context.Background(), bus.Conn(t), AgentConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	dev := dbus.ObjectPath("/org/bluez/hci0/dev_1")
	if got := errName(call(m.conn, a, "RequestPasskey", dev).Err); got != "org.bluez.Error.Rejected" {
		t.Errorf("RequestPasskey: %q", got)
	}
	if err := call(m.conn, a, "RequestAuthorization", dev).Err; err != nil {
		t.Errorf("RequestAuthorization without Authorize: %v", err)
	}
	if err := call(m.conn, a, "DisplayPasskey", dev, uint32(1), uint16(0)).Err; err != nil {
		t.Errorf("DisplayPasskey without callback: %v", err)
	}
}

// TestAgentBluetoothdRestart: when org.bluez gets a new owner, the agent
// registers with it and answers only it.
func TestAgentBluetoothdRestart(t *testing.T) {
	bus := dbustest.New(t)
	m1 := newAgentMgr(t, bus)
	a, err := RegisterAgent(context.Background(), bus.Conn(t), AgentConfig{Default: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if _, err := m1.conn.ReleaseName(bluez.BusName); err != nil {
		t.Fatal(err)
	}
	m2 := newAgentMgr(t, bus)
	want := []string{"RegisterAgent /org/bluenet/agent NoInputNoOutput", "RequestDefaultAgent /org/bluenet/agent"}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Join(m2.calls(), "\n") != strings.Join(want, "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("new bluetoothd got %v, want %v", m2.calls(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dev := dbus.ObjectPath("/org/bluez/hci0/dev_1")
	if err := call(m2.conn, a, "RequestAuthorization", dev).Err; err != nil {
		t.Errorf("new bluetoothd: %v", err)
	}
	if got := errName(call(m1.conn, a, "RequestAuthorization", dev).Err); got != "org.bluez.Error.NotAuthorized" {
		t.Errorf("old bluetoothd answered: %q", got)
	}
}
