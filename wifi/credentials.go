package wifi

import (
	"fmt"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// Credentials is what [Backend.Join] needs to join a network: a passphrase
// (WPA/WPA2/WPA3-Personal), nothing (an open network), or an 802.1X
// enterprise login. Set at most one of Secret and EAP. The zero value joins
// an open network.
type Credentials struct {
	// Secret is the WPA passphrase or raw PSK; empty for an open network or
	// when EAP is set.
	Secret string
	// EAP, when not nil, joins a WPA/WPA2/WPA3-Enterprise network with this
	// login instead of a passphrase.
	EAP *EAP
}

// Passphrase returns Credentials for an open (secret "") or a personal
// network.
func Passphrase(secret string) Credentials { return Credentials{Secret: secret} }

// IsEnterprise reports whether c is an 802.1X login.
func (c Credentials) IsEnterprise() bool { return c.EAP != nil }

// Validate checks c: Secret with [ValidateSecret], or EAP with
// [EAP.Validate]. The error matches ErrInvalid and never contains a secret.
func (c Credentials) Validate() error {
	if c.EAP != nil {
		if c.Secret != "" {
			return fmt.Errorf("%w: give a passphrase or an enterprise login, not both", ErrInvalid)
		}
		return c.EAP.Validate()
	}
	return ValidateSecret(c.Secret)
}

// password returns the secret that must never appear in logs or errors.
func (c Credentials) password() string {
	if c.EAP != nil {
		return c.EAP.Password
	}
	return c.Secret
}

// Secrets returns the secret strings in c (passphrase or EAP password) that
// must never appear in a log line or an error, for callers that scrub text.
func (c Credentials) Secrets() []string {
	if p := c.password(); p != "" {
		return []string{p}
	}
	return nil
}

// EAPMethod is the outer (tunnel) EAP method of an enterprise login.
type EAPMethod uint8

// EAP methods Bluenet supports: both carry a user name and password inside
// a TLS tunnel to the authentication server.
const (
	EAPPEAP EAPMethod = iota + 1 // PEAP (Microsoft's "protected EAP"), inner MSCHAPv2
	EAPTTLS                      // EAP-TTLS, inner MSCHAPv2 or PAP
)

// String returns "peap" or "ttls" (NetworkManager's 802-1x.eap names).
func (m EAPMethod) String() string {
	switch m {
	case EAPPEAP:
		return "peap"
	case EAPTTLS:
		return "ttls"
	}
	return "EAPMethod(" + strconv.Itoa(int(m)) + ")"
}

// ParseEAPMethod parses "peap" or "ttls" (any case). The error matches
// ErrInvalid.
func ParseEAPMethod(s string) (EAPMethod, error) {
	switch s {
	case "peap", "PEAP":
		return EAPPEAP, nil
	case "ttls", "TTLS":
		return EAPTTLS, nil
	}
	return 0, fmt.Errorf("%w: EAP method %q: want peap or ttls", ErrInvalid, s)
}

// Phase2 is the inner authentication inside the EAP tunnel.
type Phase2 uint8

// Inner methods. The zero value means MSCHAPv2, the one every PEAP server
// and most TTLS servers accept.
const (
	Phase2MSCHAPv2 Phase2 = iota // MSCHAPv2 (PEAP and TTLS)
	Phase2PAP                    // PAP, clear text inside the tunnel (TTLS only)
)

// String returns "mschapv2" or "pap" (NetworkManager's 802-1x.phase2-auth
// names).
func (p Phase2) String() string {
	switch p {
	case Phase2MSCHAPv2:
		return "mschapv2"
	case Phase2PAP:
		return "pap"
	}
	return "Phase2(" + strconv.Itoa(int(p)) + ")"
}

// ParsePhase2 parses "mschapv2" or "pap" (any case). The error matches
// ErrInvalid.
func ParsePhase2(s string) (Phase2, error) {
	switch s {
	case "mschapv2", "MSCHAPV2", "MSCHAPv2":
		return Phase2MSCHAPv2, nil
	case "pap", "PAP":
		return Phase2PAP, nil
	}
	return 0, fmt.Errorf("%w: inner method %q: want mschapv2 or pap", ErrInvalid, s)
}

// Limits of an enterprise login. Identities are NAIs (RFC 7542: at most 253
// octets); the password limit is generous but keeps a BLE write bounded.
const (
	MaxIdentityLen    = 253 // bytes
	MaxEAPPasswordLen = 256 // bytes
)

// EAP is a WPA-Enterprise (802.1X) login with a user name and password.
//
// The server's certificate is checked against, in order of preference:
// CACert (a PEM file), else the system's CA store (SystemCAs mode, the
// default). NoCACheck turns the check off: the password is then sent to
// whatever server answers, so backends log a warning each time it is used.
type EAP struct {
	// Method is the outer method: EAPPEAP or EAPTTLS. Required.
	Method EAPMethod
	// Phase2 is the inner method; Phase2PAP needs EAPTTLS.
	Phase2 Phase2
	// Identity is the user name, e.g. "alice" or "alice@example.org".
	// Required.
	Identity string
	// AnonymousIdentity is sent in clear before the tunnel is up (outer
	// identity), e.g. "anonymous@example.org". Empty: the Identity is sent.
	AnonymousIdentity string
	// Password is the user's password. Required. Never logged.
	Password string
	// CACert is the absolute path of a PEM file with the CA certificate(s)
	// the server's certificate must chain to. Empty: the system's CAs.
	CACert string
	// DomainSuffixMatch, when set, requires the server certificate's name to
	// end in this domain (NetworkManager's 802-1x.domain-suffix-match).
	// Recommended with the system's CAs, which trust every public CA.
	DomainSuffixMatch string
	// NoCACheck accepts any server certificate. Excludes CACert.
	NoCACheck bool
}

// Validate checks e. The error matches ErrInvalid and never contains the
// password.
func (e *EAP) Validate() error {
	switch e.Method {
	case EAPPEAP, EAPTTLS:
	default:
		return fmt.Errorf("%w: EAP method missing or unknown (want PEAP or TTLS)", ErrInvalid)
	}
	switch {
	case e.Phase2 > Phase2PAP:
		return fmt.Errorf("%w: unknown inner method %v", ErrInvalid, e.Phase2)
	case e.Phase2 == Phase2PAP && e.Method != EAPTTLS:
		return fmt.Errorf("%w: inner PAP needs TTLS", ErrInvalid)
	}
	if err := checkText("identity", e.Identity, MaxIdentityLen, true); err != nil {
		return err
	}
	if err := checkText("anonymous identity", e.AnonymousIdentity, MaxIdentityLen, false); err != nil {
		return err
	}
	if err := checkText("domain", e.DomainSuffixMatch, MaxIdentityLen, false); err != nil {
		return err
	}
	switch n := len(e.Password); {
	case n == 0:
		return fmt.Errorf("%w: empty enterprise password", ErrInvalid)
	case n > MaxEAPPasswordLen:
		return fmt.Errorf("%w: enterprise password is %d bytes, at most %d allowed", ErrInvalid, n, MaxEAPPasswordLen)
	case !utf8.ValidString(e.Password):
		return fmt.Errorf("%w: enterprise password is not valid UTF-8", ErrInvalid)
	}
	for i := 0; i < len(e.Password); i++ {
		if e.Password[i] < 0x20 || e.Password[i] == 0x7f {
			return fmt.Errorf("%w: enterprise password has a control character at offset %d", ErrInvalid, i)
		}
	}
	switch {
	case e.NoCACheck && e.CACert != "":
		return fmt.Errorf("%w: give a CA certificate or turn the CA check off, not both", ErrInvalid)
	case e.CACert != "" && !filepath.IsAbs(e.CACert):
		return fmt.Errorf("%w: CA certificate path %q is not absolute", ErrInvalid, e.CACert)
	}
	return nil
}

// CAMode names how the server certificate is checked: "file", "system" or
// "none".
func (e *EAP) CAMode() string {
	switch {
	case e.NoCACheck:
		return "none"
	case e.CACert != "":
		return "file"
	}
	return "system"
}

// checkText checks a printable UTF-8 string of at most max bytes.
func checkText(what, s string, max int, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrInvalid, what, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s has a control character", ErrInvalid, what)
		}
	}
	return nil
}
