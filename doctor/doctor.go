// Package doctor checks that a machine can run the Bluenet daemon: bluetoothd
// and its adapter, NetworkManager and its Wi-Fi device, the regulatory
// country, the polkit rule that lets the unprivileged service user reach
// NetworkManager, and the configuration file. Each check passes, warns or
// fails, and says in one line how to fix what it found.
//
// Checks talk to the real services over D-Bus (org.bluez,
// org.freedesktop.NetworkManager, org.freedesktop.PolicyKit1) and read sysfs
// for rfkill, so they run against the fakes in internal/... as well as on a
// device.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// Status is the outcome of one check.
type Status int

// Outcomes. Only Fail makes [Report.OK] false.
const (
	Pass Status = iota // nothing to do
	Warn               // provisioning works, but something deserves a look
	Fail               // provisioning will not work until it is fixed
	Skip               // not checked: a check it depends on failed, or it does not apply
)

var statusNames = [...]string{"pass", "warn", "fail", "skip"}

// String returns "pass", "warn", "fail" or "skip".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText encodes a Status as its name (for JSON).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a Status from its name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("doctor: unknown status %q", b)
}

// symbol is what the text report prints in front of a check.
func (s Status) symbol() string {
	switch s {
	case Pass:
		return "✓"
	case Warn:
		return "!"
	case Fail:
		return "✗"
	}
	return "-"
}

// Check is the result of one check.
type Check struct {
	// ID is a stable machine-readable name, such as "networkmanager".
	ID string `json:"id"`
	// Name is what the text report shows.
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says in one line what to do; empty when the check passed.
	Fix string `json:"fix,omitempty"`
}

// Report is the result of [Run].
type Report struct {
	// OK is true when no check failed (warnings allowed).
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Check returns the check with the given ID, if it ran.
func (r Report) Check(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// Failed returns the checks that failed.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes the report for a person: one line per check, with its
// fix on the next line when there is something to do.
func (r Report) WriteText(w io.Writer) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%s %-*s  %s\n", c.Status.symbol(), width, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, "  %*s  fix: %s\n", width, "", c.Fix)
		}
	}
	warn, fail := 0, 0
	for _, c := range r.Checks {
		switch c.Status {
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	switch {
	case fail > 0:
		fmt.Fprintf(&b, "%d problem(s) to fix, %d warning(s)\n", fail, warn)
	case warn > 0:
		fmt.Fprintf(&b, "ready, with %d warning(s)\n", warn)
	default:
		b.WriteString("ready\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Defaults of [Config].
const (
	DefaultUser      = "bluenet"
	DefaultInterface = "wlan0"
	// PolkitRule is where the package installs the polkit rule.
	PolkitRule = "/usr/share/polkit-1/rules.d/50-bluenet.rules"
	// MinBlueZ and MinNetworkManager are the oldest versions Bluenet is
	// tested with (Debian 12).
	MinBlueZ          = "5.66"
	MinNetworkManager = "1.42"
)

// PolkitActions are the polkit actions the service user needs.
var PolkitActions = []string{
	"org.freedesktop.NetworkManager.network-control",
	"org.freedesktop.NetworkManager.settings.modify.system",
	"org.freedesktop.NetworkManager.wifi.scan",
	"org.freedesktop.hostname1.set-static-hostname",
}

// Config says what to check. Conn is required; the zero value of every
// other field means the default.
type Config struct {
	// Conn is a connection to the system bus.
	Conn *dbus.Conn
	// Adapter is the Bluetooth adapter: "hciN", an address, or "" for the
	// first one.
	Adapter string
	// Interface is the Wi-Fi interface (default wlan0).
	Interface string
	// User is the service's user (default bluenet).
	User string
	// CurrentUser is the name of the user running the checks (default: the
	// process's user).
	CurrentUser string
	// Root is prepended to every file path read (sysfs, unit and rule
	// files); default "/".
	Root string
	// ConfigFile is the configuration file, shown in the report.
	ConfigFile string
	// ValidateConfig checks the configuration file and returns advice that
	// does not stop the daemon (unknown keys); nil skips the check. An error
	// matching fs.ErrNotExist means there is no file, which is fine: every
	// option has a default.
	ValidateConfig func() (warnings []string, err error)
	// BluetoothdVersion returns bluetoothd's version (default: runs
	// bluetoothd -v).
	BluetoothdVersion func(ctx context.Context) (string, error)
	// Country returns the regulatory domain's country ("00" when none is
	// set; default: asks the kernel over nl80211).
	Country func(ctx context.Context) (string, error)
	// Timeout bounds each D-Bus call (default 5s).
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.CurrentUser == "" {
		if u, err := user.Current(); err == nil {
			c.CurrentUser = u.Username
		}
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if c.BluetoothdVersion == nil {
		c.BluetoothdVersion = bluetoothdVersion
	}
	if c.Country == nil {
		c.Country = regulatoryCountry
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
}

// Run runs every check and returns the report. It returns an error only when
// cfg is unusable.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Conn == nil {
		return Report{}, errors.New("doctor: no D-Bus connection")
	}
	cfg.setDefaults()
	d := &doctor{cfg: cfg}
	d.bluetooth(ctx)
	d.networkManager(ctx)
	d.country(ctx)
	d.polkit(ctx)
	d.config()
	r := Report{OK: true, Checks: d.checks}
	if len(r.Failed()) > 0 {
		r.OK = false
	}
	return r, nil
}

type doctor struct {
	cfg    Config
	checks []Check
}

func (d *doctor) add(id, name string, st Status, detail, fix string) {
	d.checks = append(d.checks, Check{ID: id, Name: name, Status: st, Detail: detail, Fix: fix})
}

func (d *doctor) skip(id, name, why string) { d.add(id, name, Skip, "not checked: "+why, "") }

func (d *doctor) path(p string) string { return filepath.Join(d.cfg.Root, p) }

// call calls method on the bus with the configured timeout.
func (d *doctor) call(ctx context.Context, dest string, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.cfg.Conn.Object(dest, path).CallWithContext(ctx, method, 0, args...)
}

func (d *doctor) getProp(ctx context.Context, dest string, path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := d.call(ctx, dest, path, "org.freedesktop.DBus.Properties.Get", iface, name).Store(&v)
	return v, err
}

// nameOwned reports whether a bus name has an owner.
func (d *doctor) nameOwned(ctx context.Context, name string) (bool, error) {
	var has bool
	err := d.call(ctx, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", name).Store(&has)
	return has, err
}

// nameActivatable reports whether the bus can start a service for name.
func (d *doctor) nameActivatable(ctx context.Context, name string) bool {
	var names []string
	if err := d.call(ctx, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListActivatableNames").Store(&names); err != nil {
		return false
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// bluetoothdVersion runs bluetoothd -v from where Debian, Raspberry Pi OS
// and Fedora install it.
func bluetoothdVersion(ctx context.Context) (string, error) {
	for _, p := range []string{"/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd", "/usr/sbin/bluetoothd"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		out, err := exec.CommandContext(ctx, p, "-v").Output()
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s -v: %w", p, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	return "", errors.New("bluetoothd not found")
}

// versionLess compares dotted version numbers numerically ("5.9" < "5.66");
// anything after the numbers ("1.42.4-1") is ignored.
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func versionParts(v string) []int {
	var out []int
	for _, f := range strings.Split(v, ".") {
		end := 0
		for end < len(f) && f[end] >= '0' && f[end] <= '9' {
			end++
		}
		if end == 0 {
			break
		}
		n, _ := strconv.Atoi(f[:end])
		out = append(out, n)
		if end < len(f) {
			break
		}
	}
	return out
}
