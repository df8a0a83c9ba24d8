//go:build vm

package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/att"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// The fault tests of RELIABILITY.md: other daemons, the radio or Bluenet
// itself fail in the middle of the work. Lines starting with "MEASURE" are
// the recovery times reported there.

// restartNM stops NetworkManager as systemctl does (SIGTERM, wait for the
// exit) and starts it again; it returns when the new one owns its bus name.
func restartNM(t *testing.T) time.Time {
	t.Helper()
	vmtest.Sh(t, `pid=$(pidof NetworkManager); kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done
		NetworkManager --config=/run/nm.conf --debug >>$L/NetworkManager.log 2>&1 </dev/null &
		wait_for 30 "NetworkManager on D-Bus" nmcli -t general status`)
	return time.Now()
}

// wlan0Link returns the SSID wlan0 is associated with and whether
// NetworkManager has it ACTIVATED (100).
func wlan0Link(t *testing.T) (ssid string, activated bool) {
	t.Helper()
	out, _ := vmtest.ShErr(`iw dev wlan0 link | sed -n 's/^\s*SSID: //p'; nmcli -g GENERAL.STATE dev show wlan0`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 2 {
		ssid = lines[0]
	}
	return ssid, strings.HasPrefix(lines[len(lines)-1], "100")
}

// namedProfiles counts the Wi-Fi profiles by connection.id.
func namedProfiles(e *wifiEnv) map[string][]nmProfile {
	m := map[string][]nmProfile{}
	for _, p := range e.profiles() {
		if strings.HasPrefix(p.id, "bluenet-saved-") {
			continue // remembered networks (wifi/nm's Remember) are not the join's business
		}
		m[p.id] = append(m[p.id], p)
	}
	return m
}

// settled waits until NetworkManager holds exactly one Wi-Fi profile, named
// bluenet and saved to disk (besides remembered ones, bluenet-saved-*), no pending one, and wlan0 is ACTIVATED; it
// returns the SSID wlan0 is on.
func settled(t *testing.T, e *wifiEnv, limit time.Duration) string {
	t.Helper()
	var last string
	ok := waitFor(limit, func() bool {
		ps := namedProfiles(e)
		ssid, up := wlan0Link(t)
		last = fmt.Sprintf("profiles %+v, wlan0 on %q activated %v", ps, ssid, up)
		return len(ps["bluenet"]) == 1 && len(ps["bluenet-pending"]) == 0 && len(ps) == 1 && up && ssid != ""
	})
	if !ok {
		t.Fatalf("not settled within %v: %s", limit, last)
	}
	p := namedProfiles(e)["bluenet"][0]
	ssid, _ := wlan0Link(t)
	if p.unsaved || !strings.HasPrefix(p.filename, "/etc/NetworkManager/system-connections/") || !p.autoconnect {
		t.Errorf("bluenet profile not saved to disk with autoconnect: %+v", p)
	}
	if string(p.ssid) != ssid {
		t.Errorf("bluenet profile is for %q, wlan0 is on %q", p.ssid, ssid)
	}
	return ssid
}

// cliJoin runs `bluenet join` to ssid with secret on standard input.
func cliJoin(t *testing.T, ssid, secret string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(vmtest.Bin(t, "bluenet"), "-w", "wlan0", "-v", "join", "-s", ssid, "--password-file", "-")
	cmd.Stdin = strings.NewReader(secret + "\n")
	logf, err := os.OpenFile(vmtest.LogDir()+"/bluenet-join.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	return cmd
}

// TestFaultDaemonKilledMidJoin (scenario 4): the join is SIGKILLed while
// NetworkManager activates the new network (its bluenet-pending profile
// exists), then the daemon is started again, as systemd would. The device
// must end on the previous network or the new one, with exactly one saved
// bluenet profile and no pending one; also after a NetworkManager restart
// (in-memory profiles survive it in /run).
func TestFaultDaemonKilledMidJoin(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluenet-join", "NetworkManager", "hostapd-wlan1", "hostapd-wlan2")
	a := vmtest.AP{Iface: "wlan1", SSID: "KillA", PSK: "kill-a-pass-1"}
	b := vmtest.AP{Iface: "wlan2", SSID: "KillB", PSK: "kill-b-pass-2"}
	vmtest.ResetWiFi(t)
	vmtest.StartAP(t, a)
	vmtest.StartAP(t, b)
	vmtest.Sh(t, "nm_wait_ssid KillA 90 && nm_wait_ssid KillB 90")
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t)}
	if err := cliJoin(t, a.SSID, a.PSK).Run(); err != nil {
		t.Fatalf("join %s: %v (see bluenet-join.log)", a.SSID, err)
	}
	if got := settled(t, e, 30*time.Second); got != a.SSID {
		t.Fatalf("on %q after joining %s", got, a.SSID)
	}

	for _, tc := range []struct {
		name, secret, want string
	}{
		{"right password", b.PSK, b.SSID},
		{"wrong password", "wrong-b-pass", ""}, // either network, see below
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := wlan0Link(t)
			cmd := cliJoin(t, b.SSID, tc.secret)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if !waitFor(30*time.Second, func() bool { return len(namedProfiles(e)["bluenet-pending"]) == 1 }) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("no pending profile appeared: %+v", e.profiles())
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			killed := time.Now()
			t.Logf("join killed with profiles %+v", namedProfiles(e))

			startDaemonKeep(t, "-h", "fault", "-a", "Bluenet Fault")
			ssid := settled(t, e, 90*time.Second)
			t.Logf("MEASURE daemon SIGKILLed mid-join (%s) -> restarted, reconciled on %q: %.2fs",
				tc.name, ssid, time.Since(killed).Seconds())
			// The bar: the previous network or the new one, never
			// none. With the right password the new one is the rule, but
			// on a loaded host NetworkManager itself sometimes fails the
			// association (NO_SECRETS) before the daemon is back; then
			// the pending profile is not connected and the daemon goes
			// back to the previous network. A wrong password always ends
			// there.
			switch {
			case ssid == before:
				if tc.want != "" {
					t.Logf("the activation of %s failed in NetworkManager before the daemon was back; back on %s", tc.want, before)
				}
			case tc.want != "" && ssid == tc.want:
			default:
				t.Errorf("device on %q, want %q or the previous %q", ssid, tc.want, before)
			}
			if tc.want == "" {
				return // the NetworkManager restart below is checked once
			}
			nmBack := restartNM(t)
			if got := settled(t, e, 90*time.Second); got != ssid {
				t.Errorf("after a NetworkManager restart the device is on %q, want %q", got, ssid)
			}
			t.Logf("MEASURE NetworkManager restart after reconciliation -> settled: %.2fs", time.Since(nmBack).Seconds())
		})
	}
}

// startDaemonKeep starts the daemon like startDaemon but keeps the Wi-Fi
// profiles and the link as they are (a restart, not a fresh device).
func startDaemonKeep(t *testing.T, extra ...string) *daemonProc {
	t.Helper()
	return launchDaemon(t, nil, false, extra...)
}

// signalTimes reports when signals matching opts and accepted by ok
// arrive, until the test ends (a full channel drops reports).
func signalTimes(t *testing.T, ok func(*dbus.Signal) bool, opts ...dbus.MatchOption) <-chan time.Time {
	t.Helper()
	conn := vmtest.SystemBus(t)
	if err := conn.AddMatchSignal(opts...); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	out := make(chan time.Time, 16)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); conn.RemoveSignal(sigs); _ = conn.RemoveMatchSignal(opts...) })
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if ok(s) {
					select {
					case out <- time.Now():
					default:
					}
				}
			}
		}
	}()
	return out
}

// nmOwners reports each time NetworkManager takes its bus name.
func nmOwners(t *testing.T) <-chan time.Time {
	t.Helper()
	return signalTimes(t, func(s *dbus.Signal) bool {
		if s.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(s.Body) != 3 {
			return false
		}
		owner, _ := s.Body[2].(string)
		return owner != ""
	}, dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, "org.freedesktop.NetworkManager"))
}

// stateWatch follows the backend's state stream for a whole test.
type stateWatch struct {
	t    *testing.T
	ch   <-chan wifi.State
	seen []string
}

func (e *wifiEnv) watch() *stateWatch {
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	return &stateWatch{t: e.t, ch: e.c.WatchState(ctx)}
}

// until reads states until pred holds, for at most limit.
func (w *stateWatch) until(desc string, limit time.Duration, pred func(wifi.State) bool) time.Time {
	w.t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case s := <-w.ch:
			w.seen = append(w.seen, s.String())
			if pred(s) {
				return time.Now()
			}
		case <-timer.C:
			w.t.Fatalf("no state %s within %v; seen %v", desc, limit, w.seen)
		}
	}
}

// pendingAppears waits until a bluenet-pending profile exists.
func pendingAppears(t *testing.T, e *wifiEnv) {
	t.Helper()
	if !waitFor(60*time.Second, func() bool { return len(namedProfiles(e)["bluenet-pending"]) > 0 }) {
		t.Fatalf("no pending profile appeared: %+v", e.profiles())
	}
}

// joinAsync runs a Join in the background.
func joinAsync(e *wifiEnv, ssid, secret string) <-chan error {
	res := make(chan error, 1)
	go func() { err, _ := e.join(ssid, secret); res <- err }()
	return res
}

func result(t *testing.T, res <-chan error, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(limit):
		t.Fatalf("no join result within %v", limit)
		return nil
	}
}

// TestFaultsWiFi runs the Wi-Fi fault scenarios against the backend on the
// guest's NetworkManager, sharing two access points: 1 NetworkManager
// restarted while idle, 2 restarted in the middle of a join, 6 the radio
// rfkill-blocked and unblocked, 5 the access point gone in the middle of a
// join.
func TestFaultsWiFi(t *testing.T) {
	a := vmtest.AP{Iface: "wlan1", SSID: "FaultA", PSK: "fault-a-pass-1"}
	b := vmtest.AP{Iface: "wlan2", SSID: "FaultB", PSK: "fault-b-pass-2"}
	e := newWiFi(t, a, b)
	e.waitSeen(a.SSID)
	e.waitSeen(b.SSID)
	e.mustJoin(a, "wpa-psk", false)
	owners := nmOwners(t)
	w := e.watch()

	t.Run("1 NetworkManager restarted while idle", func(t *testing.T) {
		w.t = t
		activated := devActivated(t)
		vmtest.Sh(t, `pid=$(pidof NetworkManager); kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done`)
		w.until("down", 30*time.Second, func(s wifi.State) bool { return s.Kind == wifi.Down })
		vmtest.Sh(t, `NetworkManager --config=/run/nm.conf --debug >>$L/NetworkManager.log 2>&1 </dev/null &`)
		var back time.Time
		select {
		case back = <-owners:
		case <-time.After(60 * time.Second):
			t.Fatal("NetworkManager not back on the bus")
		}
		up := w.until("connected to A again", 90*time.Second, connectedOn(a))
		// NetworkManager 1.42 re-activates the device after a restart; in
		// this bed that alone takes seconds to tens of seconds. The
		// backend's own part is from the device being ACTIVATED again to
		// the state being Connected with the address.
		var act time.Time
		select {
		case act = <-activated:
		case <-time.After(5 * time.Second):
			t.Fatal("no ACTIVATED device state seen from NetworkManager")
		}
		t.Logf("MEASURE scenario 1: NetworkManager on the bus -> Connected %s with its address: %.2fs (device ACTIVATED after %.2fs)",
			a.SSID, up.Sub(back).Seconds(), act.Sub(back).Seconds())
		if d := up.Sub(act); d > 2*time.Second {
			t.Errorf("state Connected %.2fs after NetworkManager had the device ACTIVATED, want within 2 s", d.Seconds())
		}
		e.waitSeen(b.SSID)
		e.mustJoin(b, "wpa-psk", false)
		e.mustJoin(a, "wpa-psk", false)
	})

	t.Run("2 NetworkManager restarted mid-join", func(t *testing.T) {
		w.t = t
		res := joinAsync(e, b.SSID, b.PSK)
		pendingAppears(t, e)
		start := time.Now()
		restartNM(t)
		err := result(t, res, 90*time.Second)
		t.Logf("join across the restart: %v (after %.2fs)", err, time.Since(start).Seconds())
		ssid := settled(t, e, 90*time.Second)
		t.Logf("MEASURE scenario 2: NetworkManager restarted mid-join -> settled on %q, no pending profile: %.2fs",
			ssid, time.Since(start).Seconds())
		if err == nil && ssid != b.SSID {
			t.Errorf("join succeeded but the device is on %q", ssid)
		}
		if ssid != a.SSID {
			e.mustJoin(a, "wpa-psk", false)
		}
	})

	t.Run("6 rfkill block and unblock", func(t *testing.T) {
		w.t = t
		rf := `/sys/class/net/wlan0/phy80211/rfkill*/soft`
		start := time.Now()
		vmtest.Sh(t, "echo 1 > "+rf)
		down := w.until("down", 30*time.Second, func(s wifi.State) bool { return s.Kind == wifi.Down })
		t.Logf("MEASURE scenario 6: rfkill block -> Down: %.2fs", down.Sub(start).Seconds())
		start = time.Now()
		vmtest.Sh(t, "echo 0 > "+rf)
		up := w.until("connected to A again", 90*time.Second, connectedOn(a))
		t.Logf("MEASURE scenario 6: rfkill unblock -> Connected %s: %.2fs", a.SSID, up.Sub(start).Seconds())
		settled(t, e, 30*time.Second)
	})

	t.Run("5 access point gone mid-join", func(t *testing.T) {
		w.t = t
		res := joinAsync(e, b.SSID, b.PSK)
		pendingAppears(t, e)
		start := time.Now()
		vmtest.Sh(t, "AP_IF=wlan2 ap_stop")
		err := result(t, res, 120*time.Second)
		t.Logf("MEASURE scenario 5: access point stopped mid-join -> %v: %.2fs", err, time.Since(start).Seconds())
		var je *wifi.JoinError
		switch {
		case err == nil:
			t.Logf("the join completed before the access point went away")
		case !errors.As(err, &je):
			t.Errorf("join error %v is not a JoinError", err)
		case je.Reason != wifi.ReasonNotFound && je.Reason != wifi.ReasonTimeout:
			t.Errorf("join error reason %v, want not found or timed out", je.Reason)
		case !je.RolledBack:
			t.Errorf("join error %v: not rolled back", err)
		}
		if err != nil {
			if ssid := settled(t, e, 60*time.Second); ssid != a.SSID {
				t.Errorf("after the failed join the device is on %q, want %q", ssid, a.SSID)
			}
		}
	})
}

// TestFaultCentralGoneMidLongWrite (scenario 7): a central writes the SSID,
// then disconnects in the middle of a long (prepared) write of the password
// at MTU 23. Nothing is joined; the next central starts clean: its
// Credentials write without an SSID of its own is refused, and Result still
// says no join.
func TestFaultCentralGoneMidLongWrite(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := startDaemon(t, "-h", "longwrite", "-a", "Bluenet LongWrite")
	uuid := func(s string) []byte { u := gatt.MustParseUUID(s); return u[:] }

	c, hs := dialKernel(t, ctx, uuid(bluenet.SSIDUUID), uuid(bluenet.CredentialsUUID), uuid(bluenet.ResultUUID))
	ssidH, credH, resH := hs[0].ValueHandle, hs[1].ValueHandle, hs[2].ValueHandle
	if c.MTU() != 23 {
		t.Fatalf("MTU %d, want 23 (the long write needs several Prepare Writes)", c.MTU())
	}
	if err := c.Write(ctx, ssidH, []byte("LongWriteNet")); err != nil {
		t.Fatalf("write SSID: %v", err)
	}
	pw := []byte("a-long-password-for-a-prepared-write-01")
	if err := c.PrepareWrite(ctx, credH, 0, pw[:18]); err != nil {
		t.Fatalf("prepare write: %v", err)
	}
	if err := c.PrepareWrite(ctx, credH, 18, pw[18:36]); err != nil {
		t.Fatalf("prepare write: %v", err)
	}
	c.Close() // no Execute Write: the central is gone mid-write
	if !waitFor(15*time.Second, func() bool { s, ok := d.status(); return ok && len(s.Centrals) == 0 }) {
		s, _ := d.status()
		t.Fatalf("central still listed after it disconnected: %+v", s)
	}
	time.Sleep(300 * time.Millisecond) // the link is down: let the kernel finish (see dialRead)

	c2, _ := dialKernel(t, ctx)
	if v, err := c2.Read(ctx, resH); err != nil || len(v) == 0 || bluenet.ResultCode(v[0]) != bluenet.ResultNone {
		t.Errorf("Result for the next central = %q, %v; want no join yet", v, err)
	}
	err := c2.Write(ctx, credH, pw)
	var ae *att.Error
	if !errors.As(err, &ae) {
		t.Errorf("Credentials without an SSID from the next central: %v, want an ATT error", err)
	}
	// The refused write sets Result to "invalid input"; a join would have
	// set "joining" and then its outcome.
	if s, _ := d.status(); s.LastResult != bluenet.ResultNone.String() && s.LastResult != bluenet.ResultInvalidInput.String() {
		t.Errorf("a join ran: status %+v", s)
	}
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t)}
	if ps := e.profiles(); len(ps) != 0 {
		t.Errorf("profiles after the abandoned write: %+v", ps)
	}
}

// The lengths of the long scenarios: short in CI (scripts/test), the issue's
// full ones in scripts/soak (-args -bluenet.rounds=100 -bluenet.soak=10m).
var (
	loopRounds = flag.Int("bluenet.rounds", 4, "provisionings in TestFaultProvisioningLoop (scenario 8)")
	soakFor    = flag.Duration("bluenet.soak", 45*time.Second, "length of TestFaultSoak (scenario 10)")
)

// Scenario 10's limits.
const (
	soakPeriod = 2 * time.Second // one central cycle started every soakPeriod
	// The warm-up before the first sample (lazily made things exist, the
	// Go heap has grown to its working size): at least soakWarmUpMin
	// cycles, then until the RSS has made no new high for soakSteady
	// cycles, at most soakWarmUpMax. The RSS still rises slowly for a
	// while after it (see soakRSSSlack).
	soakWarmUpMin = 10
	soakWarmUpMax = 40
	soakSteady    = 5
	// soakRSSSlack is the RSS growth allowed over the second half of the
	// soak: the Go heap's GC cycle and the scavenger move RSS by a few
	// hundred kB either way without any leak. The first half is not
	// judged: in the bed the RSS keeps rising, ever more slowly, for ~100
	// cycles (12 → 17 MiB), then stays flat (17 216 → 17 232 kB over the
	// last 100 cycles of a 10-minute soak), which a start-to-end bound
	// would take for a leak; a leak of ~20 kB a cycle would still exceed
	// it over a 10-minute soak's second half (~90 cycles).
	soakRSSSlack = 1536 // kB
	soakReads    = 3    // reads of Connection State (and of the Device Name) per cycle
	soakEndReads = 10   // the same in the cycle after the soak
	soakGiveUp   = 4    // failed cycles in a row that end the soak at once
)

// soakDiagnose logs what the daemon and both controllers say after a failed
// cycle: advertising, connections, instances.
func soakDiagnose(t *testing.T, d *daemonProc) {
	t.Helper()
	s, _ := d.status()
	t.Logf("diagnosis: daemon status advertising=%v centrals=%v", s.Advertising, s.Centrals)
	out, _ := vmtest.ShErr("bt_diagnose")
	t.Logf("diagnosis:\n%s", out)
}

// soakLat are the read latencies of a soak cycle: Connection State (the
// daemon's read callback, through bluetoothd and D-Bus) and, as the
// baseline for the host's load, the GAP Device Name (bluetoothd answers it
// alone).
type soakLat struct{ state, name []time.Duration }

// soakCycle is one phone in scenario 10, on the kernel's ATT client: connect
// from hci1, discover the characteristics, read Connection State and the
// Device Name reads times each, subscribe to Available Networks (write its
// CCCD), wait for one notification, disconnect.
func soakCycle(ctx context.Context, reads int) (lat soakLat, err error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := att.Dial(ctx, vmtest.CentralAddress, vmtest.PeripheralAddress)
	if err != nil {
		return lat, fmt.Errorf("dial: %w", err)
	}
	defer func() { // as dialRead: never close while the kernel tears the link down
		select {
		case <-c.Done():
			time.Sleep(300 * time.Millisecond)
		default:
		}
		c.Close()
	}()
	chars, err := c.Characteristics(ctx)
	if err != nil {
		return lat, fmt.Errorf("discover: %w", err)
	}
	uuid := func(s string) []byte { u := gatt.MustParseUUID(s); return u[:] }
	state, ok1 := att.Find(chars, uuid(bluenet.StateUUID))
	networks, ok2 := att.Find(chars, uuid(bluenet.NetworksUUID))
	name, ok3 := att.Find(chars, []byte{0x2a, 0x00})
	if !ok1 || !ok2 || !ok3 {
		return lat, fmt.Errorf("Connection State, Available Networks or Device Name missing among %d characteristics", len(chars))
	}
	for range reads {
		t0 := time.Now()
		v, err := c.Read(ctx, state.ValueHandle)
		if err != nil {
			return lat, fmt.Errorf("read Connection State: %w", err)
		}
		lat.state = append(lat.state, time.Since(t0))
		if _, err := bluenet.ParseState(v); err != nil {
			return lat, fmt.Errorf("Connection State %q: %w", v, err)
		}
		t0 = time.Now()
		if _, err := c.Read(ctx, name.ValueHandle); err != nil {
			return lat, fmt.Errorf("read Device Name: %w", err)
		}
		lat.name = append(lat.name, time.Since(t0))
	}
	got := make(chan []byte, 1)
	c.OnNotify(func(h uint16, v []byte) {
		if h == networks.ValueHandle {
			select {
			case got <- append([]byte(nil), v...):
			default:
			}
		}
	})
	// bluetoothd puts a characteristic's CCCD right after its value
	// (gatt-database.c adds it before any other descriptor); a wrong handle
	// would bring no notification and fail the cycle.
	if err := c.Write(ctx, networks.ValueHandle+1, []byte{0x01, 0x00}); err != nil {
		return lat, fmt.Errorf("subscribe to Available Networks: %w", err)
	}
	select {
	case v := <-got:
		if len(v) == 0 {
			return lat, errors.New("empty Available Networks notification")
		}
	case <-c.Done():
		return lat, errors.New("link lost while waiting for an Available Networks notification")
	case <-ctx.Done():
		return lat, fmt.Errorf("no Available Networks notification: %w", ctx.Err())
	}
	return lat, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[len(s)/2]
}

// soakSample is scenario 10's view of the daemon process.
type soakSample struct{ rssKB, threads, fds int }

func sampleDaemon(t *testing.T, pid int) soakSample {
	t.Helper()
	p := readProc(t, pid)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return soakSample{rssKB: p.rssKiB, threads: p.threads, fds: len(fds)}
}

// TestFaultSoak (scenario 10): for -bluenet.soak (45 s in CI, 10 min in
// scripts/soak) a central connects every soakPeriod, reads Connection
// State, subscribes to Available Networks until a notification comes, and
// disconnects. At most one cycle in 50 may fail; the daemon's RSS grows by
// at most soakRSSSlack over the second half of the soak, its open
// fds not at all, its threads (goroutines are not visible from outside the
// process) by at most 2; and at the end it answers a read within twice the
// median of the first cycles' reads (or, when the host got busier
// meanwhile, within twice their ratio to a read bluetoothd answers alone).
func TestFaultSoak(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd")
	ap := vmtest.AP{Iface: "wlan1", SSID: "SoakNet", PSK: "soak-pass-1010"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid SoakNet 90")
	d := startDaemon(t, "-h", "soak", "-a", "Bluenet Soak")
	pid := d.cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor+10*time.Minute)
	defer cancel()
	gone := func() bool {
		ok := waitFor(10*time.Second, func() bool { s, ok := d.status(); return ok && len(s.Centrals) == 0 })
		time.Sleep(300 * time.Millisecond) // the link is down: let the kernel finish (see dialRead)
		return ok
	}

	cycle := func(reads int) (soakLat, error) {
		waitLinkSettled(t, 5*time.Second)
		lat, err := soakCycle(ctx, reads)
		if !gone() {
			err = errors.Join(err, errors.New("central still listed 10 s after it disconnected"))
		}
		return lat, err
	}

	// Warm-up: until the RSS has made no new high for soakSteady cycles (the
	// Go heap has grown to its working size), within soakWarmUpMin and
	// soakWarmUpMax cycles. A leak keeps making new highs: the warm-up
	// ends at soakWarmUpMax and the growth shows after it.
	warmStart := time.Now()
	warm, sinceHigh, high, warmRSS0 := 0, 0, 0, 0
	for ; warm < soakWarmUpMax && (warm < soakWarmUpMin || sinceHigh < soakSteady); warm++ {
		next := time.Now().Add(soakPeriod)
		if _, err := cycle(soakReads); err != nil {
			t.Logf("warm-up cycle %d: %v", warm, err)
		}
		r := sampleDaemon(t, pid).rssKB
		if warm == 0 {
			warmRSS0 = r
		}
		if r > high {
			high, sinceHigh = r, 0
		} else {
			sinceHigh++
		}
		time.Sleep(time.Until(next))
	}
	first := sampleDaemon(t, pid)
	t.Logf("MEASURE scenario 10 first (after %d warm-up cycles in %.0fs, RSS %d kB after the first, no new high in the last %d): RSS %d kB, threads %d, fds %d",
		warm, time.Since(warmStart).Seconds(), warmRSS0, sinceHigh, first.rssKB, first.threads, first.fds)

	var (
		cycles, failed int
		inRow          int // failed cycles in a row
		maxed          = first
		mid            soakSample // the first sample after half the soak
		firstLat       soakLat    // of the first 10 good cycles
		lastLat        soakLat    // of the last 10
		start          = time.Now()
		end            = start.Add(*soakFor)
	)
	for time.Now().Before(end) {
		next := time.Now().Add(soakPeriod)
		lat, err := cycle(soakReads)
		cycles++
		if err != nil {
			failed++
			inRow++
			t.Logf("cycle %d at %.0fs failed: %v", cycles, time.Since(start).Seconds(), err)
			if failed == 1 || inRow == soakGiveUp {
				soakDiagnose(t, d)
			}
			vmtest.UnstickCentral(t)
			if inRow == soakGiveUp {
				t.Fatalf("%d cycles in a row failed (%d of %d in all)", inRow, failed, cycles)
			}
		} else {
			inRow = 0
			if len(firstLat.state) < 10*soakReads {
				firstLat.state = append(firstLat.state, lat.state...)
				firstLat.name = append(firstLat.name, lat.name...)
			}
			lastLat.state = append(lastLat.state, lat.state...)[max(0, len(lastLat.state)+len(lat.state)-10*soakReads):]
			lastLat.name = append(lastLat.name, lat.name...)[max(0, len(lastLat.name)+len(lat.name)-10*soakReads):]
		}
		s := sampleDaemon(t, pid)
		if mid.rssKB == 0 && time.Since(start) >= *soakFor/2 {
			mid = s
			t.Logf("MEASURE scenario 10 half-time (%d cycles, %.0fs): RSS %d kB, threads %d, fds %d", cycles, time.Since(start).Seconds(), mid.rssKB, mid.threads, mid.fds)
		}
		maxed = soakSample{max(maxed.rssKB, s.rssKB), max(maxed.threads, s.threads), max(maxed.fds, s.fds)}
		if cycles%5 == 0 {
			t.Logf("soak %.0fs: %d cycles (%d failed), RSS %d kB, threads %d, fds %d", time.Since(start).Seconds(), cycles, failed, s.rssKB, s.threads, s.fds)
		}
		time.Sleep(time.Until(next))
	}
	last := sampleDaemon(t, pid)

	// The read at the end: a fresh central, soakEndReads reads of each.
	endLat, err := cycle(soakEndReads)
	if err != nil {
		t.Errorf("the cycle after the soak failed: %v", err)
	}
	s0, s1, sN := median(firstLat.state), median(endLat.state), median(lastLat.state)
	b0, b1, bN := median(firstLat.name), median(endLat.name), median(lastLat.name)
	t.Logf("MEASURE scenario 10: %d cycles in %.0fs (%.1fs each), %d failed; RSS first %d kB, max %d kB, last %d kB; threads %d/%d/%d; fds %d/%d/%d (first/max/last); read Connection State median (Device Name, bluetoothd alone): first 10 cycles %.1f ms (%.1f), last 10 cycles %.1f ms (%.1f), at the end %.1f ms (%.1f)",
		cycles, time.Since(start).Seconds(), time.Since(start).Seconds()/float64(max(cycles, 1)), failed, first.rssKB, maxed.rssKB, last.rssKB,
		first.threads, maxed.threads, last.threads, first.fds, maxed.fds, last.fds, ms(s0), ms(b0), ms(sN), ms(bN), ms(s1), ms(b1))
	if failed*50 > cycles+49 { // at most one in 50, rounded up
		t.Errorf("%d of %d cycles failed, want at most 1 in 50", failed, cycles)
	}
	if mid.rssKB == 0 {
		mid = first
	}
	if last.rssKB > mid.rssKB+soakRSSSlack {
		t.Errorf("RSS grew from %d kB at half-time to %d kB at the end (slack %d kB; %d kB after the warm-up)", mid.rssKB, last.rssKB, soakRSSSlack, first.rssKB)
	}
	if last.fds != first.fds {
		t.Errorf("open fds %d at the start, %d at the end", first.fds, last.fds)
	}
	if last.threads > first.threads+2 {
		t.Errorf("threads %d at the start, %d at the end", first.threads, last.threads)
	}
	// Within 2× the first reads; on a host whose load rose meanwhile, the
	// ratio to bluetoothd's own read (which the daemon does not touch) is
	// compared instead.
	switch {
	case len(firstLat.state) == 0 || len(endLat.state) == 0:
		t.Errorf("no read latencies (first %d, end %d)", len(firstLat.state), len(endLat.state))
	case s1 <= 2*s0:
	case b0 > 0 && b1 > 0 && float64(s1)/float64(b1) <= 2*float64(s0)/float64(b0):
		t.Logf("the read at the end took %v, more than 2× the first %v, but bluetoothd's own read slowed too (%v → %v): the host's load, not the daemon", s1, s0, b0, b1)
	default:
		t.Errorf("read at the end %v, want within 2× the first cycles' median %v (Device Name baseline %v → %v)", s1, s0, b0, b1)
	}
}

// daemonStats is what scenario 8 watches of the daemon process.
type daemonStats struct{ rssKB, threads, fds, profiles int }

func statsOf(t *testing.T, e *wifiEnv, pid int) daemonStats {
	t.Helper()
	var st daemonStats
	out := vmtest.Sh(t, fmt.Sprintf(`awk '/^VmRSS/{print $2} /^Threads/{print $2}' /proc/%d/status; ls /proc/%d/fd | wc -l`, pid, pid))
	_, _ = fmt.Sscan(out, &st.rssKB, &st.threads, &st.fds)
	st.profiles = len(e.profiles())
	return st
}

// TestFaultProvisioningLoop (scenario 8): back-to-back provisionings
// through the client, alternating the right and a wrong password; every one
// gets the right result and the daemon's RSS, threads, open fds and
// NetworkManager profiles do not grow. CI runs -bluenet.rounds (default 4);
// scripts/soak runs the 100.
func TestFaultProvisioningLoop(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan3")
	rounds := max(*loopRounds, 2)
	ap := vmtest.AP{Iface: "wlan3", SSID: "LoopNet", PSK: "loop-pass-4242"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid LoopNet 90")
	d := startDaemon(t, "-h", "loop", "-a", "Bluenet Loop")
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t)}
	pid := d.cmd.Process.Pid
	var first daemonStats
	maxRSS, exits := 0, map[int]int{}
	loopStart := time.Now()
	for i := 0; i < rounds; i++ {
		pw, want := ap.PSK, 0
		if i%2 == 1 {
			pw, want = "wrong-loop-pass", 3
		}
		start := time.Now()
		_, _, code := runBluenet(t, pw+"\n", "-b", vmtest.CentralAdapter, "provision", vmtest.PeripheralAddress, "-s", ap.SSID)
		if code != want {
			t.Errorf("round %d: exit %d, want %d", i, code, want)
		}
		exits[code]++
		t.Logf("round %d (%s): exit %d in %.2fs", i, map[int]string{0: "right", 3: "wrong"}[want], code, time.Since(start).Seconds())
		if i == 1 {
			first = statsOf(t, e, pid) // after one of each, so that lazily made things exist
			t.Logf("MEASURE scenario 8 first: RSS %d kB, threads %d, fds %d, profiles %d", first.rssKB, first.threads, first.fds, first.profiles)
		}
		if i >= 1 {
			maxRSS = max(maxRSS, statsOf(t, e, pid).rssKB)
		}
	}
	last := statsOf(t, e, pid)
	t.Logf("MEASURE scenario 8 last (after %d rounds in %.0fs, exit codes %v): RSS %d kB (max %d), threads %d, fds %d, profiles %d",
		rounds, time.Since(loopStart).Seconds(), exits, last.rssKB, maxRSS, last.threads, last.fds, last.profiles)
	if last.fds > first.fds || last.profiles != 1 || first.profiles != 1 || last.rssKB > first.rssKB+4096 {
		t.Errorf("growth: first %+v, last %+v (fds and profiles must not grow, RSS by at most 4 MiB)", first, last)
	}
}

// TestFaultBluetoothdKilledMidJoin (scenario 3): a central starts a join and
// leaves; bluetoothd is SIGKILLed while NetworkManager activates the network
// and started again. The join completes; the daemon registers its service
// again and a central reads the final Connection State and Result.
func TestFaultBluetoothdKilledMidJoin(t *testing.T) {
	vmtest.RestoreBluetoothOnCleanup(t)
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ap := vmtest.AP{Iface: "wlan1", SSID: "BtKillNet", PSK: "btkill-pass-1"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid BtKillNet 90")
	startDaemon(t, "-h", "btkill", "-a", "Bluenet BtKill")
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t)}
	uuid := func(s string) []byte { u := gatt.MustParseUUID(s); return u[:] }

	c, hs := dialKernel(t, ctx, uuid(bluenet.SSIDUUID), uuid(bluenet.CredentialsUUID))
	if err := c.Write(ctx, hs[0].ValueHandle, []byte(ap.SSID)); err != nil {
		t.Fatalf("write SSID: %v", err)
	}
	if err := c.Write(ctx, hs[1].ValueHandle, []byte(ap.PSK)); err != nil {
		t.Fatalf("write credentials: %v", err)
	}
	pendingAppears(t, e)
	c.Close() // while the link is up (see dialRead)
	time.Sleep(300 * time.Millisecond)
	bus := vmtest.SystemBus(t)
	vmtest.Sh(t, `kill -KILL $(pidof bluetoothd); wait_for 10 "bluetoothd gone" sh -c '! pidof bluetoothd'`)
	if n := len(namedProfiles(e)["bluenet-pending"]); n != 1 {
		t.Logf("the join finished before bluetoothd was killed (pending profiles: %d)", n)
	}
	start := time.Now()
	vmtest.Sh(t, `/usr/libexec/bluetooth/bluetoothd -n ${BLUETOOTHD_ARGS:-} >>$L/bluetoothd.log 2>&1 &`)
	adv := advertising(t, ctx, bus, vmtest.PeripheralAdapter)
	t.Logf("MEASURE scenario 3: bluetoothd restarted -> advertising again: %.2fs", adv.Sub(start).Seconds())
	if ssid := settled(t, e, 90*time.Second); ssid != ap.SSID {
		t.Fatalf("device on %q, want %q", ssid, ap.SSID)
	}
	var state, res []byte
	ok := waitFor(60*time.Second, func() bool {
		var err error
		state, err = dialRead(ctx, gatt.MustParseUUID(bluenet.StateUUID))
		if err != nil {
			return false
		}
		res, err = dialRead(ctx, gatt.MustParseUUID(bluenet.ResultUUID))
		return err == nil
	})
	if !ok {
		t.Fatalf("no central could read State and Result after bluetoothd came back")
	}
	t.Logf("MEASURE scenario 3: bluetoothd restarted -> central read State %q and Result %q: %.2fs", state, res, time.Since(start).Seconds())
	if !bytes.Equal(state, append([]byte{byte(bluenet.Connected)}, ap.SSID...)) {
		t.Errorf("State = %q, want Connected %s", state, ap.SSID)
	}
	if len(res) == 0 || bluenet.ResultCode(res[0]) != bluenet.ResultOK {
		t.Errorf("Result = %q, want connected", res)
	}
}

// devActivated reports each time NetworkManager's device for wlan0 enters
// ACTIVATED (100).
func devActivated(t *testing.T) <-chan time.Time {
	t.Helper()
	conn := vmtest.SystemBus(t)
	return signalTimes(t, func(s *dbus.Signal) bool {
		if s.Name != "org.freedesktop.NetworkManager.Device.StateChanged" || len(s.Body) != 3 {
			return false
		}
		if st, _ := s.Body[0].(uint32); st != 100 {
			return false
		}
		v, err := conn.Object("org.freedesktop.NetworkManager", s.Path).GetProperty("org.freedesktop.NetworkManager.Device.Interface")
		return err == nil && v.Value() == "wlan0"
	}, dbus.WithMatchInterface("org.freedesktop.NetworkManager.Device"), dbus.WithMatchMember("StateChanged"))
}
