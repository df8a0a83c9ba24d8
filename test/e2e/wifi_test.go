//go:build vm

package e2e

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// The wifi tests drive wifi/nm against the guest's real NetworkManager 1.42
// and hostapd. Lines starting with "MEASURE" are the numbers for the issue's
// closing note.

// wifiEnv is one test's backend on the guest's wlan0.
type wifiEnv struct {
	t    *testing.T
	conn *dbus.Conn
	c    *nm.Client
	log  *logbuf.Buffer // the backend's debug log
}

// newWiFi removes every Wi-Fi profile left by earlier tests, disconnects
// wlan0 and starts a backend on it.
func newWiFi(t *testing.T, aps ...vmtest.AP) *wifiEnv {
	t.Helper()
	vmtest.DumpLogsOnFailure(t, "NetworkManager", "wpa_supplicant", "hostapd-wlan1", "hostapd-wlan2", "hostapd-wlan3")
	vmtest.ResetWiFi(t)
	for _, ap := range aps {
		vmtest.StartAP(t, ap)
	}
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t), log: &logbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nm.New(ctx, nm.Config{Conn: e.conn, Logger: log, Interface: "wlan0", ScanInterval: 3 * time.Second})
	if err != nil {
		t.Fatalf("nm.New: %v", err)
	}
	e.c = c
	t.Cleanup(func() {
		_ = c.Close()
		if t.Failed() {
			t.Logf("--- backend log:\n%s", e.log.String())
		}
	})
	return e
}

// waitSeen scans until the backend lists ssid, and returns how long it took.
func (e *wifiEnv) waitSeen(ssid string) time.Duration {
	e.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ch := e.c.WatchAccessPoints(ctx)
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	_ = e.c.RequestScan(ctx)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				e.t.Fatalf("%q not seen after 90s; have %v", ssid, e.c.AccessPoints())
			}
			for _, ap := range l {
				if string(ap.SSID) == ssid {
					return time.Since(start)
				}
			}
		case <-tick.C:
			_ = e.c.RequestScan(ctx)
		}
	}
}

// join runs Join and returns its error and duration.
func (e *wifiEnv) join(ssid, secret string) (error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err := e.c.Join(ctx, []byte(ssid), wifi.Passphrase(secret))
	return err, time.Since(start)
}

// mustJoin joins and checks the state and the single saved profile.
func (e *wifiEnv) mustJoin(ap vmtest.AP, keyMgmt string, hidden bool) time.Duration {
	e.t.Helper()
	err, d := e.join(ap.SSID, ap.PSK)
	if err != nil {
		e.t.Fatalf("Join %s: %v", ap.SSID, err)
	}
	st := e.waitState("connected to "+ap.SSID, 30*time.Second, connectedOn(ap))
	e.t.Logf("state %v", st)
	e.checkProfile(ap.SSID, keyMgmt, hidden)
	vmtest.Sh(e.t, "busybox ping -c1 -W3 "+ap.Gateway())
	return d
}

// connectedOn holds when the state is Connected to ap's SSID with an
// address from ap's DHCP pool.
func connectedOn(ap vmtest.AP) func(wifi.State) bool {
	prefix := strings.TrimSuffix(ap.Gateway(), "1")
	return func(s wifi.State) bool {
		return s.Kind == wifi.Connected && string(s.SSID) == ap.SSID && s.IPv4.IsValid() &&
			strings.HasPrefix(s.IPv4.String(), prefix)
	}
}

// waitState follows the state stream until pred holds.
func (e *wifiEnv) waitState(desc string, limit time.Duration, pred func(wifi.State) bool) wifi.State {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var seen []string
	for s := range e.c.WatchState(ctx) {
		seen = append(seen, s.String())
		if pred(s) {
			return s
		}
	}
	e.t.Fatalf("no state %s within %v; seen %v", desc, limit, seen)
	return wifi.State{}
}

type nmProfile struct {
	id, keyMgmt, filename string
	ssid                  []byte
	hidden, autoconnect   bool
	unsaved               bool
}

// profiles lists the Wi-Fi profiles NetworkManager holds.
func (e *wifiEnv) profiles() []nmProfile {
	e.t.Helper()
	nmObj := func(p dbus.ObjectPath) dbus.BusObject { return e.conn.Object("org.freedesktop.NetworkManager", p) }
	var paths []dbus.ObjectPath
	if err := nmObj("/org/freedesktop/NetworkManager/Settings").Call(
		"org.freedesktop.NetworkManager.Settings.ListConnections", 0).Store(&paths); err != nil {
		e.t.Fatalf("ListConnections: %v", err)
	}
	var out []nmProfile
	for _, p := range paths {
		var s map[string]map[string]dbus.Variant
		if err := nmObj(p).Call("org.freedesktop.NetworkManager.Settings.Connection.GetSettings", 0).Store(&s); err != nil {
			continue
		}
		if t, _ := s["connection"]["type"].Value().(string); t != "802-11-wireless" {
			continue
		}
		var pr nmProfile
		pr.id, _ = s["connection"]["id"].Value().(string)
		pr.autoconnect = true
		if v, ok := s["connection"]["autoconnect"].Value().(bool); ok {
			pr.autoconnect = v
		}
		pr.ssid, _ = s["802-11-wireless"]["ssid"].Value().([]byte)
		pr.hidden, _ = s["802-11-wireless"]["hidden"].Value().(bool)
		pr.keyMgmt, _ = s["802-11-wireless-security"]["key-mgmt"].Value().(string)
		if v, err := nmObj(p).GetProperty("org.freedesktop.NetworkManager.Settings.Connection.Filename"); err == nil {
			pr.filename, _ = v.Value().(string)
		}
		if v, err := nmObj(p).GetProperty("org.freedesktop.NetworkManager.Settings.Connection.Unsaved"); err == nil {
			pr.unsaved, _ = v.Value().(bool)
		}
		out = append(out, pr)
	}
	return out
}

// checkProfile asserts that exactly one Wi-Fi profile exists besides the
// remembered ones ("bluenet-saved-..."): "bluenet", for ssid, on disk,
// autoconnecting.
func (e *wifiEnv) checkProfile(ssid, keyMgmt string, hidden bool) {
	e.t.Helper()
	var ps []nmProfile
	for _, p := range e.profiles() {
		if !strings.HasPrefix(p.id, "bluenet-saved-") {
			ps = append(ps, p)
		}
	}
	if len(ps) != 1 {
		e.t.Fatalf("%d Wi-Fi profiles, want exactly one: %+v", len(ps), ps)
	}
	p := ps[0]
	if p.id != "bluenet" || string(p.ssid) != ssid || p.keyMgmt != keyMgmt || p.hidden != hidden || !p.autoconnect {
		e.t.Errorf("profile %+v, want id bluenet, ssid %q, key-mgmt %q, hidden %v, autoconnect", p, ssid, keyMgmt, hidden)
	}
	if p.unsaved || !strings.HasPrefix(p.filename, "/etc/NetworkManager/system-connections/") {
		e.t.Errorf("profile not saved to disk: filename %q unsaved %v", p.filename, p.unsaved)
	}
}

// checkNoSecret asserts that the backend's debug log holds none of secrets.
func (e *wifiEnv) checkNoSecret(secrets ...string) {
	e.t.Helper()
	for _, s := range secrets {
		if strings.Contains(e.log.String(), s) {
			e.t.Errorf("backend log contains a secret")
		}
	}
}

func TestWiFiJoinWPA2(t *testing.T) {
	ap := vmtest.AP{Iface: "wlan1", SSID: "Wpa2Net", PSK: "wpa2-pass-123"}
	e := newWiFi(t, ap)
	t.Logf("MEASURE AP visible to the backend after %.2fs", e.waitSeen(ap.SSID).Seconds())
	for _, a := range e.c.AccessPoints() {
		if string(a.SSID) == ap.SSID && a.Security != wifi.SecurityPSK {
			t.Errorf("security %v, want wpa-psk", a.Security)
		}
	}
	d := e.mustJoin(ap, "wpa-psk", false)
	t.Logf("MEASURE join WPA2 (Join call -> ACTIVATED, profile saved): %.2fs", d.Seconds())
	e.checkNoSecret(ap.PSK)
}

func TestWiFiJoinOpen(t *testing.T) {
	ap := vmtest.AP{Iface: "wlan2", SSID: "OpenNet"}
	e := newWiFi(t, ap)
	e.waitSeen(ap.SSID)
	d := e.mustJoin(ap, "", false)
	t.Logf("MEASURE join open: %.2fs", d.Seconds())
}

func TestWiFiJoinSAE(t *testing.T) {
	ap := vmtest.AP{Iface: "wlan3", SSID: "Wpa3Net", PSK: "sae-pass-1234", SAE: true}
	e := newWiFi(t, ap)
	e.waitSeen(ap.SSID)
	for _, a := range e.c.AccessPoints() {
		if string(a.SSID) == ap.SSID && a.Security != wifi.SecuritySAE {
			t.Errorf("security %v, want sae", a.Security)
		}
	}
	d := e.mustJoin(ap, "sae", false)
	t.Logf("MEASURE join WPA3-SAE: %.2fs", d.Seconds())
	e.checkNoSecret(ap.PSK)
}

func TestWiFiJoinHidden(t *testing.T) {
	ap := vmtest.AP{Iface: "wlan1", SSID: "HiddenNet", PSK: "hidden-pass-1", Hidden: true}
	e := newWiFi(t, ap)
	d := e.mustJoin(ap, "wpa-psk", true)
	t.Logf("MEASURE join hidden WPA2: %.2fs", d.Seconds())
}

// TestWiFiWrongPasswordRollsBack: on A, a join to B with a wrong password
// fails with "wrong password" and the device is back on A with an address.
func TestWiFiWrongPasswordRollsBack(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "HomeA", PSK: "home-a-pass-1"}
	b := vmtest.AP{Iface: "wlan2", SSID: "CafeB", PSK: "cafe-b-pass-1"}
	e := newWiFi(t, a, b)
	e.waitSeen(a.SSID)
	e.waitSeen(b.SSID)
	e.mustJoin(a, "wpa-psk", false)

	const wrong = "not-cafe-b-pass"
	start := time.Now()
	err, d := e.join(b.SSID, wrong)
	if !errors.Is(err, wifi.ErrWrongPassword) {
		t.Fatalf("Join with wrong password: %v, want wrong password", err)
	}
	if wifi.ReasonOf(err).String() != "wrong password" {
		t.Errorf("reason %q", wifi.ReasonOf(err))
	}
	var je *wifi.JoinError
	if errors.As(err, &je) && !je.RolledBack {
		t.Errorf("not rolled back: %v", err)
	}
	t.Logf("join error: %v", err)
	t.Logf("MEASURE wrong password detected (Join call -> error): %.2fs", d.Seconds())
	failedAt := time.Now()
	st := e.waitState("back on A", 60*time.Second, connectedOn(a))
	t.Logf("state %v", st)
	t.Logf("MEASURE rollback to A (error -> Connected with IPv4): %.2fs; Join call -> back on A: %.2fs",
		time.Since(failedAt).Seconds(), time.Since(start).Seconds())
	e.checkProfile(a.SSID, "wpa-psk", false)
	vmtest.Sh(t, "busybox ping -c1 -W3 "+a.Gateway())
	e.checkNoSecret(a.PSK, wrong)
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error contains the secret")
	}
}

// TestWiFiSwitchNetwork: on A, a correct join to B ends on B with exactly
// one "bluenet" profile.
func TestWiFiSwitchNetwork(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "SwitchA", PSK: "switch-a-pass"}
	b := vmtest.AP{Iface: "wlan2", SSID: "SwitchB", PSK: "switch-b-pass"}
	e := newWiFi(t, a, b)
	e.waitSeen(a.SSID)
	e.waitSeen(b.SSID)
	e.mustJoin(a, "wpa-psk", false)
	d := e.mustJoin(b, "wpa-psk", false)
	t.Logf("MEASURE switch A -> B (Join call -> ACTIVATED on B): %.2fs", d.Seconds())
}

// TestWiFiNotFound: on A, a join to an SSID that does not exist fails with
// "not found", and the device is back on A.
func TestWiFiNotFound(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "StayA", PSK: "stay-a-pass-1"}
	e := newWiFi(t, a)
	e.waitSeen(a.SSID)
	e.mustJoin(a, "wpa-psk", false)
	err, d := e.join("NoSuchNetwork", "whatever-pass")
	if !errors.Is(err, wifi.ErrNotFound) {
		t.Fatalf("Join of a missing SSID: %v, want not found", err)
	}
	t.Logf("join error: %v", err)
	t.Logf("MEASURE not found detected: %.2fs", d.Seconds())
	failedAt := time.Now()
	e.waitState("back on A", 60*time.Second, connectedOn(a))
	t.Logf("MEASURE rollback to A after not found: %.2fs", time.Since(failedAt).Seconds())
	e.checkProfile(a.SSID, "wpa-psk", false)
}

// TestWiFiInvalidInput: bad input is refused before NetworkManager is
// touched (no profile appears).
func TestWiFiInvalidInput(t *testing.T) {
	e := newWiFi(t)
	for _, tc := range []struct{ ssid, secret string }{
		{"", "password1"}, {strings.Repeat("x", 33), "password1"}, {"Net", "short"},
	} {
		err, _ := e.join(tc.ssid, tc.secret)
		if !errors.Is(err, wifi.ErrInvalid) {
			t.Errorf("Join(%q): %v, want invalid input", tc.ssid, err)
		}
	}
	if ps := e.profiles(); len(ps) != 0 {
		t.Errorf("profiles created: %+v", ps)
	}
}

// TestWiFiNetworkManagerRestart: NetworkManager exits and starts again; the
// state stream goes Down and then resumes on the same network with its
// address, and joins work again.
func TestWiFiNetworkManagerRestart(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "RestartA", PSK: "restart-a-pass"}
	b := vmtest.AP{Iface: "wlan2", SSID: "RestartB", PSK: "restart-b-pass"}
	e := newWiFi(t, a, b)
	e.waitSeen(a.SSID)
	e.mustJoin(a, "wpa-psk", false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	states := e.c.WatchState(ctx)
	vmtest.Sh(t, `pid=$(pidof NetworkManager); kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done`)
	start := time.Now()
	var seen []string
	waitFor := func(desc string, pred func(wifi.State) bool) {
		t.Helper()
		for s := range states {
			seen = append(seen, s.String())
			if pred(s) {
				return
			}
		}
		t.Fatalf("no state %s; seen %v", desc, seen)
	}
	waitFor("down", func(s wifi.State) bool { return s.Kind == wifi.Down })
	vmtest.Sh(t, `NetworkManager --config=/run/nm.conf --debug >>$L/NetworkManager.log 2>&1 </dev/null &`)
	waitFor("connected to A again", connectedOn(a))
	t.Logf("states %v", seen)
	t.Logf("MEASURE NetworkManager restart -> Connected again: %.2fs", time.Since(start).Seconds())
	e.waitSeen(b.SSID)
	e.mustJoin(b, "wpa-psk", false)
}
