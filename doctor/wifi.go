package doctor

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

const (
	nmName      = "org.freedesktop.NetworkManager"
	nmPath      = dbus.ObjectPath("/org/freedesktop/NetworkManager")
	ifaceNM     = "org.freedesktop.NetworkManager"
	ifaceDevice = "org.freedesktop.NetworkManager.Device"

	nmDeviceTypeWiFi    = 2
	nmDeviceUnmanaged   = 10
	nmDeviceUnavailable = 20
)

// networkManager checks NetworkManager, the Wi-Fi device and the radio.
func (d *doctor) networkManager(ctx context.Context) {
	const (
		idN, nameN = "networkmanager", "NetworkManager"
		idW, nameW = "wifi-device", "Wi-Fi device"
		idR, nameR = "wifi-radio", "Wi-Fi radio"
	)
	iface := d.cfg.Interface
	up, err := d.nameOwned(ctx, nmName)
	if err != nil || !up {
		detail := "not running (nobody owns org.freedesktop.NetworkManager on the system bus)"
		if err != nil {
			detail = fmt.Sprintf("cannot tell: %v", err)
		}
		d.add(idN, nameN, Fail, detail,
			"sudo systemctl enable --now NetworkManager   (not installed: sudo apt install network-manager)")
		d.skip(idW, nameW, "NetworkManager is not running")
		d.skip(idR, nameR, "NetworkManager is not running")
		return
	}
	v, verr := d.getProp(ctx, nmName, nmPath, ifaceNM, "Version")
	version, _ := v.Value().(string)
	switch {
	case verr != nil || version == "":
		d.add(idN, nameN, Pass, "running (version unknown)", "")
	case versionLess(version, MinNetworkManager):
		d.add(idN, nameN, Warn, fmt.Sprintf("running, version %s (Bluenet is tested with %s and newer)", version, MinNetworkManager),
			"upgrade NetworkManager: sudo apt install network-manager")
	default:
		d.add(idN, nameN, Pass, "running, version "+version, "")
	}

	var dev dbus.ObjectPath
	if err := d.call(ctx, nmName, nmPath, ifaceNM+".GetDeviceByIpIface", iface).Store(&dev); err != nil {
		d.add(idW, nameW, Fail, fmt.Sprintf("NetworkManager has no device %s", iface),
			"check `nmcli device`; set BLUENET_WLAN (or -w) to the Wi-Fi interface")
	} else {
		typ, _ := d.getProp(ctx, nmName, dev, ifaceDevice, "DeviceType")
		managed, _ := d.getProp(ctx, nmName, dev, ifaceDevice, "Managed")
		state, _ := d.getProp(ctx, nmName, dev, ifaceDevice, "State")
		t, _ := typ.Value().(uint32)
		m, mok := managed.Value().(bool)
		s, _ := state.Value().(uint32)
		switch {
		case t != nmDeviceTypeWiFi:
			d.add(idW, nameW, Fail, fmt.Sprintf("%s is not a Wi-Fi device (NetworkManager type %d)", iface, t),
				"set BLUENET_WLAN (or -w) to the Wi-Fi interface (see `nmcli device`)")
		case (mok && !m) || s == nmDeviceUnmanaged:
			d.add(idW, nameW, Fail, iface+" is not managed by NetworkManager",
				"sudo nmcli device set "+iface+" managed yes; remove "+iface+" from /etc/network/interfaces and NetworkManager's unmanaged-devices")
		case s == nmDeviceUnavailable:
			d.add(idW, nameW, Warn, iface+" is managed but unavailable (radio off or no supplicant)",
				"check the radio below and `nmcli device show "+iface+"`")
		default:
			d.add(idW, nameW, Pass, iface+", managed", "")
		}
	}

	en, err := d.getProp(ctx, nmName, nmPath, ifaceNM, "WirelessEnabled")
	hw, herr := d.getProp(ctx, nmName, nmPath, ifaceNM, "WirelessHardwareEnabled")
	on, _ := en.Value().(bool)
	hwOn, hok := hw.Value().(bool)
	switch {
	case err != nil:
		d.add(idR, nameR, Fail, fmt.Sprintf("cannot read WirelessEnabled: %v", err), "check `nmcli radio`")
	case herr == nil && hok && !hwOn:
		d.add(idR, nameR, Fail, "off: blocked by a hardware switch or rfkill",
			"sudo rfkill unblock wifi (or turn the hardware switch on)")
	case !on:
		d.add(idR, nameR, Fail, "off", "sudo nmcli radio wifi on")
	default:
		d.add(idR, nameR, Pass, "on", "")
	}
}

// country checks that a regulatory country is set: without one, the radio
// stays on the channels allowed everywhere (no 5 GHz on many drivers, such
// as the Raspberry Pi's).
func (d *doctor) country(ctx context.Context) {
	const id, name = "country", "regulatory country"
	fix := "set the country: on Raspberry Pi OS sudo raspi-config nonint do_wifi_country XX; elsewhere cfg80211.ieee80211_regdom=XX on the kernel command line, or sudo iw reg set XX"
	c, err := d.cfg.Country(ctx)
	switch {
	case err != nil:
		d.add(id, name, Warn, fmt.Sprintf("cannot read it: %v", err), fix)
	case c == "" || c == "00":
		d.add(id, name, Warn, "not set (world domain 00: 5 GHz and some 2.4 GHz channels may be off)", fix)
	default:
		d.add(id, name, Pass, c, "")
	}
}
