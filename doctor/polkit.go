package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	polkitName = "org.freedesktop.PolicyKit1"
	polkitPath = dbus.ObjectPath("/org/freedesktop/PolicyKit1/Authority")
)

// unitFiles are where a bluenet.service may be installed.
var unitFiles = []string{
	"/etc/systemd/system/bluenet.service",
	"/usr/lib/systemd/system/bluenet.service",
	"/lib/systemd/system/bluenet.service",
}

// polkit checks that the service user may do what it needs in
// NetworkManager and hostnamed. Run as that user it asks polkit itself;
// run by another user (root) it checks the installed rule file.
func (d *doctor) polkit(ctx context.Context) {
	const id, name = "polkit", "polkit rule"
	u := d.cfg.User
	asUser := d.cfg.CurrentUser == u
	unit := ""
	for _, f := range unitFiles {
		if _, err := os.Stat(d.path(f)); err == nil {
			unit = f
			break
		}
	}
	if !asUser && unit == "" {
		d.skip(id, name, "no bluenet.service installed and not run as user "+u)
		return
	}
	reinstall := "sudo apt install --reinstall bluenet (it installs " + PolkitRule + ")"
	up, _ := d.nameOwned(ctx, polkitName)
	if !up && !d.nameActivatable(ctx, polkitName) {
		d.add(id, name, Fail, "polkitd is not running: NetworkManager refuses user "+u,
			"sudo apt install polkitd && sudo systemctl start polkit")
		return
	}
	if asUser {
		var denied []string
		for _, a := range PolkitActions {
			ok, err := d.authorized(ctx, a)
			if err != nil {
				d.add(id, name, Fail, fmt.Sprintf("cannot ask polkit about %s: %v", a, err), "check that polkitd runs: systemctl status polkit")
				return
			}
			if !ok {
				denied = append(denied, a)
			}
		}
		if len(denied) > 0 {
			d.add(id, name, Fail, fmt.Sprintf("polkit does not let user %s do %s: the rule %s is missing or wrong",
				u, strings.Join(denied, ", "), PolkitRule), reinstall)
			return
		}
		d.add(id, name, Pass, fmt.Sprintf("user %s may control NetworkManager and set the host name", u), "")
		return
	}
	// Run by another user: the unit is installed; its user and rule must be.
	if !d.userExists(u) {
		d.add(id, name, Fail, fmt.Sprintf("%s runs as user %s, which does not exist", unit, u),
			"sudo systemd-sysusers (the package installs /usr/lib/sysusers.d/bluenet.conf)")
		return
	}
	missing, file := d.ruleMissing(u)
	switch {
	case file == "":
		d.add(id, name, Fail, fmt.Sprintf("no polkit rule lets user %s use NetworkManager and hostnamed: %s is missing", u, PolkitRule), reinstall)
	case len(missing) > 0:
		d.add(id, name, Fail, fmt.Sprintf("%s does not grant user %s %s", file, u, strings.Join(missing, ", ")), reinstall)
	default:
		d.add(id, name, Pass, fmt.Sprintf("%s grants user %s what it needs", file, u), "")
	}
}

// authorized asks polkit whether this process may do action, without
// interaction.
func (d *doctor) authorized(ctx context.Context, action string) (bool, error) {
	names := d.cfg.Conn.Names()
	if len(names) == 0 {
		return false, errors.New("no unique bus name")
	}
	subject := struct {
		Kind    string
		Details map[string]dbus.Variant
	}{"system-bus-name", map[string]dbus.Variant{"name": dbus.MakeVariant(names[0])}}
	var result struct {
		Authorized, Challenge bool
		Details               map[string]string
	}
	err := d.call(ctx, polkitName, polkitPath, "org.freedesktop.PolicyKit1.Authority.CheckAuthorization",
		subject, action, map[string]string{}, uint32(0), "").Store(&result) // one (bba{ss}) struct
	return result.Authorized, err
}

// ruleMissing looks for a polkit rule file that names user u and returns
// the actions it does not name (the package's file first, then any other
// rule file in polkit's folders).
func (d *doctor) ruleMissing(u string) (missing []string, file string) {
	files := []string{PolkitRule}
	for _, dir := range []string{"/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d"} {
		m, _ := filepath.Glob(d.path(filepath.Join(dir, "*.rules")))
		for _, f := range m {
			rel := "/" + strings.TrimPrefix(f, filepath.Clean(d.cfg.Root)+"/")
			if d.cfg.Root == "/" {
				rel = f
			}
			if rel != PolkitRule {
				files = append(files, rel)
			}
		}
	}
	best := PolkitActions
	for _, f := range files {
		b, err := os.ReadFile(d.path(f))
		if errors.Is(err, fs.ErrNotExist) || err != nil {
			continue
		}
		text := string(b)
		if !strings.Contains(text, `"`+u+`"`) && !strings.Contains(text, `'`+u+`'`) {
			continue
		}
		var miss []string
		for _, a := range PolkitActions {
			if !strings.Contains(text, a) {
				miss = append(miss, a)
			}
		}
		if len(miss) == 0 {
			return nil, f
		}
		if file == "" || len(miss) < len(best) {
			best, file = miss, f
		}
	}
	if file == "" {
		return PolkitActions, ""
	}
	return best, file
}

// userExists looks for u in /etc/passwd (under cfg.Root; system users made
// by systemd-sysusers live there).
func (d *doctor) userExists(u string) bool {
	f, err := os.Open(d.path("/etc/passwd"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, _, _ := strings.Cut(sc.Text(), ":"); name == u {
			return true
		}
	}
	return false
}
