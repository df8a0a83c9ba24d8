package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/wifitest"
)

// fixture runs the profile against a fake bluetoothd on a private bus and
// an in-memory Wi-Fi backend.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	bz    *gatttest.Bluez
	wifi  *wifitest.Backend
	app   *gatttest.App
	notes chan gatttest.Notification
	// backlog holds notifications read but not yet matched by expect.
	backlog []gatttest.Notification
	status  chan Status
	done    chan error
	logs    logbuf.Buffer // the profile's debug log
}

// noSecret fails the test if the debug log contains secret.
func (f *fixture) noSecret(secret string) {
	f.t.Helper()
	if strings.Contains(f.logs.String(), secret) {
		f.t.Errorf("the debug log contains a password")
	}
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	bus := gatttest.NewBus(t)
	bz := gatttest.New(t, bus.Address)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{t: t, ctx: ctx, bz: bz, wifi: wifitest.New(), status: make(chan Status, 256), done: make(chan error, 1)}
	ready := make(chan struct{})
	// As the daemon's own connection (gatt.ConnectSystemBus): write
	// commands run in the order they were sent.
	conn, err := gatt.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cfg := Config{
		Conn:       conn,
		Logger:     slog.New(slog.NewTextHandler(&f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WiFi:       f.wifi,
		Alias:      "Test Device",
		Hostname:   "host-%IP",
		CyclePause: 300 * time.Millisecond,
		NotifyGap:  time.Millisecond,
		JoinDelay:  200 * time.Millisecond, // generous: the test machine may be loaded
		Protocols:  []string{ProtocolBluenet},
		OnReady:    func() { close(ready) },
		OnStatus: func(s Status) {
			select {
			case f.status <- s:
			default:
			}
		},
	}
	fixtureBluezMu.Lock()
	fixtureBluez[cfg.Conn] = bz
	fixtureBluezMu.Unlock()
	t.Cleanup(func() { fixtureBluezMu.Lock(); delete(fixtureBluez, cfg.Conn); fixtureBluezMu.Unlock() })
	if mod != nil {
		mod(&cfg)
	}
	go func() { f.done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-f.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	select {
	case <-ready:
	case err := <-f.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("profile not ready after 10s")
	}
	f.app = bz.App()
	f.notes = make(chan gatttest.Notification, 256)
	go func() {
		for n := range bz.Notifications() {
			f.notes <- n
		}
	}()
	return f
}

func (f *fixture) path(uuid string) dbus.ObjectPath {
	c := f.app.Char(uuid)
	if c == nil {
		f.t.Fatalf("no characteristic %s", uuid)
	}
	return c.Path
}

func (f *fixture) write(dev dbus.ObjectPath, uuid string, v []byte, mtu, offset uint16) error {
	return f.bz.WriteValue(f.ctx, f.app, f.path(uuid), v, gatttest.Options(dev, mtu, offset))
}

func (f *fixture) read(dev dbus.ObjectPath, uuid string) []byte {
	v, err := f.bz.ReadValue(f.ctx, f.app, f.path(uuid), gatttest.Options(dev, 517, 0))
	if err != nil {
		f.t.Fatalf("read %s: %v", uuid, err)
	}
	return v
}

// subscribe subscribes to uuid as bluetoothd does (StartNotify without a
// reply) and waits until the application says it is notifying.
func (f *fixture) subscribe(uuid string) {
	f.t.Helper()
	p := f.path(uuid)
	if err := f.bz.StartNotify(f.ctx, f.app, p); err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var v dbus.Variant
		err := f.bz.Conn().Object(f.app.Owner, p).CallWithContext(f.ctx, "org.freedesktop.DBus.Properties.Get", 0,
			"org.bluez.GattCharacteristic1", "Notifying").Store(&v)
		if on, _ := v.Value().(bool); err == nil && on {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s not notifying 5 s after StartNotify (%v)", uuid, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expect waits for a notification of uuid with value want. Notifications of
// other characteristics are kept for later expects; those of uuid before the
// match are dropped.
func (f *fixture) expect(uuid string, want []byte) {
	f.t.Helper()
	p := f.path(uuid)
	var seen []string
	timeout := time.After(5 * time.Second)
	for i := 0; ; i++ {
		for i >= len(f.backlog) {
			select {
			case n := <-f.notes:
				f.backlog = append(f.backlog, n)
			case <-timeout:
				f.t.Fatalf("no notification %q on %s; saw %q", want, uuid, seen)
			}
		}
		n := f.backlog[i]
		if n.Path != p {
			continue
		}
		if bytes.Equal(n.Value, want) {
			var kept []gatttest.Notification
			for _, m := range f.backlog[:i] {
				if m.Path != p {
					kept = append(kept, m)
				}
			}
			f.backlog = append(kept, f.backlog[i+1:]...)
			return
		}
		seen = append(seen, string(n.Value))
	}
}

func (f *fixture) waitJoins(n int) []wifitest.Join {
	f.t.Helper()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		if j := f.wifi.Joins(); len(j) >= n {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("%d joins, want %d", len(f.wifi.Joins()), n)
	return nil
}

func TestProfileTree(t *testing.T) {
	f := newFixture(t, nil)
	want := map[string][]string{
		bluenet.NetworksUUID:    {"notify"},
		bluenet.StateUUID:       {"read", "notify"},
		bluenet.HostnameUUID:    {"read", "notify"},
		bluenet.VersionUUID:     {"read"},
		bluenet.SSIDUUID:        {"write"},
		bluenet.CredentialsUUID: {"write"},
		bluenet.ResultUUID:      {"read", "notify"},
	}
	if len(f.app.Services) != 1 || f.app.Services[0].UUID != bluenet.ServiceUUID || !f.app.Services[0].Primary {
		t.Fatalf("services = %+v, want one primary %s", f.app.Services, bluenet.ServiceUUID)
	}
	for uuid, flags := range want {
		c := f.app.Char(uuid)
		if c == nil {
			t.Errorf("missing characteristic %s", uuid)
			continue
		}
		got := slices.Clone(c.Flags)
		slices.Sort(got)
		slices.Sort(flags)
		if !slices.Equal(got, flags) {
			t.Errorf("%s flags = %v, want %v", uuid, got, flags)
		}
	}
	advs := f.bz.Advertisements()
	if len(advs) != 1 {
		t.Fatalf("%d advertisements, want 1", len(advs))
	}
	if uuids, _ := advs[0].Props["ServiceUUIDs"].Value().([]string); len(uuids) != 1 || !strings.EqualFold(uuids[0], bluenet.ServiceUUID) {
		t.Errorf("advertised UUIDs = %v", advs[0].Props["ServiceUUIDs"])
	}
	if typ, _ := advs[0].Props["Type"].Value().(string); typ != "peripheral" {
		t.Errorf("advertisement type %q, want peripheral", typ)
	}
	if alias, _ := f.bz.AdapterProperty("Alias").Value().(string); alias != "Test Device" {
		t.Errorf("adapter alias = %q", alias)
	}
	if d, _ := f.bz.AdapterProperty("Discoverable").Value().(bool); !d {
		t.Errorf("adapter not discoverable")
	}
	dev := f.bz.Connect("00:11:22:33:44:55")
	if v := f.read(dev, bluenet.VersionUUID); string(v) != "1.0" {
		t.Errorf("Version = %q", v)
	}
	if v := f.read(dev, bluenet.StateUUID); !bytes.Equal(v, []byte{1}) {
		t.Errorf("State = %q, want Disconnected", v)
	}
	if v := f.read(dev, bluenet.ResultUUID); v[0] != byte(bluenet.ResultNone) {
		t.Errorf("Result = %q, want none", v)
	}
}

func TestProfileJoin(t *testing.T) {
	f := newFixture(t, nil)
	for _, u := range []string{bluenet.StateUUID, bluenet.HostnameUUID, bluenet.ResultUUID} {
		f.subscribe(u)
	}
	dev := f.bz.Connect("00:11:22:33:44:55")
	if err := f.write(dev, bluenet.SSIDUUID, []byte("home"), 517, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.write(dev, bluenet.CredentialsUUID, []byte("correct horse"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(bluenet.StateUUID, []byte("\x02home"))
	f.expect(bluenet.StateUUID, []byte("\x03home"))
	f.expect(bluenet.HostnameUUID, []byte("host-192.0.2.10"))
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultOK))
	if j := f.waitJoins(1); string(j[0].SSID) != "home" || j[0].Secret != "correct horse" {
		t.Errorf("join = %q", j)
	}
	if v := f.read(dev, bluenet.HostnameUUID); string(v) != "host-192.0.2.10" {
		t.Errorf("Hostname = %q", v)
	}

	// A failed join reports its reason; the backend keeps the old network.
	f.wifi.SetJoinFunc(func(context.Context, []byte, string) error {
		return &wifi.JoinError{Reason: wifi.ReasonWrongPassword}
	})
	if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.write(dev, bluenet.CredentialsUUID, []byte("wrong-password"), 517, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultWrongPassword))
	f.expect(bluenet.StateUUID, []byte("\x03home"))
	f.noSecret("correct horse")
	f.noSecret("wrong-password")
	if !strings.Contains(f.logs.String(), "level=DEBUG") {
		t.Errorf("no debug lines logged; the secrets check proves nothing")
	}
}

func TestProfileWriteValidation(t *testing.T) {
	f := newFixture(t, nil)
	dev := f.bz.Connect("00:11:22:33:44:55")
	tests := []struct {
		name    string
		uuid    string
		value   []byte
		errName string
	}{
		{"credentials before SSID", bluenet.CredentialsUUID, []byte("password1"), "org.bluez.Error.NotPermitted"},
		{"SSID too long", bluenet.SSIDUUID, bytes.Repeat([]byte{'x'}, 33), "org.bluez.Error.InvalidValueLength"},
		{"SSID empty", bluenet.SSIDUUID, nil, "org.bluez.Error.InvalidValueLength"},
		{"SSID ok", bluenet.SSIDUUID, []byte{0xff, 0x00, 'a'}, ""},
		{"password too short", bluenet.CredentialsUUID, []byte("short"), "org.bluez.Error.InvalidValueLength"},
		{"password too long", bluenet.CredentialsUUID, bytes.Repeat([]byte{'p'}, 65), "org.bluez.Error.InvalidValueLength"},
		{"password not ASCII", bluenet.CredentialsUUID, []byte("pässwort1"), "org.bluez.Error.InvalidValueLength"},
	}
	for _, tt := range tests {
		err := f.write(dev, tt.uuid, tt.value, 517, 0)
		if got := gatttest.ErrorName(err); got != tt.errName {
			t.Errorf("%s: error %q (%v), want %q", tt.name, got, err, tt.errName)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if j := f.wifi.Joins(); len(j) != 0 {
		t.Errorf("invalid input started joins: %q", j)
	}
	if v := f.read(dev, bluenet.ResultUUID); v[0] != byte(bluenet.ResultInvalidInput) {
		t.Errorf("Result = %q, want invalid input", v)
	}
	// Open network: empty credentials join without a secret.
	if err := f.write(dev, bluenet.CredentialsUUID, []byte{}, 517, 0); err != nil {
		t.Fatalf("empty credentials: %v", err)
	}
	if j := f.waitJoins(1); !bytes.Equal(j[0].SSID, []byte{0xff, 0x00, 'a'}) || j[0].Secret != "" {
		t.Errorf("join = %q", j)
	}
}

// Two phones: one at a time. While a phone is mid-setup, the other's
// provisioning writes are refused with "busy" (and change nothing); once
// the first phone's join ends, or it disconnects, the other may start.
// Each join uses the SSID its own phone wrote; a disconnect drops the
// phone's SSID.
func TestProfileOnePhoneAtATime(t *testing.T) {
	f := newFixture(t, nil)
	f.subscribe(bluenet.ResultUUID)
	a := f.bz.Connect("00:00:00:00:00:0a")
	b := f.bz.Connect("00:00:00:00:00:0b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	busy := func(err error) {
		t.Helper()
		if gatttest.ErrorName(err) != "org.bluez.Error.InProgress" {
			t.Fatalf("write from the second phone: %v, want InProgress (busy)", err)
		}
		f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultBusy))
	}
	must(f.write(a, bluenet.SSIDUUID, []byte("net-a"), 517, 0))
	busy(f.write(b, bluenet.SSIDUUID, []byte("net-b"), 517, 0))
	busy(f.write(b, bluenet.CredentialsUUID, []byte("password-b"), 517, 0))
	must(f.write(a, bluenet.CredentialsUUID, []byte("password-a"), 517, 0))
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultOK))
	// a's setup ended: b may start.
	must(f.write(b, bluenet.SSIDUUID, []byte("net-b"), 517, 0))
	busy(f.write(a, bluenet.SSIDUUID, []byte("net-a2"), 517, 0))
	// b leaves mid-setup: a may start again, b's SSID is gone.
	f.bz.Disconnect("00:00:00:00:00:0b")
	time.Sleep(100 * time.Millisecond)
	must(f.write(a, bluenet.SSIDUUID, []byte("net-a2"), 517, 0))
	must(f.write(a, bluenet.CredentialsUUID, []byte("password-a2"), 517, 0))
	j := f.waitJoins(2)
	if string(j[0].SSID) != "net-a" || j[0].Secret != "password-a" || string(j[1].SSID) != "net-a2" || j[1].Secret != "password-a2" {
		t.Errorf("joins = %q", j)
	}
	b = f.bz.Connect("00:00:00:00:00:0b")
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultOK))
	if err := f.write(b, bluenet.CredentialsUUID, []byte("password-b"), 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.NotPermitted" {
		t.Errorf("credentials after reconnect without SSID: %v, want NotPermitted", err)
	}
}

// Long writes at MTU 23 arrive in 18-byte pieces with offsets; the join
// starts once, with the whole password.
func TestProfileLongWrites(t *testing.T) {
	f := newFixture(t, nil)
	dev := f.bz.Connect("00:11:22:33:44:55")
	ssid := []byte("a-rather-long-network-name-xx")
	secret := "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ" // 46 bytes
	write := func(uuid string, v []byte) {
		for off := 0; off < len(v); off += 18 {
			end := min(off+18, len(v))
			if err := f.write(dev, uuid, v[off:end], 23, uint16(off)); err != nil {
				t.Fatalf("write %s at %d: %v", uuid, off, err)
			}
		}
	}
	write(bluenet.SSIDUUID, ssid)
	write(bluenet.CredentialsUUID, []byte(secret))
	j := f.waitJoins(1)
	time.Sleep(200 * time.Millisecond)
	if j = f.wifi.Joins(); len(j) != 1 || !bytes.Equal(j[0].SSID, ssid) || j[0].Secret != secret {
		t.Errorf("joins = %q, want one with the whole SSID and password", j)
	}
	// A password of exactly 36 bytes ends on a full piece: the join waits
	// for JoinDelay, then starts with all of it.
	secret36 := secret[:36]
	write(bluenet.CredentialsUUID, []byte(secret36))
	j = f.waitJoins(2)
	if j[1].Secret != secret36 {
		t.Errorf("second join secret has %d bytes, want 36", len(j[1].Secret))
	}
	f.noSecret(secret36)
}

// Available Networks: strongest first, each SSID once, hidden skipped, then
// a pause and again; nothing once unsubscribed.
func TestProfileNetworksCycle(t *testing.T) {
	f := newFixture(t, nil)
	f.wifi.SetAccessPoints([]wifi.AccessPoint{
		{SSID: []byte("weak"), Strength: 20},
		{SSID: []byte("strong"), Strength: 90},
		{SSID: nil, Strength: 99},
		{SSID: []byte("weak"), Strength: 10},
	})
	time.Sleep(100 * time.Millisecond)
	f.subscribe(bluenet.NetworksUUID)
	p := f.path(bluenet.NetworksUUID)
	var got []string
	var times []time.Time
	timeout := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case n := <-f.notes:
			if n.Path == p {
				got = append(got, string(n.Value))
				times = append(times, time.Now())
			}
		case <-timeout:
			t.Fatalf("networks = %q after 5s", got)
		}
	}
	if want := []string{"strong", "weak", "strong", "weak"}; !slices.Equal(got, want) {
		t.Errorf("networks = %q, want %q", got, want)
	}
	if gap := times[2].Sub(times[1]); gap < 250*time.Millisecond {
		t.Errorf("pause between cycles %v, want >= CyclePause (300ms)", gap)
	}
	if f.wifi.Scans() < 1 {
		t.Errorf("no scan requested on subscribe")
	}
	if err := f.bz.StopNotify(f.ctx, f.app, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for len(f.notes) > 0 {
		<-f.notes
	}
	select {
	case n := <-f.notes:
		if n.Path == p {
			t.Errorf("notification %q after StopNotify", n.Value)
		}
	case <-time.After(700 * time.Millisecond):
	}
}

func TestProfileAutoAdvertise(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AutoAdvertise = true })
	if len(f.bz.Advertisements()) != 1 {
		t.Fatalf("not advertising at start")
	}
	f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
	waitAdvs := func(n int) {
		t.Helper()
		end := time.Now().Add(5 * time.Second)
		for time.Now().Before(end) && len(f.bz.Advertisements()) != n {
			time.Sleep(10 * time.Millisecond)
		}
		if got := len(f.bz.Advertisements()); got != n {
			t.Fatalf("%d advertisements, want %d", got, n)
		}
	}
	waitAdvs(0)
	f.bz.Connect("00:11:22:33:44:55")
	waitAdvs(1)
	f.bz.Disconnect("00:11:22:33:44:55")
	waitAdvs(0)
	f.wifi.SetState(wifi.State{Kind: wifi.Disconnected})
	waitAdvs(1)
}

// TestProfileBluetoothdRestart stops the fake bluetoothd, changes the Wi-Fi
// state while it is gone (the status is still published), and brings it
// back as after `systemctl restart bluetooth`: adapter powered off, alias
// reset. The daemon sets the adapter up again and republishes everything,
// also when bluetoothd first answers Busy to powering on because it is
// powering the adapter on by itself (AutoEnable): that once left the bed's
// device unpowered after a restart.
func TestProfileBluetoothdRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		busy int // Sets of Powered answered Busy after the restart
	}{
		{"adapter free", 0},
		{"power-on busy", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.bz.Stop()
			for len(f.status) > 0 {
				<-f.status
			}
			f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
			select {
			case st := <-f.status:
				if st.Adapter != "hci0" {
					t.Errorf("status while bluetoothd is gone: adapter %q, want hci0", st.Adapter)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no status published while bluetoothd was gone")
			}
			f.wifi.SetState(wifi.State{Kind: wifi.Disconnected})
			f.bz.SetBusy("Powered", tc.busy)
			f.bz.RestartPoweredOff()
			deadline := time.Now().Add(10 * time.Second)
			for {
				powered, _ := f.bz.AdapterProperty("Powered").Value().(bool)
				alias, _ := f.bz.AdapterProperty("Alias").Value().(string)
				disc, _ := f.bz.AdapterProperty("Discoverable").Value().(bool)
				apps, advs := len(f.bz.Apps()), len(f.bz.Advertisements())
				if powered && alias == "Test Device" && disc && apps == 1 && advs == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after restart: powered %v alias %q discoverable %v, %d apps, %d advertisements; want the adapter set up and both registered",
						powered, alias, disc, apps, advs)
				}
				time.Sleep(20 * time.Millisecond)
			}
			dev := f.bz.Connect("00:11:22:33:44:55")
			if v := f.read(dev, bluenet.StateUUID); !bytes.Equal(v, []byte{1}) {
				t.Errorf("State after restart = %q, want Disconnected", v)
			}
		})
	}
}

// TestProfileStatusInOrder: the main loop (Wi-Fi states) and the join
// (its result) both publish the status. OnStatus is never called twice at
// once, and the last call has the final state: a writer of the status file
// never puts an older status over a newer one.
func TestProfileStatusInOrder(t *testing.T) {
	var inCall, overlaps atomic.Int32
	var mu sync.Mutex
	var last Status
	f := newFixture(t, func(c *Config) {
		c.OnStatus = func(s Status) {
			if inCall.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(10 * time.Millisecond) // as long as a slow file write
			mu.Lock()
			last = s
			mu.Unlock()
			inCall.Add(-1)
		}
	})
	dev := f.bz.Connect("00:11:22:33:44:55")
	for i, ssid := range []string{"home", "cafe", "home"} {
		if err := f.write(dev, bluenet.SSIDUUID, []byte(ssid), 517, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.write(dev, bluenet.CredentialsUUID, []byte("correct horse"), 517, 0); err != nil {
			t.Fatal(err)
		}
		f.waitJoins(i + 1)
		want := Status{State: "connected", SSID: ssid, LastResult: "connected"}
		var got Status
		end := time.Now().Add(5 * time.Second)
		for time.Now().Before(end) {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			got = last
			mu.Unlock()
			if got.State == want.State && got.SSID == want.SSID && got.LastResult == want.LastResult {
				break
			}
		}
		if got.State != want.State || got.SSID != want.SSID || got.LastResult != want.LastResult {
			t.Fatalf("join %d: last status %q %q %q, want %q %q %q", i, got.State, got.SSID, got.LastResult,
				want.State, want.SSID, want.LastResult)
		}
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("OnStatus was called %d times while another call ran", n)
	}
}
