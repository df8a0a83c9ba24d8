package wifi

import (
	"fmt"
)

// Limits from IEEE 802.11 (SSID) and IEEE 802.11i (WPA passphrase).
const (
	MaxSSIDLen       = 32 // bytes
	MinPassphraseLen = 8  // characters
	MaxPassphraseLen = 63 // characters; 64 means a raw PSK in hex
	RawPSKLen        = 64 // hexadecimal digits
)

// ValidateSSID checks that ssid is 1 to 32 bytes long. Any byte values are
// legal. The error matches ErrInvalid.
func ValidateSSID(ssid []byte) error {
	if len(ssid) == 0 {
		return fmt.Errorf("%w: empty SSID", ErrInvalid)
	}
	if len(ssid) > MaxSSIDLen {
		return fmt.Errorf("%w: SSID is %d bytes, at most %d allowed", ErrInvalid, len(ssid), MaxSSIDLen)
	}
	return nil
}

// ValidateSecret checks a Wi-Fi secret: empty (an open network), a WPA
// passphrase of 8 to 63 printable ASCII characters, or a raw PSK of exactly
// 64 hexadecimal digits. The error matches ErrInvalid and never contains the
// secret itself.
func ValidateSecret(secret string) error {
	n := len(secret)
	switch {
	case n == 0:
		return nil
	case n == RawPSKLen:
		if !IsRawPSK(secret) {
			return fmt.Errorf("%w: a 64-character secret must be hexadecimal (a raw PSK)", ErrInvalid)
		}
		return nil
	case n < MinPassphraseLen || n > MaxPassphraseLen:
		return fmt.Errorf("%w: passphrase is %d characters, must be %d to %d (or %d hex digits)",
			ErrInvalid, n, MinPassphraseLen, MaxPassphraseLen, RawPSKLen)
	}
	for i := 0; i < n; i++ {
		if c := secret[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: passphrase has a non-printable or non-ASCII byte at offset %d", ErrInvalid, i)
		}
	}
	return nil
}

// IsRawPSK reports whether secret is a raw pre-shared key: exactly 64
// hexadecimal digits.
func IsRawPSK(secret string) bool {
	if len(secret) != RawPSKLen {
		return false
	}
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ChooseSecurity picks how to join a network given the security advertised
// by each access point seen with its SSID (seen) and the secret offered
// (already checked with ValidateSecret). It returns the security to
// configure and whether the network must be treated as hidden (not seen).
//
// Rules:
//   - not seen: hidden; open when secret is empty, else WPA-PSK (the only
//     choice that cannot be checked against the air; WPA3-only hidden networks
//     are not supported);
//   - a secret is given: WPA-PSK if any access point offers PSK (this includes
//     WPA2/WPA3 transition mode, the most compatible choice), else SAE if any
//     offers SAE (a raw 64-hex PSK cannot be used with SAE), else an error;
//   - no secret: open if any access point is open, else an error;
//   - enterprise-only or other networks: an error (an enterprise login is
//     chosen by the backend from Credentials.EAP, not here).
//
// Errors match ErrInvalid.
func ChooseSecurity(seen []Security, secret string) (sec Security, hidden bool, err error) {
	if len(seen) == 0 {
		if secret == "" {
			return SecurityOpen, true, nil
		}
		return SecurityPSK, true, nil
	}
	var has [SecurityOther + 1]bool
	for _, s := range seen {
		if s > SecurityOther {
			s = SecurityOther
		}
		has[s] = true
	}
	switch {
	case secret == "" && has[SecurityOpen]:
		return SecurityOpen, false, nil
	case secret == "" && (has[SecurityPSK] || has[SecuritySAE]):
		return 0, false, fmt.Errorf("%w: the network needs a password", ErrInvalid)
	case secret != "" && has[SecurityPSK]:
		return SecurityPSK, false, nil
	case secret != "" && has[SecuritySAE]:
		if IsRawPSK(secret) {
			return 0, false, fmt.Errorf("%w: WPA3 (SAE) network needs a passphrase, not a 64-digit raw key", ErrInvalid)
		}
		return SecuritySAE, false, nil
	case secret != "" && has[SecurityOpen]:
		return 0, false, fmt.Errorf("%w: the network is open; give an empty password", ErrInvalid)
	case has[SecurityEnterprise]:
		return 0, false, fmt.Errorf("%w: the network is enterprise (802.1X): give an EAP login, not a passphrase", ErrInvalid)
	}
	return 0, false, fmt.Errorf("%w: the network's security (WEP, OWE or unknown) is not supported", ErrInvalid)
}
