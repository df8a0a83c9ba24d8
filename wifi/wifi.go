package wifi

import (
	"bytes"
	"context"
	"net/netip"
	"strconv"
)

// Backend scans and joins Wi-Fi networks on one network interface.
//
// All methods are safe for concurrent use. Streams returned by the Watch
// methods are coalescing: a slow reader never blocks the backend and may miss
// intermediate values, but always receives the latest one.
type Backend interface {
	// State returns the current link state of the interface.
	State() State
	// WatchState returns a channel that receives the current state at once
	// and then every change (consecutive equal states are not repeated). The
	// channel is closed when ctx is done or the backend is closed.
	WatchState(ctx context.Context) <-chan State

	// AccessPoints returns the access points currently visible on the
	// interface, strongest first. The slice is a copy.
	AccessPoints() []AccessPoint
	// WatchAccessPoints returns a channel that receives the current list at
	// once and then a new list (strongest first) whenever an access point
	// appears, disappears or changes. The channel is closed when ctx is done
	// or the backend is closed.
	WatchAccessPoints(ctx context.Context) <-chan []AccessPoint
	// RequestScan asks for a fresh scan. Results arrive through
	// WatchAccessPoints. Requests are rate-limited by the backend; a request
	// that falls inside the limit is absorbed and returns nil.
	RequestScan(ctx context.Context) error

	// Join connects the interface to the network ssid with cred (a
	// passphrase, nothing for an open network, or an enterprise login),
	// without losing the working network when the join fails. The error, if
	// any, matches one of the sentinel errors of this package with errors.Is
	// and can be inspected with errors.As(err, *JoinError).
	Join(ctx context.Context, ssid []byte, cred Credentials) error

	// Close stops the backend's watchers and closes all Watch channels. It
	// does not change the network configuration.
	Close() error
}

// Security is the kind of protection an access point advertises.
type Security uint8

// Security values.
const (
	SecurityOpen       Security = iota // no encryption
	SecurityPSK                        // WPA/WPA2-Personal (pre-shared key)
	SecuritySAE                        // WPA3-Personal (SAE) only
	SecurityEnterprise                 // WPA/WPA2/WPA3-Enterprise (802.1X)
	SecurityOther                      // WEP, OWE or anything Bluenet cannot join
)

// String returns a short name: "open", "wpa-psk", "sae", "enterprise", "other".
func (s Security) String() string {
	switch s {
	case SecurityOpen:
		return "open"
	case SecurityPSK:
		return "wpa-psk"
	case SecuritySAE:
		return "sae"
	case SecurityEnterprise:
		return "enterprise"
	case SecurityOther:
		return "other"
	}
	return "Security(" + strconv.Itoa(int(s)) + ")"
}

// AccessPoint is one access point (BSS) seen in a scan.
type AccessPoint struct {
	// SSID is the network name as raw bytes (any bytes are legal). Empty for
	// an access point that hides its SSID.
	SSID []byte
	// BSSID is the access point's MAC address, e.g. "02:00:00:00:01:00".
	BSSID string
	// Strength is the signal quality in percent (0–100).
	Strength uint8
	// Frequency is the channel's centre frequency in MHz.
	Frequency uint32
	// Security is what the access point advertises, as far as joining is
	// concerned (see Auth for what to show a user).
	Security Security
	// Auth is the strongest protection the access point offers, for display
	// (open, WEP, WPA, WPA2, WPA3, enterprise, OWE).
	Auth Auth
	// RSSI is the signal level in dBm (negative; 0 when unknown). Backends
	// that only know a percentage derive it with [StrengthToDBm].
	RSSI int16
}

// Kind is the coarse link state of an interface.
type Kind uint8

// Kind values. Wire formats map them to their own bytes.
const (
	Down         Kind = iota // no usable device: missing, unmanaged, unavailable, radio off, or backend gone
	Disconnected             // ready but not connected
	Connecting               // joining a network (association, authentication, DHCP)
	Connected                // joined, with IP configuration done
)

var kindNames = [...]string{Down: "down", Disconnected: "disconnected", Connecting: "connecting", Connected: "connected"}

// String returns "down", "disconnected", "connecting" or "connected".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// State is the link state of one interface.
type State struct {
	// Kind is the coarse state.
	Kind Kind
	// SSID is the network in use while Connecting or Connected, else nil.
	SSID []byte
	// IPv4 is the interface's first IPv4 address while Connected; the zero
	// Addr when there is none.
	IPv4 netip.Addr
}

// Equal reports whether s and o are the same state.
func (s State) Equal(o State) bool {
	return s.Kind == o.Kind && bytes.Equal(s.SSID, o.SSID) && s.IPv4 == o.IPv4
}

// String formats the state for logs, e.g. `connected "home" 192.168.1.5`.
func (s State) String() string {
	out := s.Kind.String()
	if len(s.SSID) > 0 {
		out += " " + strconv.Quote(string(s.SSID))
	}
	if s.IPv4.IsValid() {
		out += " " + s.IPv4.String()
	}
	return out
}

// Clone returns a copy of s that shares no memory with it.
func (s State) Clone() State {
	s.SSID = bytes.Clone(s.SSID)
	return s
}

// CloneAccessPoints returns a deep copy of aps (nil stays nil).
func CloneAccessPoints(aps []AccessPoint) []AccessPoint {
	if aps == nil {
		return nil
	}
	out := make([]AccessPoint, len(aps))
	for i, ap := range aps {
		ap.SSID = bytes.Clone(ap.SSID)
		out[i] = ap
	}
	return out
}
