package wifi

import "strconv"

// Auth is the strongest protection an access point offers, as a setup app
// shows it. It refines Security for display: Security says how Bluenet would
// join (WPA and WPA2 are both SecurityPSK, WEP is SecurityOther), Auth tells
// them apart.
type Auth uint8

// Auth values. An access point in WPA2/WPA3 transition mode is AuthWPA3 (the
// strongest it offers); any 802.1X network is AuthEnterprise.
const (
	AuthOpen       Auth = iota // no encryption
	AuthWEP                    // WEP (not joinable by Bluenet)
	AuthWPA                    // WPA (TKIP era) personal only
	AuthWPA2                   // WPA2-Personal (RSN with PSK)
	AuthWPA3                   // WPA3-Personal (SAE), alone or with WPA2
	AuthEnterprise             // WPA/WPA2/WPA3-Enterprise (802.1X)
	AuthOWE                    // Enhanced Open (OWE, not joinable by Bluenet)
)

var authNames = [...]string{AuthOpen: "open", AuthWEP: "wep", AuthWPA: "wpa", AuthWPA2: "wpa2", AuthWPA3: "wpa3",
	AuthEnterprise: "enterprise", AuthOWE: "owe"}

// String returns "open", "wep", "wpa", "wpa2", "wpa3", "enterprise" or
// "owe".
func (a Auth) String() string {
	if int(a) < len(authNames) {
		return authNames[a]
	}
	return "Auth(" + strconv.Itoa(int(a)) + ")"
}

// Band is a Wi-Fi frequency band.
type Band uint8

// Band values.
const (
	BandUnknown Band = iota
	Band2G4          // 2.4 GHz (2400–2500 MHz)
	Band5G           // 5 GHz (4900–5900 MHz)
	Band6G           // 6 GHz (5925–7125 MHz)
)

var bandNames = [...]string{BandUnknown: "unknown", Band2G4: "2.4GHz", Band5G: "5GHz", Band6G: "6GHz"}

// String returns "2.4GHz", "5GHz", "6GHz" or "unknown".
func (b Band) String() string {
	if int(b) < len(bandNames) {
		return bandNames[b]
	}
	return "unknown"
}

// BandOf returns the band of a channel's centre frequency in MHz.
func BandOf(mhz uint32) Band {
	switch {
	case mhz >= 2400 && mhz <= 2500:
		return Band2G4
	case mhz >= 4900 && mhz < 5925:
		return Band5G
	case mhz >= 5925 && mhz <= 7125:
		return Band6G
	}
	return BandUnknown
}

// Band returns the band the access point is on.
func (ap AccessPoint) Band() Band { return BandOf(ap.Frequency) }

// StrengthToDBm converts NetworkManager's signal quality (percent) back to
// dBm. NetworkManager derives Strength from the supplicant's dBm level as
// 100 - 100·(-40 - clamp(dBm, -100, -40))/60 (nm_wifi_utils_level_to_quality),
// so the inverse, dBm = -100 + 0.6·percent, is exact to about 1 dB inside
// -100…-40 dBm; anything stronger than -40 dBm reads as -40.
func StrengthToDBm(percent uint8) int16 {
	if percent > 100 {
		percent = 100
	}
	return int16(-100 + (int(percent)*6+5)/10)
}
