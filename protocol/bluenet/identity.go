package bluenet

import (
	"fmt"
	"unicode/utf8"
)

// The Identity characteristic (Bluenet's addition, write) carries an
// 802.1X (WPA-Enterprise) login without its password; the same central's
// next Credentials write is the password, and starts the join with the SSID
// it wrote. Old apps never write it, so their joins stay WPA-Personal.
//
//	byte 0   EAP method: 1 PEAP, 2 TTLS
//	byte 1   inner method: 0 MSCHAPv2, 1 PAP (TTLS only)
//	byte 2   flags: bit 0 do not check the server's certificate (else the
//	         device's system CAs are used); other bits 0
//	then three strings, each a length byte and UTF-8 bytes: the identity
//	(1–253 bytes), the anonymous (outer) identity, and a domain the server
//	certificate's name must end in (both may be empty).
//
// The whole value is at most 512 bytes (a long write).

// EAPMethod is byte 0 of the Identity value.
type EAPMethod byte

// EAPMethod values.
const (
	EAPPEAP EAPMethod = 1
	EAPTTLS EAPMethod = 2
)

// Inner is byte 1 of the Identity value.
type Inner byte

// Inner values.
const (
	InnerMSCHAPv2 Inner = 0
	InnerPAP      Inner = 1
)

// Identity is a decoded Identity value.
type Identity struct {
	Method            EAPMethod
	Inner             Inner
	NoCACheck         bool
	Identity          string
	AnonymousIdentity string
	DomainSuffixMatch string
}

const identityNoCACheck = 0x01

// Encode returns the Identity value, or ErrMalformed when a field does not
// fit or is not what ParseIdentity accepts.
func (id Identity) Encode() ([]byte, error) {
	b := []byte{byte(id.Method), byte(id.Inner), 0}
	if id.NoCACheck {
		b[2] |= identityNoCACheck
	}
	for _, s := range []string{id.Identity, id.AnonymousIdentity, id.DomainSuffixMatch} {
		if len(s) > 253 {
			return nil, fmt.Errorf("%w: Identity field of %d bytes", ErrMalformed, len(s))
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	if _, err := ParseIdentity(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ParseIdentity decodes an Identity value. Anything else than the layout
// above — an unknown method, PAP with PEAP, unknown flags, a missing or
// empty identity, strings that are not UTF-8 or run past the end, trailing
// bytes, over 512 bytes — is ErrMalformed.
func ParseIdentity(b []byte) (Identity, error) {
	bad := func(what string) (Identity, error) {
		return Identity{}, fmt.Errorf("%w: Identity: %s", ErrMalformed, what)
	}
	if len(b) > 512 {
		return bad("over 512 bytes")
	}
	if len(b) < 3 {
		return bad("shorter than its 3 header bytes")
	}
	id := Identity{Method: EAPMethod(b[0]), Inner: Inner(b[1]), NoCACheck: b[2]&identityNoCACheck != 0}
	switch {
	case id.Method != EAPPEAP && id.Method != EAPTTLS:
		return bad(fmt.Sprintf("unknown EAP method %d", b[0]))
	case id.Inner != InnerMSCHAPv2 && id.Inner != InnerPAP:
		return bad(fmt.Sprintf("unknown inner method %d", b[1]))
	case id.Inner == InnerPAP && id.Method != EAPTTLS:
		return bad("inner PAP needs TTLS")
	case b[2]&^identityNoCACheck != 0:
		return bad(fmt.Sprintf("unknown flags 0x%02x", b[2]))
	}
	rest := b[3:]
	var fields [3]string
	for i := range fields {
		if len(rest) == 0 {
			return bad("a string is missing")
		}
		n := int(rest[0])
		if 1+n > len(rest) {
			return bad("a string runs past the end")
		}
		fields[i] = string(rest[1 : 1+n])
		if !utf8.ValidString(fields[i]) {
			return bad("a string is not UTF-8")
		}
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	if fields[0] == "" {
		return bad("empty identity")
	}
	id.Identity, id.AnonymousIdentity, id.DomainSuffixMatch = fields[0], fields[1], fields[2]
	return id, nil
}
