package nm_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/internal/nmfake"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// guard bounds every wait so that a broken test fails instead of hanging.
// It is not a performance limit.
const guard = 20 * time.Second

type env struct {
	fake *nmfake.NM
	c    *nm.Client
	bus  *dbustest.Bus
}

func setup(t *testing.T, fcfg nmfake.Config, cfg nm.Config, nets ...nmfake.Network) *env {
	t.Helper()
	bus := dbustest.New(t)
	fake := nmfake.New(t, bus, fcfg)
	for _, n := range nets {
		fake.AddNetwork(n)
	}
	return &env{fake: fake, c: startClient(t, bus, cfg), bus: bus}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

// waitState reads ch until pred holds and returns the states seen.
func waitState(t *testing.T, ch <-chan wifi.State, desc string, pred func(wifi.State) bool) []wifi.State {
	t.Helper()
	var seen []wifi.State
	timer := time.NewTimer(guard)
	defer timer.Stop()
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				t.Fatalf("state channel closed waiting for %s; seen %v", desc, seen)
			}
			seen = append(seen, s)
			if pred(s) {
				return seen
			}
		case <-timer.C:
			t.Fatalf("no state %s; seen %v", desc, seen)
		}
	}
}

func connectedTo(ssid string) func(wifi.State) bool {
	return func(s wifi.State) bool {
		return s.Kind == wifi.Connected && string(s.SSID) == ssid && s.IPv4.IsValid()
	}
}

func kindIs(k wifi.Kind) func(wifi.State) bool {
	return func(s wifi.State) bool { return s.Kind == k }
}

// eventually polls cond (for fake-side facts that have no stream).
func eventually(t *testing.T, desc string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", desc)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func profilesNamed(f *nmfake.NM, id string) []nmfake.Profile {
	var out []nmfake.Profile
	for _, p := range f.Profiles() {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

// connectA puts the device on network "A" through an existing profile
// named name, as left by an earlier join.
func (e *env) connectA(t *testing.T, name string) {
	t.Helper()
	ch := e.c.WatchState(ctxT(t))
	p := e.fake.AddProfile(name, []byte("A"), "password-a", true)
	if err := e.fake.Activate(p); err != nil {
		t.Fatal(err)
	}
	waitState(t, ch, "connected to A", connectedTo("A"))
}

var (
	netA = nmfake.Network{SSID: []byte("A"), PSK: "password-a", IPv4: netip.MustParseAddr("192.168.71.126")}
	netB = nmfake.Network{SSID: []byte("B"), PSK: "password-b", IPv4: netip.MustParseAddr("192.168.72.126")}
)

func TestStateFollowsDevice(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, netA)
	if got := e.c.State(); got.Kind != wifi.Disconnected {
		t.Fatalf("initial state %v, want disconnected", got)
	}
	ch := e.c.WatchState(ctxT(t))
	p := e.fake.AddProfile("other", []byte("A"), "password-a", true)
	if err := e.fake.Activate(p); err != nil {
		t.Fatal(err)
	}
	seen := waitState(t, ch, "connected to A", connectedTo("A"))
	last := seen[len(seen)-1]
	if last.IPv4 != netA.IPv4 {
		t.Errorf("IPv4 = %v, want %v", last.IPv4, netA.IPv4)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Equal(seen[i-1]) {
			t.Errorf("state %v emitted twice in a row", seen[i])
		}
	}
	for _, s := range seen {
		if s.Kind == wifi.Connecting && string(s.SSID) != "A" {
			t.Errorf("connecting state without the SSID: %v", s)
		}
	}
	if got := e.c.State(); !got.Equal(last) {
		t.Errorf("State() = %v, want %v", got, last)
	}

	e.fake.SetWirelessEnabled(false)
	waitState(t, ch, "down (radio off)", kindIs(wifi.Down))
	e.fake.SetWirelessEnabled(true)
	waitState(t, ch, "disconnected (radio on)", kindIs(wifi.Disconnected))
}

func TestAccessPointsLive(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, nmfake.Network{SSID: []byte("open"), Strength: 40})
	ch := e.c.WatchAccessPoints(ctxT(t))
	waitAPs := func(desc string, pred func([]wifi.AccessPoint) bool) []wifi.AccessPoint {
		t.Helper()
		timer := time.NewTimer(guard)
		defer timer.Stop()
		for {
			select {
			case l := <-ch:
				if pred(l) {
					return l
				}
			case <-timer.C:
				t.Fatalf("access points never %s; have %v", desc, e.c.AccessPoints())
			}
		}
	}
	waitAPs("has open", func(l []wifi.AccessPoint) bool { return len(l) == 1 })

	e.fake.AddNetwork(nmfake.Network{SSID: []byte("wpa2"), PSK: "password1", Strength: 80})
	e.fake.AddNetwork(nmfake.Network{SSID: []byte("wpa3"), PSK: "password1", SAE: true, Strength: 60})
	e.fake.AddNetwork(nmfake.Network{SSID: []byte("corp"), Enterprise: true, Strength: 20})
	l := waitAPs("has 4", func(l []wifi.AccessPoint) bool { return len(l) == 4 })
	var order []string
	for _, ap := range l {
		order = append(order, string(ap.SSID)+"/"+ap.Security.String())
	}
	if want := []string{"wpa2/wpa-psk", "wpa3/sae", "open/open", "corp/enterprise"}; !slices.Equal(order, want) {
		t.Errorf("access points %v, want %v (strongest first)", order, want)
	}

	e.fake.SetStrength([]byte("open"), 99)
	l = waitAPs("open strongest", func(l []wifi.AccessPoint) bool { return string(l[0].SSID) == "open" && l[0].Strength == 99 })

	e.fake.RemoveNetwork([]byte("wpa2"))
	waitAPs("wpa2 gone", func(l []wifi.AccessPoint) bool {
		return len(l) == 3 && !slices.ContainsFunc(l, func(ap wifi.AccessPoint) bool { return string(ap.SSID) == "wpa2" })
	})
	if n := len(e.c.AccessPoints()); n != 3 {
		t.Errorf("AccessPoints() has %d entries, want 3", n)
	}
}

func TestRequestScanRateLimited(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{ScanInterval: time.Hour})
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		if err := e.c.RequestScan(ctx); err != nil {
			t.Fatalf("RequestScan: %v", err)
		}
	}
	if n := e.fake.Scans(); n != 1 {
		t.Errorf("NetworkManager got %d scan requests, want 1", n)
	}
}

func TestJoinFromDisconnected(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, netA)
	ch := e.c.WatchState(ctxT(t))
	if err := e.c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a")); err != nil {
		t.Fatalf("Join: %v", err)
	}
	// Join returns at ACTIVATED; the stream follows.
	waitState(t, ch, "connected to A", connectedTo("A"))
	ps := e.fake.Profiles()
	if len(ps) != 1 {
		t.Fatalf("%d profiles, want 1: %+v", len(ps), ps)
	}
	p := ps[0]
	if p.ID != "bluenet" || !p.Autoconnect || p.Persist != "disk" || p.KeyMgmt != "wpa-psk" ||
		p.PSK != "password-a" || p.Hidden || string(p.SSID) != "A" {
		t.Errorf("profile %+v, want bluenet/autoconnect/disk/wpa-psk/psk kept/not hidden/A", p)
	}
}

func TestJoinSecurityChoice(t *testing.T) {
	tests := []struct {
		name    string
		net     nmfake.Network
		secret  string
		keyMgmt string
		hidden  bool
	}{
		{"open", nmfake.Network{SSID: []byte("N")}, "", "", false},
		{"wpa2", nmfake.Network{SSID: []byte("N"), PSK: "password1"}, "password1", "wpa-psk", false},
		{"wpa3 only", nmfake.Network{SSID: []byte("N"), PSK: "password1", SAE: true}, "password1", "sae", false},
		{"wpa2/wpa3 transition", nmfake.Network{SSID: []byte("N"), PSK: "password1", SAE: true, WPA2: true}, "password1", "wpa-psk", false},
		{"hidden wpa2", nmfake.Network{SSID: []byte("N"), PSK: "password1", Hidden: true}, "password1", "wpa-psk", true},
		{"hidden open", nmfake.Network{SSID: []byte("N"), Hidden: true}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nmfake.Config{}, nm.Config{}, tt.net)
			if err := e.c.Join(ctxT(t), []byte("N"), wifi.Passphrase(tt.secret)); err != nil {
				t.Fatalf("Join: %v", err)
			}
			ps := profilesNamed(e.fake, "bluenet")
			if len(ps) != 1 {
				t.Fatalf("%d bluenet profiles, want 1", len(ps))
			}
			if ps[0].KeyMgmt != tt.keyMgmt || ps[0].Hidden != tt.hidden {
				t.Errorf("key-mgmt %q hidden %v, want %q %v", ps[0].KeyMgmt, ps[0].Hidden, tt.keyMgmt, tt.hidden)
			}
		})
	}
}

func TestJoinReplacesProfileKeepingOne(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{Remember: -1}, netA, netB)
	e.connectA(t, "bluenet")
	// A stale pending profile from a crashed join must not survive either.
	e.fake.AddProfile("bluenet-pending", []byte("X"), "password-x", false)
	ch := e.c.WatchState(ctxT(t))
	if err := e.c.Join(ctxT(t), []byte("B"), wifi.Passphrase("password-b")); err != nil {
		t.Fatalf("Join: %v", err)
	}
	waitState(t, ch, "connected to B", connectedTo("B"))
	ps := e.fake.Profiles()
	if len(ps) != 1 || ps[0].ID != "bluenet" || string(ps[0].SSID) != "B" || ps[0].Persist != "disk" {
		t.Errorf("profiles %+v, want exactly one bluenet for B on disk", ps)
	}
}

func TestJoinFailureRollsBack(t *testing.T) {
	tests := []struct {
		name       string
		fcfg       nmfake.Config
		ssid       string
		secret     string
		timeout    time.Duration
		want       error
		wantDetail string
	}{
		{name: "wrong password", ssid: "B", secret: "wrong-password", want: wifi.ErrWrongPassword, wantDetail: "reason 7"},
		{name: "wrong password and NM reactivates first", fcfg: nmfake.Config{AutoReactivate: true, AutoReactivateDelay: time.Microsecond},
			ssid: "B", secret: "wrong-password", want: wifi.ErrWrongPassword},
		{name: "not found", ssid: "nowhere", secret: "password1", want: wifi.ErrNotFound, wantDetail: "53"},
		{name: "timeout", ssid: "H", secret: "password-h", timeout: 50 * time.Millisecond, want: wifi.ErrTimeout},
		{name: "DHCP failed", ssid: "D", secret: "", want: wifi.ErrDHCPFailed},
		// The key exchange succeeded twice and the access point dropped the
		// link both times: not a wrong password.
		{name: "link lost after the key exchange, twice", ssid: "L", secret: "password-l", want: wifi.ErrFailed, wantDetail: "reason 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.fcfg, nm.Config{JoinTimeout: tt.timeout}, netA, netB,
				nmfake.Network{SSID: []byte("H"), PSK: "password-h", Hang: true},
				nmfake.Network{SSID: []byte("D"), DHCPFails: true},
				nmfake.Network{SSID: []byte("L"), PSK: "password-l", LinkDrops: 2})
			e.connectA(t, "bluenet")
			ch := e.c.WatchState(ctxT(t))
			err := e.c.Join(ctxT(t), []byte(tt.ssid), wifi.Passphrase(tt.secret))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Join error %v, want %v", err, tt.want)
			}
			var je *wifi.JoinError
			if !errors.As(err, &je) {
				t.Fatalf("error %T is not a *wifi.JoinError", err)
			}
			if !je.RolledBack {
				t.Errorf("RolledBack = false: %v", err)
			}
			if string(je.SSID) != tt.ssid {
				t.Errorf("JoinError.SSID = %q", je.SSID)
			}
			if !strings.Contains(je.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not mention %q", je.Detail, tt.wantDetail)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
			waitState(t, ch, "back on A", connectedTo("A"))
			eventually(t, "only A's bluenet profile left", func() bool {
				ps := e.fake.Profiles()
				return len(ps) == 1 && ps[0].ID == "bluenet" && string(ps[0].SSID) == "A"
			})
		})
	}
}

// TestJoinRetriesWhenLinkLostAfterKeys: the access point drops the link
// once right after a successful key exchange (NetworkManager then says
// NO_SECRETS); the join activates once more and succeeds.
func TestJoinRetriesWhenLinkLostAfterKeys(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{Remember: -1}, netA, nmfake.Network{SSID: []byte("L"), PSK: "password-l", LinkDrops: 1})
	e.connectA(t, "bluenet")
	if err := e.c.Join(ctxT(t), []byte("L"), wifi.Passphrase("password-l")); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if n := strings.Count(strings.Join(e.fake.Calls(), " "), "ActivateConnection"); n < 2 {
		t.Errorf("calls %v: want AddAndActivateConnection2 and one ActivateConnection", e.fake.Calls())
	}
	ps := e.fake.Profiles()
	if len(ps) != 1 || ps[0].ID != "bluenet" || string(ps[0].SSID) != "L" {
		t.Errorf("profiles %+v, want one bluenet profile for L", ps)
	}
}

func TestJoinFailureWithoutPreviousConnection(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, netB)
	err := e.c.Join(ctxT(t), []byte("B"), wifi.Passphrase("wrong-password"))
	if !errors.Is(err, wifi.ErrWrongPassword) {
		t.Fatalf("Join error %v, want wrong password", err)
	}
	var je *wifi.JoinError
	if errors.As(err, &je) && je.RolledBack {
		t.Error("RolledBack with nothing to roll back to")
	}
	if ps := e.fake.Profiles(); len(ps) != 0 {
		t.Errorf("profiles left: %+v", ps)
	}
}

func TestJoinInvalidInputTouchesNothing(t *testing.T) {
	tests := []struct {
		name   string
		ssid   []byte
		secret string
	}{
		{"empty ssid", nil, "password1"},
		{"long ssid", bytes.Repeat([]byte("x"), 33), "password1"},
		{"short password", []byte("A"), "short"},
		{"non-ascii password", []byte("A"), "pässword"},
		{"password for open network", []byte("O"), "password1"},
		{"no password for WPA2 network", []byte("A"), ""},
		{"enterprise", []byte("E"), "password1"},
	}
	e := setup(t, nmfake.Config{}, nm.Config{}, netA, nmfake.Network{SSID: []byte("O")},
		nmfake.Network{SSID: []byte("E"), Enterprise: true})
	eventually(t, "3 access points", func() bool { return len(e.c.AccessPoints()) == 3 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.fake.Calls())
			err := e.c.Join(ctxT(t), tt.ssid, wifi.Passphrase(tt.secret))
			if !errors.Is(err, wifi.ErrInvalid) {
				t.Fatalf("Join error %v, want ErrInvalid", err)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
			if calls := e.fake.Calls()[before:]; len(calls) != 0 {
				t.Errorf("NetworkManager was called: %v", calls)
			}
		})
	}
}

func TestJoinBusyAndCancel(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{JoinTimeout: time.Hour}, netA,
		nmfake.Network{SSID: []byte("H"), PSK: "password-h", Hang: true})
	e.connectA(t, "bluenet")
	ctx, cancel := context.WithCancel(ctxT(t))
	first := make(chan error, 1)
	go func() { first <- e.c.Join(ctx, []byte("H"), wifi.Passphrase("password-h")) }()
	eventually(t, "first join activating", func() bool {
		return slices.Contains(e.fake.Calls(), "AddAndActivateConnection2")
	})
	before := len(e.fake.Calls())
	err := e.c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a"))
	if !errors.Is(err, wifi.ErrBusy) {
		t.Fatalf("second Join: %v, want ErrBusy", err)
	}
	if calls := e.fake.Calls()[before:]; slices.Contains(calls, "AddAndActivateConnection2") {
		t.Errorf("busy join touched NetworkManager: %v", calls)
	}
	cancel()
	err = <-first
	if !errors.Is(err, wifi.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Join: %v, want ErrCanceled wrapping context.Canceled", err)
	}
	ch := e.c.WatchState(ctxT(t))
	waitState(t, ch, "back on A", connectedTo("A"))
	eventually(t, "pending profile deleted", func() bool { return len(profilesNamed(e.fake, "bluenet-pending")) == 0 })
	// The lock is free again.
	if err := e.c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a")); err != nil {
		t.Fatalf("join after cancel: %v", err)
	}
}

func TestNetworkManagerRestart(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, netA, netB)
	e.connectA(t, "bluenet")
	ch := e.c.WatchState(ctxT(t))
	e.fake.Stop()
	waitState(t, ch, "down while NetworkManager is gone", kindIs(wifi.Down))
	eventually(t, "access points cleared", func() bool { return len(e.c.AccessPoints()) == 0 })
	if err := e.c.Join(ctxT(t), []byte("B"), wifi.Passphrase("password-b")); !errors.Is(err, wifi.ErrUnavailable) {
		t.Errorf("Join without NetworkManager: %v, want ErrUnavailable", err)
	}
	e.fake.Start()
	waitState(t, ch, "connected to A again", connectedTo("A"))
	eventually(t, "access points back", func() bool { return len(e.c.AccessPoints()) == 2 })
	// The client follows the new object paths: a join works.
	if err := e.c.Join(ctxT(t), []byte("B"), wifi.Passphrase("password-b")); err != nil {
		t.Fatalf("Join after restart: %v", err)
	}
	waitState(t, ch, "connected to B", connectedTo("B"))
}

func TestNetworkManagerMissingAtStart(t *testing.T) {
	bus := dbustest.New(t)
	c, err := nm.New(ctxT(t), nm.Config{Conn: bus.Conn(t)})
	if err != nil {
		t.Fatalf("New without NetworkManager: %v", err)
	}
	defer c.Close()
	if s := c.State(); s.Kind != wifi.Down {
		t.Errorf("state %v, want down", s)
	}
	if err := c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a")); !errors.Is(err, wifi.ErrUnavailable) {
		t.Errorf("Join: %v, want ErrUnavailable", err)
	}
	if err := c.RequestScan(ctxT(t)); !errors.Is(err, wifi.ErrUnavailable) {
		t.Errorf("RequestScan: %v, want ErrUnavailable", err)
	}
	ch := c.WatchState(ctxT(t))
	f := nmfake.New(t, bus, nmfake.Config{})
	f.AddNetwork(netA)
	waitState(t, ch, "disconnected once NetworkManager appears", kindIs(wifi.Disconnected))
}

func TestWrongInterfaceIsDown(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{Interface: "wlan9"}, netA)
	if s := e.c.State(); s.Kind != wifi.Down {
		t.Errorf("state %v, want down", s)
	}
	if err := e.c.Join(ctxT(t), []byte("A"), wifi.Passphrase("password-a")); !errors.Is(err, wifi.ErrUnavailable) {
		t.Errorf("Join: %v, want ErrUnavailable", err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	e := setup(t, nmfake.Config{}, nm.Config{}, netA)
	sc := e.c.WatchState(context.Background())
	ac := e.c.WatchAccessPoints(context.Background())
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	for range sc {
	}
	for range ac {
	}
	if err := e.c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSecretNeverLoggedOrInErrors(t *testing.T) {
	const good, bad = "s3cret-Good-pass", "s3cret-Bad-pass"
	var buf logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := setup(t, nmfake.Config{}, nm.Config{Logger: log},
		nmfake.Network{SSID: []byte("S"), PSK: good})
	if err := e.c.Join(ctxT(t), []byte("S"), wifi.Passphrase(good)); err != nil {
		t.Fatalf("Join: %v", err)
	}
	err := e.c.Join(ctxT(t), []byte("S"), wifi.Passphrase(bad))
	if !errors.Is(err, wifi.ErrWrongPassword) {
		t.Fatalf("Join with wrong password: %v", err)
	}
	err2 := e.c.Join(ctxT(t), []byte("nowhere"), wifi.Passphrase(bad))
	out := buf.String()
	if !strings.Contains(out, "join: start") || !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("log capture did not work:\n%s", out)
	}
	for _, s := range []string{good, bad} {
		if strings.Contains(out, s) {
			t.Errorf("log contains a secret:\n%s", out)
		}
		for _, e := range []error{err, err2} {
			if strings.Contains(e.Error(), s) {
				t.Errorf("error %q contains a secret", e)
			}
		}
	}
	// The secret did reach NetworkManager.
	if ps := profilesNamed(e.fake, "bluenet"); len(ps) != 1 || ps[0].PSK != good {
		t.Errorf("profile does not hold the secret: %+v", ps)
	}
}
