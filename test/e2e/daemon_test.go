//go:build vm

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

// Passwords used by the daemon tests; TestDaemon greps the daemon's -vv log
// for them.
const (
	homePSK  = "home-pass-2024"
	cafePSK  = "cafe-secret-99"
	wrongPSK = "not-the-cafe-pw"
)

// daemonProc is a bluenet daemon started by a test.
type daemonProc struct {
	cmd        *exec.Cmd
	log        string
	statusFile string
	done       chan struct{}
}

// startDaemon runs `bluenet ... start` on hci0 with the given extra flags,
// logging at -vv to bluenet.log, and waits until it advertises.
func startDaemon(t *testing.T, extra ...string) *daemonProc {
	t.Helper()
	return startDaemonEnv(t, nil, extra...)
}

// startDaemonEnv is startDaemon with extra environment variables.
func startDaemonEnv(t *testing.T, env []string, extra ...string) *daemonProc {
	t.Helper()
	return launchDaemon(t, env, true, extra...)
}

// launchDaemon starts the daemon; with reset, from a device that knows no
// Wi-Fi network and a central that knows no device.
func launchDaemon(t *testing.T, env []string, reset bool, extra ...string) *daemonProc {
	t.Helper()
	vmtest.UnstickCentral(t)
	if reset {
		vmtest.ResetWiFi(t)
		vmtest.ForgetDevices(t)
	}
	d := &daemonProc{log: filepath.Join(vmtest.LogDir(), "bluenet.log"),
		statusFile: filepath.Join(t.TempDir(), "status.json"), done: make(chan struct{})}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-w", "wlan0", "-b", vmtest.PeripheralAdapter, "start", "-vv",
		"--status-file", d.statusFile}, extra...)
	d.cmd = exec.Command(vmtest.Bin(t, "bluenet"), args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// As the systemd unit runs it (see packaging/bluenet.service).
	d.cmd.Env = append(append(os.Environ(), "GODEBUG=disablethp=1"), env...)
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); logf.Close(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	if !waitFor(60*time.Second, func() bool { s, ok := d.status(); return ok && s.Advertising }) {
		t.Fatalf("daemon not advertising after 60s")
	}
	t.Logf("daemon start -> advertising: %.2fs", time.Since(start).Seconds())
	return d
}

func (d *daemonProc) status() (daemon.Status, bool) {
	var env struct{ Status daemon.Status }
	b, err := os.ReadFile(d.statusFile)
	if err != nil || json.Unmarshal(b, &env) != nil {
		return daemon.Status{}, false
	}
	return env.Status, true
}

func (d *daemonProc) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Errorf("daemon did not stop within 10s of SIGINT")
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// phone is a central on hci1 connected to the daemon.
type phone struct {
	c *central.Central
	p *central.Peripheral
}

func connectPhone(t *testing.T, ctx context.Context) (*phone, central.Advertisement) {
	t.Helper()
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	start := time.Now()
	adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{central.MustParseUUID(bluenet.ServiceUUID)}})
	if err != nil {
		t.Fatalf("discover the Bluenet service: %v", err)
	}
	t.Logf("discovered %s (%q) in %.2fs", adv.Address, adv.Alias, time.Since(start).Seconds())
	p, err := c.Connect(ctx, adv.Address)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = p.Disconnect(context.Background()) })
	return &phone{c, p}, adv
}

// hangUp ends a central's subscriptions (stops), disconnects it and gives
// the daemon a second to see it go.
func hangUp(tb testing.TB, ctx context.Context, p *central.Peripheral, stops ...func()) {
	tb.Helper()
	for _, stop := range stops {
		stop()
	}
	if err := p.Disconnect(ctx); err != nil {
		tb.Fatal(err)
	}
	_ = p.Close(ctx)
	time.Sleep(time.Second)
}

func (ph *phone) char(t *testing.T, uuid string) *central.Characteristic {
	t.Helper()
	ch, err := ph.p.Characteristic(central.MustParseUUID(uuid))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// next waits for a value on ch that satisfies ok.
func next(t testing.TB, ch <-chan []byte, d time.Duration, what string, ok func([]byte) bool) []byte {
	t.Helper()
	timer := time.After(d)
	var seen [][]byte
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
			seen = append(seen, v)
		case <-timer:
			t.Fatalf("no %s within %v; saw %q", what, d, seen)
		}
	}
}

// homeAndCafe starts the two WPA2 networks most daemon tests use, HomeNet
// (wlan1, homePSK) and CafeNet (wlan2, cafePSK), waits until
// NetworkManager sees both, and keeps the logs of the daemons involved
// when the test fails.
func homeAndCafe(t *testing.T) {
	t.Helper()
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1", "hostapd-wlan2")
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan1", SSID: "HomeNet", PSK: homePSK})
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan2", SSID: "CafeNet", PSK: cafePSK})
	vmtest.Sh(t, "nm_wait_ssid HomeNet 90 && nm_wait_ssid CafeNet 90")
}

// TestDaemon runs the original setup flow against the real daemon: a phone
// discovers it, reads Version, lists networks, joins one, gets the host name
// with the real address; then a wrong password while connected leaves the
// device on the old network and says why.
func TestDaemon(t *testing.T) {
	homeAndCafe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	d := startDaemon(t, "-h", "bluenet-%IP", "-a", "Bluenet Test")
	ph, adv := connectPhone(t, ctx)
	if adv.Alias != "Bluenet Test" && adv.Name != "Bluenet Test" {
		t.Errorf("advertised name = %q / alias %q, want %q", adv.Name, adv.Alias, "Bluenet Test")
	}

	v, err := ph.char(t, bluenet.VersionUUID).Read(ctx)
	if err != nil || string(v) != "1.0" {
		t.Fatalf("Version = %q, %v; want 1.0", v, err)
	}

	subStart := time.Now()
	nets, stopNets, err := ph.char(t, bluenet.NetworksUUID).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next(t, nets, 30*time.Second, "HomeNet in Available Networks", func(b []byte) bool { return string(b) == "HomeNet" })
	t.Logf("subscribe -> HomeNet listed: %.2fs", time.Since(subStart).Seconds())
	stopNets()

	stateCh := ph.char(t, bluenet.StateUUID)
	states, stopStates, err := stateCh.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopStates()
	hostCh := ph.char(t, bluenet.HostnameUUID)
	hosts, stopHosts, err := hostCh.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopHosts()
	results, stopResults, err := ph.char(t, bluenet.ResultUUID).Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopResults()

	// Credentials before an SSID: refused, nothing happens.
	if err := ph.char(t, bluenet.CredentialsUUID).Write(ctx, []byte(homePSK)); err == nil {
		t.Errorf("credentials without SSID: write succeeded, want a GATT error")
	}
	// An SSID longer than 32 bytes: refused.
	if err := ph.char(t, bluenet.SSIDUUID).Write(ctx, bytes.Repeat([]byte("x"), 33)); err == nil {
		t.Errorf("33-byte SSID: write succeeded, want a GATT error")
	}

	joinStart := time.Now()
	if err := ph.char(t, bluenet.SSIDUUID).Write(ctx, []byte("HomeNet")); err != nil {
		t.Fatalf("write SSID: %v", err)
	}
	if err := ph.char(t, bluenet.CredentialsUUID).Write(ctx, []byte(homePSK)); err != nil {
		t.Fatalf("write credentials: %v", err)
	}
	next(t, states, 60*time.Second, "Connecting HomeNet", func(b []byte) bool { return bytes.Equal(b, []byte("\x02HomeNet")) })
	next(t, states, 60*time.Second, "Connected HomeNet", func(b []byte) bool { return bytes.Equal(b, []byte("\x03HomeNet")) })
	t.Logf("credentials write -> Connected notification: %.2fs", time.Since(joinStart).Seconds())
	h := next(t, hosts, 30*time.Second, "host name with the IPv4 address", func(b []byte) bool {
		return strings.HasPrefix(string(b), "bluenet-192.168.71.")
	})
	t.Logf("Hostname = %q", h)
	next(t, results, 30*time.Second, "Result ok", func(b []byte) bool { return len(b) > 0 && b[0] == byte(bluenet.ResultOK) })

	// A wrong password while connected: the device must end up on HomeNet.
	failStart := time.Now()
	if err := ph.char(t, bluenet.SSIDUUID).Write(ctx, []byte("CafeNet")); err != nil {
		t.Fatal(err)
	}
	if err := ph.char(t, bluenet.CredentialsUUID).Write(ctx, []byte(wrongPSK)); err != nil {
		t.Fatal(err)
	}
	next(t, results, 90*time.Second, "Result wrong password", func(b []byte) bool {
		return len(b) > 0 && b[0] == byte(bluenet.ResultWrongPassword)
	})
	t.Logf("wrong password reported after %.2fs", time.Since(failStart).Seconds())
	if !waitFor(60*time.Second, func() bool {
		v, err := stateCh.Read(ctx)
		return err == nil && bytes.Equal(v, []byte("\x03HomeNet"))
	}) {
		v, _ := stateCh.Read(ctx)
		t.Fatalf("after the wrong password, Connection State = %q, want Connected HomeNet", v)
	}
	t.Logf("back on HomeNet %.2fs after the wrong password was written", time.Since(failStart).Seconds())

	// bluenet status, from the running daemon. The status file follows
	// the state a moment after the GATT read does (it is written after
	// the services are told), so give it a few seconds on a loaded host.
	var st struct {
		Daemon, State, SSID, IPv4 string
		Centrals                  []string
	}
	var out []byte
	good := func() bool {
		var err error
		out, err = exec.Command(vmtest.Bin(t, "bluenet"), "status", "--json", "--status-file", d.statusFile).CombinedOutput()
		if err != nil {
			t.Fatalf("bluenet status: %v\n%s", err, out)
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return st.Daemon == "running" && st.State == "connected" && st.SSID == "HomeNet" &&
			strings.HasPrefix(st.IPv4, "192.168.71.") && len(st.Centrals) == 1
	}
	if !waitFor(10*time.Second, good) {
		t.Errorf("status = %+v", st)
	}

	// The phone hangs up before the daemon stops. The other order (the
	// daemon's services go away under live subscriptions, then the central
	// unsubscribes) sometimes kills the bed's bluetoothd: BlueZ 5.66's GATT
	// client frees a characteristic while its CCC-disable write is in
	// flight and aborts in disable_ccc_callback (double free). That is the
	// central's stack, which in the bed shares a process with the daemon's.
	hangUp(t, ctx, ph.p, stopStates, stopHosts, stopResults)
	d.stop(t)
	logText, _ := os.ReadFile(d.log)
	for _, secret := range []string{homePSK, wrongPSK} {
		if bytes.Contains(logText, []byte(secret)) {
			t.Errorf("the daemon's -vv log contains a password")
		}
	}
	if !bytes.Contains(logText, []byte("level=DEBUG")) {
		t.Errorf("the daemon's log has no debug lines: -vv not honoured?")
	}
}

// TestDaemonAutoAdvertise: with --auto-advertise the daemon stops
// advertising once Wi-Fi is connected and no central remains, and starts
// again when Wi-Fi is lost.
func TestDaemonAutoAdvertise(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd", "NetworkManager")
	home := vmtest.AP{Iface: "wlan1", SSID: "AutoNet", PSK: homePSK}
	vmtest.StartAP(t, home)
	vmtest.Sh(t, "nm_wait_ssid AutoNet 90")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := startDaemon(t, "-h", "auto", "-a", "Bluenet Auto", "--auto-advertise")

	ph, _ := connectPhone(t, ctx)
	if err := ph.char(t, bluenet.SSIDUUID).Write(ctx, []byte("AutoNet")); err != nil {
		t.Fatal(err)
	}
	if err := ph.char(t, bluenet.CredentialsUUID).Write(ctx, []byte(homePSK)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(60*time.Second, func() bool { s, _ := d.status(); return s.State == "connected" }) {
		t.Fatalf("not connected to AutoNet")
	}
	if s, _ := d.status(); !s.Advertising {
		t.Errorf("stopped advertising while a central is still connected")
	}
	if err := ph.p.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { s, _ := d.status(); return !s.Advertising }) {
		t.Fatalf("still advertising with Wi-Fi connected and no central")
	}
	vmtest.Sh(t, "AP_IF=wlan1 ap_stop")
	if !waitFor(60*time.Second, func() bool { s, _ := d.status(); return s.Advertising }) {
		s, _ := d.status()
		t.Fatalf("not advertising again after Wi-Fi was lost; status %+v", s)
	}
}

// TestJoinCommand: `bluenet join` joins with the password on standard
// input and `bluenet status` without a daemon reports the link.
func TestJoinCommand(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "NetworkManager", "hostapd-wlan3")
	ap := vmtest.AP{Iface: "wlan3", SSID: "CliNet", PSK: "cli-pass-321"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid CliNet 90")
	bin := vmtest.Bin(t, "bluenet")

	cmd := exec.Command(bin, "-w", "wlan0", "join", "-s", "CliNet")
	cmd.Stdin = strings.NewReader("wrong-pass-000\n")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("join with a wrong password: exit %d (%v), want 3\n%s", code, err, out)
	}
	if bytes.Contains(out, []byte("wrong-pass-000")) {
		t.Errorf("join output contains the password:\n%s", out)
	}

	cmd = exec.Command(bin, "-w", "wlan0", "join", "-s", "CliNet", "--password-file", "-")
	cmd.Stdin = strings.NewReader(ap.PSK + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("join: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "-w", "wlan0", "status", "--status-file", "/nonexistent/status.json").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "state: connected") || !strings.Contains(string(out), `ssid: "CliNet"`) ||
		!strings.Contains(string(out), "daemon: stopped") {
		t.Errorf("status output:\n%s", out)
	}
	fmt.Fprintf(os.Stderr, "%s", out)
}

// TestDaemonNotifiesSystemd: the daemon tells systemd READY=1 once it
// advertises, and STOPPING=1 on SIGTERM, through $NOTIFY_SOCKET.
func TestDaemonNotifiesSystemd(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet")
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	d := startDaemonEnv(t, []string{"NOTIFY_SOCKET=" + sock}, "-h", "sd", "-a", "Bluenet SD")
	expect := func(want string) {
		t.Helper()
		select {
		case m := <-msgs:
			if !strings.Contains(m, want) {
				t.Fatalf("sd_notify message %q, want %s", m, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s from the daemon", want)
		}
	}
	expect("READY=1")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1")
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon did not exit within 10s of SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
}

// TestDaemonBluetoothdRestart: bluetoothd is restarted as `systemctl
// restart bluetooth` does (SIGTERM: it powers the adapters off). The daemon
// powers hci0 on again and publishes the profile and its advertisement; a
// central reads Connection State within 2 s of bluetoothd being back. The
// test powers only the central's adapter.
func TestDaemonBluetoothdRestart(t *testing.T) {
	vmtest.RestoreBluetoothOnCleanup(t)
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startDaemon(t, "-h", "restart", "-a", "Bluenet Restart")
	bus := vmtest.SystemBus(t)
	restartBluetoothd(t, ctx, bus, restart{
		sig:   "TERM",
		power: []string{vmtest.CentralAdapter},
		ready: func() time.Time { return advertising(t, ctx, bus, vmtest.PeripheralAdapter) },
		read:  gatt.MustParseUUID(bluenet.StateUUID),
		want:  func(v []byte) bool { return len(v) >= 1 && bluenet.StateKind(v[0]) == bluenet.Disconnected },
		// The daemon sets the adapter up again (BR/EDR off power-cycles the
		// controller) and registers two services and two advertisements:
		// more than the bare gatt server's 2 s on a loaded machine.
		within: 4 * time.Second,
	})
}

// advertising waits until an advertisement is registered on adapter hci
// (LEAdvertisingManager1.ActiveInstances > 0) and returns when it was.
func advertising(t *testing.T, ctx context.Context, bus *dbus.Conn, hci string) time.Time {
	t.Helper()
	obj := bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+hci))
	for ctx.Err() == nil {
		var n byte
		if obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
			"org.bluez.LEAdvertisingManager1", "ActiveInstances").Store(&n) == nil && n > 0 {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no advertisement on %s", hci)
	return time.Time{}
}
