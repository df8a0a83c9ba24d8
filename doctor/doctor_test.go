package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/dbustest"
	"github.com/bluenet-project/bluenet/internal/nmfake"
)

// fakePolkit answers CheckAuthorization for the actions in allow.
type fakePolkit struct{ allow map[string]bool }

type subject struct {
	Kind    string
	Details map[string]dbus.Variant
}

// authResult is polkit's AuthorizationResult, one (bba{ss}) struct.
type authResult struct {
	Authorized, Challenge bool
	Details               map[string]string
}

func (p fakePolkit) CheckAuthorization(s subject, action string, _ map[string]string, _ uint32, _ string) (authResult, *dbus.Error) {
	if s.Kind != "system-bus-name" || s.Details["name"].Value() == nil {
		return authResult{}, dbus.NewError("org.freedesktop.PolicyKit1.Error.Failed", []any{"bad subject"})
	}
	return authResult{Authorized: p.allow[action], Details: map[string]string{}}, nil
}

func startPolkit(t *testing.T, bus *dbustest.Bus, allow ...string) {
	t.Helper()
	c := bus.Conn(t)
	p := fakePolkit{allow: map[string]bool{}}
	for _, a := range allow {
		p.allow[a] = true
	}
	if err := c.Export(p, polkitPath, "org.freedesktop.PolicyKit1.Authority"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RequestName(polkitName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("polkit name: %v %v", r, err)
	}
}

const goodRule = `polkit.addRule(function(action, subject) {
	if (subject.user == "bluenet" && (
		action.id == "org.freedesktop.NetworkManager.network-control" ||
		action.id == "org.freedesktop.NetworkManager.settings.modify.system" ||
		action.id == "org.freedesktop.NetworkManager.wifi.scan" ||
		action.id == "org.freedesktop.hostname1.set-static-hostname")) {
		return polkit.Result.YES;
	}
});
`

// bed is a machine made of fakes: bluetoothd, NetworkManager and a file
// system root with sysfs, /etc/passwd, the unit and the polkit rule.
type bed struct {
	bus   *dbustest.Bus
	bluez *gatttest.Bluez
	nm    *nmfake.NM
	root  string
	cfg   Config
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newBed(t *testing.T) *bed {
	t.Helper()
	bus := dbustest.New(t)
	b := &bed{bus: bus, bluez: gatttest.New(t, bus.Address), nm: nmfake.New(t, bus, nmfake.Config{}), root: t.TempDir()}
	write(t, b.root, "sys/class/bluetooth/hci0/rfkill3/soft", "0\n")
	write(t, b.root, "sys/class/bluetooth/hci0/rfkill3/hard", "0\n")
	write(t, b.root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbluenet:x:998:998::/nonexistent:/usr/sbin/nologin\n")
	write(t, b.root, "lib/systemd/system/bluenet.service", "[Service]\nUser=bluenet\n")
	write(t, b.root, strings.TrimPrefix(PolkitRule, "/"), goodRule)
	startPolkit(t, bus, PolkitActions...)
	b.cfg = Config{
		Conn:              bus.Conn(t),
		Root:              b.root,
		CurrentUser:       "root",
		ConfigFile:        "/etc/bluenet/bluenet.conf",
		ValidateConfig:    func() ([]string, error) { return nil, nil },
		BluetoothdVersion: func(context.Context) (string, error) { return "5.66", nil },
		Country:           func(context.Context) (string, error) { return "DE", nil },
	}
	return b
}

func (b *bed) run(t *testing.T) Report {
	t.Helper()
	r, err := Run(context.Background(), b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", buf.String())
	return r
}

func setPowered(t *testing.T, b *bed, on bool) {
	t.Helper()
	err := b.cfg.Conn.Object("org.bluez", gatttest.AdapterPath).Call("org.freedesktop.DBus.Properties.Set", 0,
		"org.bluez.Adapter1", "Powered", dbus.MakeVariant(on)).Err
	if err != nil {
		t.Fatal(err)
	}
}

// waitGone waits until the bus has seen a fake leave.
func waitGone(t *testing.T, b *bed, name string) {
	t.Helper()
	for range 200 {
		var has bool
		if err := b.cfg.Conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil {
			t.Fatal(err)
		}
		if !has {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still on the bus", name)
}

// want is what a case expects of one check.
type want struct {
	id     string
	status Status
	text   string // in Detail or Fix
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, b *bed)
		ok    bool
		want  []want
	}{
		{
			name: "healthy",
			ok:   true,
			want: []want{
				{"bluetoothd", Pass, "5.66"},
				{"adapter", Pass, "hci0 (00:AA:01:00:00:00)"},
				{"rfkill", Pass, "not blocked"},
				{"powered", Pass, "on"},
				{"advertising", Pass, "4 slot(s) free"},
				{"networkmanager", Pass, "1.42.4"},
				{"wifi-device", Pass, "wlan0, managed"},
				{"wifi-radio", Pass, "on"},
				{"country", Pass, "DE"},
				{"polkit", Pass, "grants user bluenet"},
				{"config", Pass, "is valid"},
			},
		},
		{
			name:  "bluetoothd stopped",
			setup: func(t *testing.T, b *bed) { b.bluez.Stop(); waitGone(t, b, "org.bluez") },
			want: []want{
				{"bluetoothd", Fail, "systemctl enable --now bluetooth"},
				{"adapter", Skip, "bluetoothd is not running"},
				{"advertising", Skip, ""},
				{"networkmanager", Pass, ""},
			},
		},
		{
			name: "old bluetoothd",
			setup: func(t *testing.T, b *bed) {
				b.cfg.BluetoothdVersion = func(context.Context) (string, error) { return "5.55", nil }
			},
			ok:   true,
			want: []want{{"bluetoothd", Warn, "5.55"}},
		},
		{
			name: "rfkill soft-blocked",
			setup: func(t *testing.T, b *bed) {
				write(t, b.root, "sys/class/bluetooth/hci0/rfkill3/soft", "1\n")
				setPowered(t, b, false)
			},
			want: []want{
				{"rfkill", Fail, "sudo rfkill unblock bluetooth"},
				{"powered", Fail, "blocked by rfkill"},
			},
		},
		{
			name:  "rfkill hard-blocked",
			setup: func(t *testing.T, b *bed) { write(t, b.root, "sys/class/bluetooth/hci0/rfkill3/hard", "1\n") },
			want:  []want{{"rfkill", Fail, "hardware switch"}},
		},
		{
			name:  "adapter powered off, not blocked",
			setup: func(t *testing.T, b *bed) { setPowered(t, b, false) },
			ok:    true,
			want:  []want{{"powered", Warn, "bluetoothctl power on"}},
		},
		{
			name:  "no such adapter",
			setup: func(t *testing.T, b *bed) { b.cfg.Adapter = "hci7" },
			want: []want{
				{"adapter", Fail, "no adapter hci7 (adapters: hci0)"},
				{"rfkill", Skip, "no adapter"},
			},
		},
		{
			name:  "adapter by address",
			setup: func(t *testing.T, b *bed) { b.cfg.Adapter = strings.ToLower(gatttest.AdapterAddress) },
			ok:    true,
			want:  []want{{"adapter", Pass, "hci0"}},
		},
		{
			name:  "advertising slots full",
			setup: func(t *testing.T, b *bed) { b.bluez.SetMaxAdvertisements(0) },
			want:  []want{{"advertising", Fail, "advertise off"}},
		},
		{
			name:  "NetworkManager stopped",
			setup: func(t *testing.T, b *bed) { b.nm.Stop(); waitGone(t, b, nmName) },
			want: []want{
				{"networkmanager", Fail, "sudo systemctl enable --now NetworkManager"},
				{"wifi-device", Skip, "NetworkManager is not running"},
				{"wifi-radio", Skip, ""},
				{"bluetoothd", Pass, ""},
			},
		},
		{
			name:  "no such Wi-Fi device",
			setup: func(t *testing.T, b *bed) { b.cfg.Interface = "wlan9" },
			want:  []want{{"wifi-device", Fail, "no device wlan9"}},
		},
		{
			name:  "Wi-Fi radio off",
			setup: func(t *testing.T, b *bed) { b.nm.SetWirelessEnabled(false) },
			want: []want{
				{"wifi-radio", Fail, "nmcli radio wifi on"},
				{"wifi-device", Warn, "unavailable"},
			},
		},
		{
			name: "no country",
			setup: func(t *testing.T, b *bed) {
				b.cfg.Country = func(context.Context) (string, error) { return "00", nil }
			},
			ok:   true,
			want: []want{{"country", Warn, "raspi-config nonint do_wifi_country"}},
		},
		{
			name: "country unknown",
			setup: func(t *testing.T, b *bed) {
				b.cfg.Country = func(context.Context) (string, error) { return "", errors.New("no nl80211") }
			},
			ok:   true,
			want: []want{{"country", Warn, "no nl80211"}},
		},
		{
			name: "polkit rule removed (root, unit installed)",
			setup: func(t *testing.T, b *bed) {
				if err := os.Remove(filepath.Join(b.root, PolkitRule)); err != nil {
					t.Fatal(err)
				}
			},
			want: []want{{"polkit", Fail, PolkitRule + " is missing"}},
		},
		{
			name: "polkit rule without hostnamed (root)",
			setup: func(t *testing.T, b *bed) {
				write(t, b.root, "etc/polkit-1/rules.d/10-local.rules", strings.ReplaceAll(goodRule, "org.freedesktop.hostname1.set-static-hostname", "x"))
				_ = os.Remove(filepath.Join(b.root, PolkitRule))
			},
			want: []want{{"polkit", Fail, "/etc/polkit-1/rules.d/10-local.rules does not grant user bluenet org.freedesktop.hostname1.set-static-hostname"}},
		},
		{
			name: "service user missing (root)",
			setup: func(t *testing.T, b *bed) {
				write(t, b.root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
			},
			want: []want{{"polkit", Fail, "systemd-sysusers"}},
		},
		{
			name: "no unit, run by root",
			setup: func(t *testing.T, b *bed) {
				_ = os.Remove(filepath.Join(b.root, "lib/systemd/system/bluenet.service"))
				_ = os.Remove(filepath.Join(b.root, PolkitRule))
			},
			ok:   true,
			want: []want{{"polkit", Skip, "no bluenet.service installed"}},
		},
		{
			name: "run as bluenet, polkit allows",
			setup: func(t *testing.T, b *bed) {
				b.cfg.CurrentUser = "bluenet"
				_ = os.Remove(filepath.Join(b.root, PolkitRule)) // polkit's answer counts, not the file
			},
			ok:   true,
			want: []want{{"polkit", Pass, "user bluenet may control NetworkManager"}},
		},
		{
			name: "config invalid",
			setup: func(t *testing.T, b *bed) {
				b.cfg.ValidateConfig = func() ([]string, error) {
					return nil, errors.New(`invalid value "soon" for BLUENET_JOIN_TIMEOUT`)
				}
			},
			want: []want{{"config", Fail, "edit /etc/bluenet/bluenet.conf"}},
		},
		{
			name: "config unknown key",
			setup: func(t *testing.T, b *bed) {
				b.cfg.ValidateConfig = func() ([]string, error) { return []string{"unknown key BLUENET_WLAM"}, nil }
			},
			ok:   true,
			want: []want{{"config", Warn, "BLUENET_WLAM"}},
		},
		{
			name: "no config file",
			setup: func(t *testing.T, b *bed) {
				b.cfg.ValidateConfig = func() ([]string, error) { return nil, fmt.Errorf("configuration: %w", fs.ErrNotExist) }
			},
			ok:   true,
			want: []want{{"config", Pass, "defaults apply"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			if tc.setup != nil {
				tc.setup(t, b)
			}
			r := b.run(t)
			if r.OK != tc.ok {
				t.Errorf("OK = %v, want %v (failed: %+v)", r.OK, tc.ok, r.Failed())
			}
			for _, w := range tc.want {
				c, found := r.Check(w.id)
				if !found {
					t.Errorf("no check %q", w.id)
					continue
				}
				if c.Status != w.status || !strings.Contains(c.Detail+"\n"+c.Fix, w.text) {
					t.Errorf("%s = %s %q (fix %q), want %s containing %q", w.id, c.Status, c.Detail, c.Fix, w.status, w.text)
				}
				if c.Status == Fail && c.Fix == "" {
					t.Errorf("%s failed without a fix", w.id)
				}
			}
		})
	}
}

// TestPolkitDenied runs as the service user against a polkit that grants
// only scanning: the report names the missing actions and the rule file.
func TestPolkitDenied(t *testing.T) {
	bus := dbustest.New(t)
	gatttest.New(t, bus.Address)
	nmfake.New(t, bus, nmfake.Config{})
	startPolkit(t, bus, "org.freedesktop.NetworkManager.wifi.scan")
	r, err := Run(context.Background(), Config{
		Conn: bus.Conn(t), Root: t.TempDir(), CurrentUser: "bluenet",
		BluetoothdVersion: func(context.Context) (string, error) { return "5.66", nil },
		Country:           func(context.Context) (string, error) { return "DE", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Check("polkit")
	if c.Status != Fail || r.OK {
		t.Fatalf("polkit = %+v, OK %v; want a failure", c, r.OK)
	}
	for _, s := range []string{"network-control", "settings.modify.system", "set-static-hostname", PolkitRule, "--reinstall bluenet"} {
		if !strings.Contains(c.Detail+c.Fix, s) {
			t.Errorf("polkit check does not mention %q: %+v", s, c)
		}
	}
	if strings.Contains(c.Detail, "wifi.scan") {
		t.Errorf("polkit check names an allowed action: %q", c.Detail)
	}
}

// TestNoPolkitd: the unit is installed but nothing answers for polkit.
func TestNoPolkitd(t *testing.T) {
	bus := dbustest.New(t)
	root := t.TempDir()
	write(t, root, "lib/systemd/system/bluenet.service", "")
	r, err := Run(context.Background(), Config{
		Conn: bus.Conn(t), Root: root, CurrentUser: "root",
		BluetoothdVersion: func(context.Context) (string, error) { return "5.66", nil },
		Country:           func(context.Context) (string, error) { return "DE", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Check("polkit"); c.Status != Fail || !strings.Contains(c.Fix, "polkitd") {
		t.Errorf("polkit = %+v, want a failure naming polkitd", c)
	}
}

func TestReportOutput(t *testing.T) {
	r := Report{OK: false, Checks: []Check{
		{ID: "a", Name: "bluetoothd", Status: Pass, Detail: "running"},
		{ID: "b", Name: "NetworkManager", Status: Fail, Detail: "not running", Fix: "start it"},
		{ID: "c", Name: "country", Status: Warn, Detail: "not set", Fix: "set it"},
		{ID: "d", Name: "Wi-Fi", Status: Skip, Detail: "not checked"},
	}}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := "✓ bluetoothd      running\n" +
		"✗ NetworkManager  not running\n" +
		"                  fix: start it\n" +
		"! country         not set\n" +
		"                  fix: set it\n" +
		"- Wi-Fi           not checked\n" +
		"1 problem(s) to fix, 1 warning(s)\n"
	if buf.String() != want {
		t.Errorf("text report:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.OK || len(back.Checks) != 4 || back.Checks[1].Status != Fail || back.Checks[3].Status != Skip {
		t.Errorf("JSON round trip: %+v\n%s", back, buf.String())
	}
	if !strings.Contains(buf.String(), `"status": "fail"`) {
		t.Errorf("JSON status is not a name:\n%s", buf.String())
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"5.9", "5.66", true},
		{"5.66", "5.66", false},
		{"5.72", "5.66", false},
		{"1.42.4-1+deb12u1", "1.42", false},
		{"1.40.16", "1.42", true},
		{"6", "5.66", false},
	}
	for _, tc := range tests {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestParseAttrs(t *testing.T) {
	b := append(nlAttr(1, []byte("nl80211\x00")), nlAttr(0x21, []byte("DE\x00"))...)
	m := parseAttrs(b)
	if string(m[1]) != "nl80211\x00" || string(m[0x21]) != "DE\x00" {
		t.Errorf("parseAttrs = %q", m)
	}
	if m := parseAttrs([]byte{0xff, 0, 1, 0}); len(m) != 0 {
		t.Errorf("parseAttrs of a bad length = %q", m)
	}
}
