package nm_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/internal/nmfake"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// startClient starts an nm.Client on a fake that the test has prepared.
func startClient(t *testing.T, bus *dbustest.Bus, cfg nm.Config) *nm.Client {
	t.Helper()
	cfg.Conn = bus.Conn(t)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := nm.New(ctx, cfg)
	if err != nil {
		t.Fatalf("nm.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitDevice waits until the fake device is ACTIVATED on ssid.
func waitDevice(t *testing.T, f *nmfake.NM, ssid string) {
	t.Helper()
	eventually(t, "device activated on "+ssid, func() bool {
		return f.DeviceState() == nmfake.StateActivated && string(f.ActiveSSID()) == ssid
	})
}

// TestReconcileAtStart puts the fake in the states a daemon killed in the
// middle of a join leaves behind, starts a Client, and checks that it ends
// with one saved "bluenet" profile, no pending one, and the device on a
// network.
func TestReconcileAtStart(t *testing.T) {
	a := nmfake.Network{SSID: []byte("A"), PSK: "password-a"}
	b := nmfake.Network{SSID: []byte("B"), PSK: "password-b"}
	tests := []struct {
		name string
		fcfg nmfake.Config
		nets []nmfake.Network
		// prepare leaves the fake as the killed daemon did.
		prepare func(t *testing.T, f *nmfake.NM)
		// wantSSID, wantPSK: the one "bluenet" profile at the end, and the
		// network the device is on.
		wantSSID, wantPSK string
		// activations is how many ActivateConnection calls the Client may make.
		activations int
	}{
		{
			name: "pending connected is promoted",
			nets: []nmfake.Network{a, b},
			prepare: func(t *testing.T, f *nmfake.NM) {
				f.AddProfile("bluenet", []byte("A"), "password-a", true)
				p := f.AddMemoryProfile("bluenet-pending", []byte("B"), "password-b")
				must(t, f.Activate(p))
				waitDevice(t, f, "B")
			},
			wantSSID: "B", wantPSK: "password-b",
		},
		{
			name: "pending activating then connected is promoted",
			fcfg: nmfake.Config{Step: 40 * time.Millisecond},
			nets: []nmfake.Network{a, b},
			prepare: func(t *testing.T, f *nmfake.NM) {
				f.AddProfile("bluenet", []byte("A"), "password-a", true)
				p := f.AddMemoryProfile("bluenet-pending", []byte("B"), "password-b")
				must(t, f.Activate(p))
			},
			wantSSID: "B", wantPSK: "password-b",
		},
		{
			name: "pending failed is deleted and the old network comes back",
			nets: []nmfake.Network{a, b},
			prepare: func(t *testing.T, f *nmfake.NM) {
				f.AddProfile("bluenet", []byte("A"), "password-a", true)
				p := f.AddMemoryProfile("bluenet-pending", []byte("B"), "wrong-password")
				must(t, f.Activate(p))
				eventually(t, "activation failed", func() bool {
					return f.ActiveSSID() == nil && f.DeviceState() == nmfake.StateDisconnected
				})
			},
			wantSSID: "A", wantPSK: "password-a", activations: 1,
		},
		{
			name: "pending hanging is deleted after the join timeout",
			nets: []nmfake.Network{a, {SSID: []byte("B"), PSK: "password-b", Hang: true}},
			prepare: func(t *testing.T, f *nmfake.NM) {
				f.AddProfile("bluenet", []byte("A"), "password-a", true)
				p := f.AddMemoryProfile("bluenet-pending", []byte("B"), "password-b")
				must(t, f.Activate(p))
			},
			wantSSID: "A", wantPSK: "password-a", activations: 1,
		},
		{
			name: "pending inactive is deleted, the device stays",
			nets: []nmfake.Network{a, b},
			prepare: func(t *testing.T, f *nmfake.NM) {
				p := f.AddProfile("bluenet", []byte("A"), "password-a", true)
				f.AddMemoryProfile("bluenet-pending", []byte("B"), "password-b")
				must(t, f.Activate(p))
				waitDevice(t, f, "A")
			},
			wantSSID: "A", wantPSK: "password-a",
		},
		{
			name: "two named profiles: the active one is kept",
			nets: []nmfake.Network{a, b},
			prepare: func(t *testing.T, f *nmfake.NM) {
				f.AddProfile("bluenet", []byte("A"), "password-a", true)
				p := f.AddProfile("bluenet", []byte("B"), "password-b", true)
				must(t, f.Activate(p))
				waitDevice(t, f, "B")
			},
			wantSSID: "B", wantPSK: "password-b",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bus := dbustest.New(t)
			f := nmfake.New(t, bus, tc.fcfg)
			for _, n := range tc.nets {
				f.AddNetwork(n)
			}
			tc.prepare(t, f)
			c := startClient(t, bus, nm.Config{JoinTimeout: 2 * time.Second})
			eventually(t, "one bluenet profile and no pending", func() bool {
				return len(profilesNamed(f, "bluenet")) == 1 && len(profilesNamed(f, "bluenet-pending")) == 0
			})
			waitDevice(t, f, tc.wantSSID)
			// Joins wait for the reconciliation; a join of A afterwards must
			// work and still leave exactly one profile.
			checkOne(t, f, tc.wantSSID, tc.wantPSK)
			if n := count(f.Calls(), "ActivateConnection"); n != tc.activations {
				t.Errorf("ActivateConnection calls = %d, want %d (%v)", n, tc.activations, f.Calls())
			}
			if err := c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a")); err != nil {
				t.Fatalf("join after reconcile: %v", err)
			}
			checkOne(t, f, "A", "password-a")
		})
	}
}

// TestReconcileAfterNetworkManagerRestart: a join cut short by a
// NetworkManager restart leaves its in-memory profile (NetworkManager keeps
// them in /run); the Client removes it when NetworkManager is back and
// brings the old network back.
func TestReconcileAfterNetworkManagerRestart(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{JoinTimeout: 5 * time.Second},
		nmfake.Network{SSID: []byte("A"), PSK: "password-a"},
		nmfake.Network{SSID: []byte("B"), PSK: "password-b", Hang: true})
	e.connectA(t, "bluenet")
	res := make(chan error, 1)
	go func() { res <- e.c.Join(ctxT(t), []byte("B"), wifi.Passphrase("password-b")) }()
	eventually(t, "pending profile added", func() bool { return len(profilesNamed(e.fake, "bluenet-pending")) == 1 })
	e.fake.Restart()
	select {
	case err := <-res:
		if wifi.ReasonOf(err) != wifi.ReasonUnavailable {
			t.Errorf("join across a NetworkManager restart: %v, want unavailable", err)
		}
	case <-time.After(guard):
		t.Fatal("join did not return after NetworkManager restarted")
	}
	eventually(t, "no pending profile, one bluenet", func() bool {
		return len(profilesNamed(e.fake, "bluenet-pending")) == 0 && len(profilesNamed(e.fake, "bluenet")) == 1
	})
	waitDevice(t, e.fake, "A")
}

func checkOne(t *testing.T, f *nmfake.NM, ssid, psk string) {
	t.Helper()
	eventually(t, "one bluenet profile and no pending", func() bool {
		return len(profilesNamed(f, "bluenet")) == 1 && len(profilesNamed(f, "bluenet-pending")) == 0
	})
	p := profilesNamed(f, "bluenet")[0]
	if string(p.SSID) != ssid || p.PSK != psk || p.Persist != "disk" || !p.Autoconnect {
		t.Errorf("bluenet profile: ssid %q psk ok %v persist %q autoconnect %v; want %q on disk with autoconnect",
			p.SSID, p.PSK == psk, p.Persist, p.Autoconnect, ssid)
	}
}

func count(calls []string, name string) int {
	return len(slices.DeleteFunc(slices.Clone(calls), func(s string) bool { return s != name }))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
