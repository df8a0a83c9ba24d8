package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	bluezName    = "org.bluez"
	ifaceAdapter = "org.bluez.Adapter1"
	ifaceAdvMgr  = "org.bluez.LEAdvertisingManager1"
)

// bluetooth checks bluetoothd, the adapter, rfkill and advertising slots.
func (d *doctor) bluetooth(ctx context.Context) {
	const (
		idD, nameD = "bluetoothd", "bluetoothd"
		idA, nameA = "adapter", "Bluetooth adapter"
		idR, nameR = "rfkill", "Bluetooth rfkill"
		idP, nameP = "powered", "adapter powered"
		idL, nameL = "advertising", "LE advertising"
	)
	up, err := d.nameOwned(ctx, bluezName)
	if err != nil || !up {
		detail := "not running (nobody owns org.bluez on the system bus)"
		if err != nil {
			detail = fmt.Sprintf("cannot tell: %v", err)
		}
		d.add(idD, nameD, Fail, detail, "sudo systemctl enable --now bluetooth   (not installed: sudo apt install bluez)")
		for _, c := range [][2]string{{idA, nameA}, {idR, nameR}, {idP, nameP}, {idL, nameL}} {
			d.skip(c[0], c[1], "bluetoothd is not running")
		}
		return
	}
	v, verr := d.cfg.BluetoothdVersion(ctx)
	switch {
	case verr != nil:
		d.add(idD, nameD, Pass, fmt.Sprintf("running (version unknown: %v)", verr), "")
	case versionLess(v, MinBlueZ):
		d.add(idD, nameD, Warn, fmt.Sprintf("running, version %s (Bluenet is tested with %s and newer)", v, MinBlueZ),
			"upgrade BlueZ: sudo apt install bluez")
	default:
		d.add(idD, nameD, Pass, "running, version "+v, "")
	}

	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := d.call(ctx, bluezName, "/", "org.freedesktop.DBus.ObjectManager.GetManagedObjects").Store(&objs); err != nil {
		d.add(idA, nameA, Fail, fmt.Sprintf("cannot list bluetoothd's objects: %v", err),
			"check that this user may talk to org.bluez (/etc/dbus-1/system.d/bluetooth.conf)")
		for _, c := range [][2]string{{idR, nameR}, {idP, nameP}, {idL, nameL}} {
			d.skip(c[0], c[1], "no adapter")
		}
		return
	}
	path, props, ok := findAdapter(objs, d.cfg.Adapter)
	if !ok {
		want := "no Bluetooth adapter"
		fix := "plug in or enable a Bluetooth LE adapter (see `btmgmt info`, `dmesg | grep -i bluetooth`)"
		if d.cfg.Adapter != "" {
			want = fmt.Sprintf("no adapter %s (adapters: %s)", d.cfg.Adapter, adapterNames(objs))
			fix = "set BLUENET_BLUETOOTH (or -b) to one of bluetoothd's adapters, or leave it empty for the first"
		}
		d.add(idA, nameA, Fail, want, fix)
		for _, c := range [][2]string{{idR, nameR}, {idP, nameP}, {idL, nameL}} {
			d.skip(c[0], c[1], "no adapter")
		}
		return
	}
	hci := filepath.Base(string(path))
	addr, _ := props["Address"].Value().(string)
	d.add(idA, nameA, Pass, fmt.Sprintf("%s (%s)", hci, addr), "")

	// rfkill: the kernel's switch for this controller, and BlueZ's view.
	soft, hard, found := d.rfkill(hci)
	state, _ := props["PowerState"].Value().(string) // BlueZ ≥ 5.64
	switch {
	case hard:
		d.add(idR, nameR, Fail, hci+" is hard-blocked (a hardware switch or the firmware)",
			"turn the radio's hardware switch on (or the BIOS/firmware setting); then: sudo rfkill unblock bluetooth")
	case soft || state == "off-blocked":
		d.add(idR, nameR, Fail, hci+" is soft-blocked by rfkill", "sudo rfkill unblock bluetooth")
	case found:
		d.add(idR, nameR, Pass, "not blocked", "")
	default:
		d.add(idR, nameR, Pass, "not blocked (no rfkill switch for "+hci+")", "")
	}

	powered, _ := props["Powered"].Value().(bool)
	switch {
	case powered:
		d.add(idP, nameP, Pass, "on", "")
	case soft || hard || state == "off-blocked":
		d.add(idP, nameP, Fail, "off (blocked by rfkill)", "sudo rfkill unblock bluetooth; then bluetoothctl power on")
	default:
		d.add(idP, nameP, Warn, "off; bluenet start powers it on", "bluetoothctl power on")
	}

	adv, ok := objs[path][ifaceAdvMgr]
	switch {
	case !ok:
		d.add(idL, nameL, Fail, hci+" offers no LE advertising (org.bluez.LEAdvertisingManager1)",
			"use a Bluetooth 4.0 (LE) adapter; on a powered-off adapter, power it on and check again")
	default:
		free, okFree := adv["SupportedInstances"].Value().(byte)
		active, okActive := adv["ActiveInstances"].Value().(byte)
		used := ""
		if okActive {
			used = fmt.Sprintf(", %d in use", active)
		}
		switch {
		case !okFree:
			d.add(idL, nameL, Pass, "supported (free slots unknown)", "")
		case free == 0:
			d.add(idL, nameL, Fail, "no advertising slot free"+used,
				"stop other advertisers on "+hci+" (bluetoothctl: advertise off; btmgmt clr-adv; other BLE services)")
		default:
			d.add(idL, nameL, Pass, fmt.Sprintf("%d slot(s) free%s", free, used), "")
		}
	}
}

// findAdapter returns the adapter named by want ("hciN", an address, or ""
// for the first by path).
func findAdapter(objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant, want string) (dbus.ObjectPath, map[string]dbus.Variant, bool) {
	var paths []string
	for p, ifaces := range objs {
		if _, ok := ifaces[ifaceAdapter]; ok {
			paths = append(paths, string(p))
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		props := objs[dbus.ObjectPath(p)][ifaceAdapter]
		addr, _ := props["Address"].Value().(string)
		if want == "" || want == filepath.Base(p) || strings.EqualFold(want, addr) {
			return dbus.ObjectPath(p), props, true
		}
	}
	return "", nil, false
}

func adapterNames(objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant) string {
	var names []string
	for p, ifaces := range objs {
		if _, ok := ifaces[ifaceAdapter]; ok {
			names = append(names, filepath.Base(string(p)))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// rfkill reads the kernel's rfkill switch of a controller from sysfs
// (/sys/class/bluetooth/hciN/rfkillM/{soft,hard}).
func (d *doctor) rfkill(hci string) (soft, hard, found bool) {
	dirs, _ := filepath.Glob(d.path(filepath.Join("/sys/class/bluetooth", hci, "rfkill*")))
	for _, dir := range dirs {
		s, err1 := os.ReadFile(filepath.Join(dir, "soft"))
		h, err2 := os.ReadFile(filepath.Join(dir, "hard"))
		if err1 != nil || err2 != nil {
			continue
		}
		found = true
		soft = soft || strings.TrimSpace(string(s)) == "1"
		hard = hard || strings.TrimSpace(string(h)) == "1"
	}
	return soft, hard, found
}
