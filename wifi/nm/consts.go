package nm

import (
	"fmt"

	"github.com/bluenet-project/bluenet/wifi"
)

// D-Bus names of NetworkManager, from
// https://networkmanager.dev/docs/api/latest/spec.html.
const (
	busName          = "org.freedesktop.NetworkManager"
	rootPath         = "/org/freedesktop/NetworkManager"
	settingsPath     = "/org/freedesktop/NetworkManager/Settings"
	ifaceNM          = "org.freedesktop.NetworkManager"
	ifaceDevice      = "org.freedesktop.NetworkManager.Device"
	ifaceWireless    = "org.freedesktop.NetworkManager.Device.Wireless"
	ifaceAP          = "org.freedesktop.NetworkManager.AccessPoint"
	ifaceSettings    = "org.freedesktop.NetworkManager.Settings"
	ifaceConnection  = "org.freedesktop.NetworkManager.Settings.Connection"
	ifaceActive      = "org.freedesktop.NetworkManager.Connection.Active"
	ifaceIP4Config   = "org.freedesktop.NetworkManager.IP4Config"
	ifaceProperties  = "org.freedesktop.DBus.Properties"
	ifaceDBus        = "org.freedesktop.DBus"
	errUnknownDevice = "org.freedesktop.NetworkManager.UnknownDevice"
)

// NMDeviceState.
const (
	devUnknown      uint32 = 0
	devUnmanaged    uint32 = 10
	devUnavailable  uint32 = 20
	devDisconnected uint32 = 30
	devPrepare      uint32 = 40
	devNeedAuth     uint32 = 60
	devIPConfig     uint32 = 70
	devActivated    uint32 = 100
	devDeactivating uint32 = 110
	devFailed       uint32 = 120
)

// NMActiveConnectionState.
const (
	acActivating   uint32 = 1
	acActivated    uint32 = 2
	acDeactivating uint32 = 3
	acDeactivated  uint32 = 4
)

// NMActiveConnectionStateReason values that matter here.
const (
	acReasonNoSecrets  uint32 = 10
	acReasonLoginFail  uint32 = 11
	acReasonIPConfig   uint32 = 6
	acReasonConnTimout uint32 = 7
)

// NM80211ApFlags and NM80211ApSecurityFlags bits.
const (
	apFlagPrivacy      uint32 = 0x1
	apSecKeyMgmtPSK    uint32 = 0x100
	apSecKeyMgmt8021X  uint32 = 0x200
	apSecKeyMgmtSAE    uint32 = 0x400
	apSecKeyMgmtOWE    uint32 = 0x800
	apSecKeyMgmtSuiteB uint32 = 0x2000
)

// NMSettingsUpdate2Flags.
const (
	update2ToDisk    uint32 = 0x1
	update2NoReapply uint32 = 0x40
)

// securityOf classifies an access point from its Flags, WpaFlags and
// RsnFlags properties. An access point in WPA2/WPA3 transition mode (PSK and
// SAE) is SecurityPSK.
func securityOf(flags, wpa, rsn uint32) wifi.Security {
	all := wpa | rsn
	switch {
	case all&apSecKeyMgmtPSK != 0:
		return wifi.SecurityPSK
	case all&apSecKeyMgmtSAE != 0:
		return wifi.SecuritySAE
	case all&(apSecKeyMgmt8021X|apSecKeyMgmtSuiteB) != 0:
		return wifi.SecurityEnterprise
	case all&apSecKeyMgmtOWE != 0, flags&apFlagPrivacy != 0:
		return wifi.SecurityOther // OWE, WEP
	}
	return wifi.SecurityOpen
}

// authOf classifies an access point for display from its Flags, WpaFlags
// and RsnFlags: the strongest protection it offers.
func authOf(flags, wpa, rsn uint32) wifi.Auth {
	all := wpa | rsn
	switch {
	case all&(apSecKeyMgmt8021X|apSecKeyMgmtSuiteB) != 0:
		return wifi.AuthEnterprise
	case all&apSecKeyMgmtSAE != 0:
		return wifi.AuthWPA3
	case rsn&apSecKeyMgmtPSK != 0:
		return wifi.AuthWPA2
	case wpa&apSecKeyMgmtPSK != 0:
		return wifi.AuthWPA
	case all&apSecKeyMgmtOWE != 0:
		return wifi.AuthOWE
	case flags&apFlagPrivacy != 0:
		return wifi.AuthWEP
	}
	return wifi.AuthOpen
}

// kindOf maps an NMDeviceState to a wifi.Kind.
func kindOf(devState uint32) wifi.Kind {
	switch {
	case devState <= devUnavailable:
		return wifi.Down
	case devState >= devPrepare && devState < devActivated:
		return wifi.Connecting
	case devState == devActivated:
		return wifi.Connected
	}
	return wifi.Disconnected // DISCONNECTED, DEACTIVATING, FAILED
}

// reasonOf maps the NMDeviceStateReason of a failed activation to a
// wifi.Reason. secured tells whether a secret was used: without one, the
// supplicant reasons cannot mean a wrong password.
func reasonOf(devReason uint32, secured bool) wifi.Reason {
	switch devReason {
	case 7, 8, 11: // NO_SECRETS, SUPPLICANT_DISCONNECT, SUPPLICANT_TIMEOUT
		if secured {
			return wifi.ReasonWrongPassword
		}
		if devReason == 11 {
			return wifi.ReasonTimeout
		}
	case 53: // SSID_NOT_FOUND
		return wifi.ReasonNotFound
	case 5, 6, 15, 16, 17: // IP_CONFIG_UNAVAILABLE, IP_CONFIG_EXPIRED, DHCP_START_FAILED, DHCP_ERROR, DHCP_FAILED
		return wifi.ReasonDHCPFailed
	case 3, 35, 36, 37, 42: // NOW_UNMANAGED, FIRMWARE_MISSING, REMOVED, SLEEPING, SUPPLICANT_AVAILABLE
		return wifi.ReasonUnavailable
	}
	return wifi.ReasonFailed
}

// reasonOfActive maps an NMActiveConnectionStateReason, used when the device
// gave no failure reason.
func reasonOfActive(acReason uint32, secured bool) wifi.Reason {
	switch acReason {
	case acReasonNoSecrets, acReasonLoginFail:
		if secured {
			return wifi.ReasonWrongPassword
		}
	case acReasonIPConfig:
		return wifi.ReasonDHCPFailed
	case acReasonConnTimout:
		return wifi.ReasonTimeout
	}
	return wifi.ReasonFailed
}

var devReasonNames = map[uint32]string{
	0: "none", 1: "unknown", 2: "now-managed", 3: "now-unmanaged", 4: "config-failed",
	5: "ip-config-unavailable", 6: "ip-config-expired", 7: "no-secrets", 8: "supplicant-disconnect",
	9: "supplicant-config-failed", 10: "supplicant-failed", 11: "supplicant-timeout",
	15: "dhcp-start-failed", 16: "dhcp-error", 17: "dhcp-failed", 35: "firmware-missing",
	36: "removed", 37: "sleeping", 38: "connection-removed", 39: "user-requested", 40: "carrier",
	42: "supplicant-available", 53: "ssid-not-found", 60: "new-activation",
}

func devReasonString(r uint32) string {
	if n, ok := devReasonNames[r]; ok {
		return fmt.Sprintf("%d (%s)", r, n)
	}
	return fmt.Sprint(r)
}
