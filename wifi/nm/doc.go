// Package nm is the NetworkManager backend of package wifi: a small client of
// NetworkManager's D-Bus API (org.freedesktop.NetworkManager, .Device,
// .Device.Wireless, .AccessPoint, .Settings, .Settings.Connection,
// .Connection.Active, .IP4Config; see
// https://networkmanager.dev/docs/api/latest/spec.html), written on godbus and
// covering only what Bluenet needs.
//
// # Join
//
// [Client.Join] never loses the working network. It validates its input
// before touching NetworkManager, then adds the new network as an in-memory
// profile with a temporary name (ProfileName + "-pending") and activates it
// with AddAndActivateConnection2. Only when NetworkManager reports the active
// connection ACTIVATED does it delete the old profiles named ProfileName,
// rename the new one to ProfileName and write it to disk with autoconnect
// enabled, so exactly one such profile remains. If the activation fails or
// times out (Config.JoinTimeout), it deletes the new profile and re-activates
// the connection that was active before, and returns a *wifi.JoinError
// whose Reason says why. NetworkManager without a secret agent reports a wrong
// passphrase as device reason NO_SECRETS (7) after SUPPLICANT_DISCONNECT (8);
// both map to wifi.ErrWrongPassword. The NEED_AUTH state alone is not a
// failure. NetworkManager reports the same reasons when the access point
// drops the link right after a successful key exchange (seen with a slow
// access point that missed the last handshake frame): the device had then
// reached IP_CONFIG, so the secret was right; the join activates the new
// profile once more and, if that fails too, reports wifi.ErrFailed, never
// a wrong password.
//
// A join cut short (the daemon killed, NetworkManager restarted, which keeps
// in-memory profiles in /run) can leave the pending profile behind. Each time
// the Client finds the device (at New, after NetworkManager restarted, when
// the device comes back) it reconciles: a pending profile that is the device's connected active
// connection is saved as ProfileName (renamed, autoconnect on, written to
// disk, the older ones deleted), as a finished join would have done; any
// other pending profile is deleted; of several ProfileName profiles the
// active (else the most recently used) one is kept; and if the device is then
// on no network, the ProfileName profile is activated. An activation under
// way is awaited (at most JoinTimeout) first. A Join waits for the
// reconciliation.
//
// Only one join runs at a time: a second Join while one runs returns at once
// with wifi.ErrBusy and changes nothing (it does not supersede the first).
//
// The secret is passed only to NetworkManager (in the profile's
// 802-11-wireless-security.psk) and never appears in logs or errors.
//
// # State
//
// The state is derived from the device's own State, ActiveConnection and
// Ip4Config properties (not from NetworkManager's global state) and from the
// radio switch (WirelessEnabled). They are read once, when NetworkManager or
// the device appears, and then taken from what NetworkManager's signals carry
// (Device.StateChanged, PropertiesChanged of the device, the manager and the
// IPv4 configuration); only a new object is read: the active connection's
// profile (for the SSID) and a new IPv4 configuration's address, once each. A
// signal received before the reply of a read is older than what was read and
// is ignored (godbus's sequence numbers). There is no polling. When
// NetworkManager leaves
// the bus the state becomes wifi.Down and the access point list empties; when
// it comes back, the device is looked up again and the state resumes.
//
// # Signals
//
// The Client registers match rules and a signal channel on the caller's
// connection. godbus's default signal handler delivers signals in order as
// long as the channel (1024 entries) does not fill; for strict ordering under
// load, create the connection with
// dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()).
package nm
