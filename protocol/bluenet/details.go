package bluenet

import (
	"fmt"
	"strconv"
)

// Network Details: each network a device sees, with its signal, security and
// band, for a setup app's list. This file is the wire format only; the
// characteristic itself (read, notify) is the daemon's.
//
// One network is an entry of 2 to 34 bytes:
//
//	byte 0  info:  bits 0-3 security (SecurityOpen ... SecurityOWE),
//	               bits 4-5 band (0 unknown, 1 2.4 GHz, 2 5 GHz, 3 6 GHz),
//	               bit 6 current (the device is connected to this network),
//	               bit 7 reserved (0; receivers ignore it)
//	byte 1  RSSI:  signal in dBm, signed (e.g. 0xC4 = -60); 0 = unknown
//	byte 2… SSID:  0 to 32 raw bytes (0: a hidden network)
//
// A read returns the whole list, strongest first, each entry preceded by its
// length in one byte (2 + SSID length), as many whole entries as fit in 512
// bytes (a long read at MTU 23 fetches it in pieces).
//
// Notifications send the list in rounds, one entry per notification behind
// a one-byte header, split over two notifications when it does not fit the
// payload (ATT MTU − 3 bytes; 20 at the default MTU 23):
//
//	header  bit 7 CONT  this notification continues the previous entry (SSID bytes only)
//	        bit 6 MORE  the entry continues in the next notification
//	        bit 5 LAST  the entry is the round's last (set on each of its fragments)
//	        bits 0-4    the entry's index in the round, modulo 32
//	then    the entry (first fragment) or the rest of its SSID (CONT)
//
// At MTU 23 an entry with an SSID of up to 17 bytes fits one notification,
// longer ones take two; from MTU 38 every entry fits one. A round with no
// networks is the single header byte 0x20 (LAST, no entry).

// Security is what an access point offers, as Network Details shows it.
// (The daemon maps its backend's values to these with an explicit switch.)
type Security byte

// Security values (4 bits on the wire).
const (
	SecurityOpen       Security = 0
	SecurityWEP        Security = 1
	SecurityWPA        Security = 2 // WPA (TKIP era) personal
	SecurityWPA2       Security = 3 // WPA2-Personal
	SecurityWPA3       Security = 4 // WPA3-Personal (SAE), alone or in transition mode
	SecurityEnterprise Security = 5 // 802.1X, any WPA generation
	SecurityOWE        Security = 6 // Enhanced Open
)

// String returns "open", "wep", "wpa", "wpa2", "wpa3", "enterprise" or
// "owe".
func (s Security) String() string {
	switch s {
	case SecurityOpen:
		return "open"
	case SecurityWEP:
		return "wep"
	case SecurityWPA:
		return "wpa"
	case SecurityWPA2:
		return "wpa2"
	case SecurityWPA3:
		return "wpa3"
	case SecurityEnterprise:
		return "enterprise"
	case SecurityOWE:
		return "owe"
	}
	return "security(" + strconv.Itoa(int(s)) + ")"
}

// Band is the frequency band on the wire.
type Band byte

// Band values (2 bits on the wire).
const (
	BandUnknown Band = 0
	Band2G4     Band = 1
	Band5G      Band = 2
	Band6G      Band = 3
)

// String returns "2.4GHz", "5GHz", "6GHz" or "unknown".
func (b Band) String() string {
	switch b {
	case Band2G4:
		return "2.4GHz"
	case Band5G:
		return "5GHz"
	case Band6G:
		return "6GHz"
	}
	return "unknown"
}

// NetworkDetails is one network of the Network Details characteristic.
type NetworkDetails struct {
	SSID     []byte
	RSSI     int8 // dBm; 0 = unknown
	Security Security
	Band     Band
	Current  bool // the device is connected to this network
}

// Header bits of a Network Details notification.
const (
	detailsCont  = 0x80
	detailsMore  = 0x40
	detailsLast  = 0x20
	detailsIndex = 0x1f
)

// Limits of the encoding.
const (
	detailsEntryMax   = 2 + maxSSIDLen // bytes of one entry
	DetailsReadMax    = 512            // bytes of a read value (ATT's attribute value limit)
	MinDetailsPayload = 3              // the smallest notification payload that carries a fragment
)

// appendEntry appends n's entry (without length prefix). SSIDs over 32
// bytes are cut to 32 and fields to their wire width.
func appendEntry(b []byte, n NetworkDetails) []byte {
	info := byte(n.Security&0x0f) | byte(n.Band&0x03)<<4
	if n.Current {
		info |= 0x40
	}
	ssid := n.SSID
	if len(ssid) > maxSSIDLen {
		ssid = ssid[:maxSSIDLen]
	}
	b = append(b, info, byte(n.RSSI))
	return append(b, ssid...)
}

func parseEntry(b []byte) (NetworkDetails, error) {
	if len(b) < 2 || len(b) > detailsEntryMax {
		return NetworkDetails{}, fmt.Errorf("%w: Network Details entry of %d bytes (want 2 to %d)", ErrMalformed, len(b), detailsEntryMax)
	}
	return NetworkDetails{
		Security: Security(b[0] & 0x0f),
		Band:     Band(b[0] >> 4 & 0x03),
		Current:  b[0]&0x40 != 0,
		RSSI:     int8(b[1]),
		SSID:     append([]byte{}, b[2:]...),
	}, nil
}

// EncodeDetails returns the read value of Network Details: the entries of
// nets in order, each behind its length byte, as many whole entries as fit
// in DetailsReadMax bytes.
func EncodeDetails(nets []NetworkDetails) []byte {
	out := []byte{}
	for _, n := range nets {
		e := appendEntry([]byte{0}, n)
		e[0] = byte(len(e) - 1)
		if len(out)+len(e) > DetailsReadMax {
			break
		}
		out = append(out, e...)
	}
	return out
}

// ParseDetails decodes a Network Details read value.
func ParseDetails(b []byte) ([]NetworkDetails, error) {
	var out []NetworkDetails
	for len(b) > 0 {
		n := int(b[0])
		if 1+n > len(b) {
			return nil, fmt.Errorf("%w: Network Details entry of %d bytes with %d left", ErrMalformed, n, len(b)-1)
		}
		e, err := parseEntry(b[1 : 1+n])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		b = b[1+n:]
	}
	return out, nil
}

// DetailsNotifications splits one round of nets into notification values of
// at most payload bytes each (ATT MTU − 3). A payload under
// MinDetailsPayload is raised to it; one over the largest entry needs is
// fine. An empty round is one notification, {0x20}.
func DetailsNotifications(nets []NetworkDetails, payload int) [][]byte {
	payload = max(payload, MinDetailsPayload)
	if len(nets) == 0 {
		return [][]byte{{detailsLast}}
	}
	var out [][]byte
	for i, n := range nets {
		hdr := byte(i) & detailsIndex
		if i == len(nets)-1 {
			hdr |= detailsLast
		}
		rest := appendEntry(nil, n)
		first := true
		for first || len(rest) > 0 {
			h := hdr
			if !first {
				h |= detailsCont
			}
			k := min(len(rest), payload-1)
			if k < len(rest) {
				h |= detailsMore
			}
			out = append(out, append([]byte{h}, rest[:k]...))
			rest = rest[k:]
			first = false
		}
	}
	return out
}

// DetailsRound reassembles Network Details notifications into rounds. The
// zero value is ready; feed every notification to Add in order.
type DetailsRound struct {
	nets    []NetworkDetails
	partial []byte // the entry being reassembled
	index   byte   // its index (header bits 0-4)
	more    bool   // a CONT fragment is expected
	next    byte   // the index expected next
	started bool   // entries of the current round were seen
}

// Add feeds one notification. When it completes a round, Add returns the
// round's networks (possibly none) and done = true; the next notification
// starts a new round. A notification that does not fit the round so far
// (lost or restarted sequence) drops the partial round and is taken as a
// fresh start when it can be; err then says what was wrong, and the caller
// may go on feeding. A malformed entry is ErrMalformed.
func (r *DetailsRound) Add(v []byte) (nets []NetworkDetails, done bool, err error) {
	if len(v) == 0 {
		return nil, false, fmt.Errorf("%w: empty Network Details notification", ErrMalformed)
	}
	h, body := v[0], v[1:]
	idx := h & detailsIndex
	if h&detailsCont != 0 {
		if !r.more || idx != r.index {
			r.reset()
			return nil, false, fmt.Errorf("%w: Network Details continuation without its start", ErrMalformed)
		}
		r.partial = append(r.partial, body...)
	} else {
		if r.more {
			err = fmt.Errorf("%w: Network Details entry cut short", ErrMalformed)
			r.reset()
		}
		if r.started && idx != r.next || !r.started && idx != 0 {
			if err == nil {
				err = fmt.Errorf("%w: Network Details entry %d where %d was expected", ErrMalformed, idx, r.next)
			}
			r.reset()
			if idx != 0 {
				return nil, false, err // wait for the start of a round
			}
		}
		if h&detailsLast != 0 && len(body) == 0 && idx == 0 {
			r.reset()
			return []NetworkDetails{}, true, err // an empty round
		}
		r.started = true
		r.index = idx
		r.partial = append(r.partial[:0], body...)
	}
	r.more = h&detailsMore != 0
	if r.more {
		return nil, false, err
	}
	e, perr := parseEntry(r.partial)
	if perr != nil {
		r.reset()
		return nil, false, perr
	}
	r.nets = append(r.nets, e)
	r.next = (idx + 1) & detailsIndex
	if h&detailsLast != 0 {
		nets = r.nets
		r.reset()
		return nets, true, err
	}
	return nil, false, err
}

func (r *DetailsRound) reset() { *r = DetailsRound{} }
