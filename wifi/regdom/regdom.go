// Package regdom reads and sets the Wi-Fi regulatory domain (the country
// whose rules the radios follow) through the kernel's nl80211 interface,
// with no subprocess. On a Raspberry Pi and many other devices, 5 GHz
// channels stay unusable until a country is set.
package regdom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bluenet-project/bluenet/wifi"
)

// World is the alpha2 of the kernel's world regulatory domain: no country
// set.
const World = "00"

// ErrInvalid is matched by errors for a malformed country code.
var ErrInvalid = errors.New("regdom: invalid country code")

// NormalizeCountry checks an ISO 3166-1 alpha-2 country code (two ASCII
// letters, any case) or World ("00"), and returns it in upper case.
func NormalizeCountry(code string) (string, error) {
	if code == World {
		return code, nil
	}
	up := strings.ToUpper(code)
	if len(up) != 2 || up[0] < 'A' || up[0] > 'Z' || up[1] < 'A' || up[1] > 'Z' {
		return "", fmt.Errorf("%w %q: want two letters such as DE or US (ISO 3166-1 alpha-2)", ErrInvalid, code)
	}
	return up, nil
}

// IsSet reports whether alpha2 names a country: not World and not one of
// the kernel's special values ("99": built from driver hints, "98":
// intersection of several).
func IsSet(alpha2 string) bool {
	return alpha2 != "" && alpha2 != World && alpha2 != "99" && alpha2 != "98"
}

// Status is what Check finds.
type Status struct {
	// Country is the global regulatory domain's alpha2, e.g. "DE" or "00".
	Country string
	// Bands are the bands the interface's radio supports.
	Bands []wifi.Band
}

// Supports reports whether the radio supports band b.
func (s Status) Supports(b wifi.Band) bool {
	for _, x := range s.Bands {
		if x == b {
			return true
		}
	}
	return false
}

// NeedsCountry reports whether the radio would gain channels from a
// country: it supports 5 or 6 GHz and no country is set.
func (s Status) NeedsCountry() bool {
	return !IsSet(s.Country) && (s.Supports(wifi.Band5G) || s.Supports(wifi.Band6G))
}

// Check reads the regulatory domain and the bands of iface's radio.
func Check(ctx context.Context, iface string) (Status, error) {
	c, err := Dial()
	if err != nil {
		return Status{}, err
	}
	defer c.Close()
	var st Status
	if st.Country, err = c.Country(ctx); err != nil {
		return st, err
	}
	st.Bands, err = c.Bands(ctx, iface)
	return st, err
}

// WarnIfUnset logs a warning on log when no country is set and iface's
// radio supports 5 GHz (or 6 GHz), and returns the status it found. Errors
// (no nl80211, no such interface) are logged at debug level only: a device
// without Wi-Fi hardware has nothing to warn about.
func WarnIfUnset(ctx context.Context, log *slog.Logger, iface string) (Status, error) {
	st, err := Check(ctx, iface)
	if err != nil {
		log.Debug("regulatory domain not checked", "iface", iface, "err", err)
		return st, err
	}
	if st.NeedsCountry() {
		log.Warn("no Wi-Fi country set: 5 GHz networks may stay invisible; set one with --country XX",
			"iface", iface, "regdom", st.Country)
	}
	return st, nil
}
