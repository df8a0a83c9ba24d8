package nm

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/wifi"
)

// Config configures a Client. The zero value of every field except Conn is
// useful.
type Config struct {
	// Conn is the system bus connection to use. Required. The Client adds
	// match rules and a signal channel to it, and removes them on Close; it
	// never closes Conn.
	Conn *dbus.Conn
	// Logger receives debug and info logs. Nil discards them.
	Logger *slog.Logger
	// Interface is the Wi-Fi interface to manage. Default "wlan0".
	Interface string
	// ProfileName is the name (connection.id) of the NetworkManager profile
	// Bluenet owns. Default "bluenet".
	ProfileName string
	// JoinTimeout bounds a join from the activation request to ACTIVATED.
	// Default 45 s (NetworkManager itself gives up on a missing SSID after
	// about 26 s).
	JoinTimeout time.Duration
	// ScanInterval is the minimum time between two scan requests sent to
	// NetworkManager; RequestScan calls inside it are absorbed. Default 10 s.
	ScanInterval time.Duration
	// CallTimeout bounds each D-Bus method call. Default 10 s.
	CallTimeout time.Duration
	// Remember is how many earlier networks a successful join keeps as
	// saved profiles (named ProfileName+"-saved-"+SSID, autoconnect with a
	// priority below the current profile's, newest highest), so that the
	// device returns to a known network by itself. 0 means
	// DefaultRemember; a negative value keeps none.
	Remember int
	// Begin, when not nil, holds Start's first read of NetworkManager back
	// until it is closed (or the Client is closed). A daemon closes it once
	// its Bluetooth service is advertised, so that the reads (device, access
	// points, profiles) do not compete with the GATT registration for the
	// bus and a small board's CPU. New ignores it.
	Begin <-chan struct{}
}

// Defaults.
const (
	DefaultInterface    = "wlan0"
	DefaultProfileName  = "bluenet"
	DefaultJoinTimeout  = 45 * time.Second
	DefaultScanInterval = 10 * time.Second
	DefaultCallTimeout  = 10 * time.Second
	DefaultRemember     = 5
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.ProfileName == "" {
		c.ProfileName = DefaultProfileName
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = DefaultScanInterval
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	switch {
	case c.Remember == 0:
		c.Remember = DefaultRemember
	case c.Remember < 0:
		c.Remember = 0
	}
	return c
}

// chooseSecurity picks the security to configure for cred given what the
// access points with the SSID advertise (see wifi.ChooseSecurity). An
// enterprise login needs an access point offering 802.1X, or none seen (a
// hidden network).
func chooseSecurity(seen []wifi.Security, cred wifi.Credentials) (wifi.Security, bool, error) {
	if cred.EAP == nil {
		return wifi.ChooseSecurity(seen, cred.Secret)
	}
	if len(seen) == 0 {
		return wifi.SecurityEnterprise, true, nil
	}
	if slices.Contains(seen, wifi.SecurityEnterprise) {
		return wifi.SecurityEnterprise, false, nil
	}
	return 0, false, fmt.Errorf("%w: the network is not an enterprise (802.1X) network; give its passphrase instead", wifi.ErrInvalid)
}

// addSecurity adds the 802-11-wireless-security (and for an enterprise
// login the 802-1x) settings for sec to s. An open network gets neither.
func addSecurity(s settingsMap, sec wifi.Security, cred wifi.Credentials) {
	switch sec {
	case wifi.SecurityPSK, wifi.SecuritySAE:
		km := "wpa-psk"
		if sec == wifi.SecuritySAE {
			km = "sae"
		}
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant(km),
			"psk":      dbus.MakeVariant(cred.Secret),
		}
	case wifi.SecurityEnterprise:
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant("wpa-eap"),
		}
		if cred.EAP != nil {
			s["802-1x"] = eapSettings(cred.EAP)
		}
	}
}

// eapAuthTimeout is the 802-1x.auth-timeout of enterprise profiles.
const eapAuthTimeout = 60 * time.Second

// eapSettings returns NetworkManager's 802-1x setting for e. The CA file is
// referenced by path (NetworkManager's "file://" scheme, NUL-terminated), so
// it must stay where it is; the system's CAs are NetworkManager's
// system-ca-certs (the directory chosen when it was built, /etc/ssl/certs on
// Debian).
func eapSettings(e *wifi.EAP) map[string]dbus.Variant {
	m := map[string]dbus.Variant{
		"eap":         dbus.MakeVariant([]string{e.Method.String()}),
		"identity":    dbus.MakeVariant(e.Identity),
		"password":    dbus.MakeVariant(e.Password),
		"phase2-auth": dbus.MakeVariant(e.Phase2.String()),
		// NetworkManager's own limit from handing the network to
		// wpa_supplicant to the end of the key exchange (default 25 s)
		// includes the scan, which a busy radio can stretch past it, and it
		// then reports NO_SECRETS as for a wrong password. A wrong
		// password is seen at once from wpa_supplicant's EAP signal
		// instead (see watchEAP), so the limit can be generous.
		"auth-timeout": dbus.MakeVariant(int32(eapAuthTimeout / time.Second)),
	}
	if e.AnonymousIdentity != "" {
		m["anonymous-identity"] = dbus.MakeVariant(e.AnonymousIdentity)
	}
	if e.DomainSuffixMatch != "" {
		m["domain-suffix-match"] = dbus.MakeVariant(e.DomainSuffixMatch)
	}
	switch {
	case e.NoCACheck:
	case e.CACert != "":
		m["ca-cert"] = dbus.MakeVariant(append([]byte("file://"+e.CACert), 0))
	default:
		m["system-ca-certs"] = dbus.MakeVariant(true)
	}
	return m
}
