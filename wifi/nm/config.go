package nm

import (
	"log/slog"
	"time"

	"github.com/godbus/dbus/v5"
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
}

// Defaults.
const (
	DefaultInterface    = "wlan0"
	DefaultProfileName  = "bluenet"
	DefaultJoinTimeout  = 45 * time.Second
	DefaultScanInterval = 10 * time.Second
	DefaultCallTimeout  = 10 * time.Second
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
	return c
}
