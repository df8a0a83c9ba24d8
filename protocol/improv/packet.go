package improv

import "fmt"

// MaxDataLen is the most data one packet carries: its length is one byte.
const MaxDataLen = 255

// MaxPacketLen is the longest packet: command, length, 255 data bytes,
// checksum.
const MaxPacketLen = 3 + MaxDataLen

// Packet is an RPC command or an RPC result: on the wire
// [command][length][data…][checksum] (spec "Characteristic: RPC Command"
// and "Characteristic: RPC Result").
type Packet struct {
	Command Command
	// Data is at most MaxDataLen bytes. For every command of revision 2.4
	// it is a string list (see EncodeStrings).
	Data []byte
}

// Checksum is the spec's "simple sum checksum keeping only the LSB": the
// low byte of the sum of b.
func Checksum(b []byte) byte {
	var sum byte
	for _, c := range b {
		sum += c
	}
	return sum
}

// Encode returns the packet's bytes, or ErrTooLong when the data is over
// MaxDataLen bytes.
func (p Packet) Encode() ([]byte, error) {
	if len(p.Data) > MaxDataLen {
		return nil, fmt.Errorf("%w: %s data is %d bytes", ErrTooLong, p.Command, len(p.Data))
	}
	b := make([]byte, 0, len(p.Data)+3)
	b = append(b, byte(p.Command), byte(len(p.Data)))
	b = append(b, p.Data...)
	return append(b, Checksum(b)), nil
}

// ParsePacket decodes exactly one packet. A packet shorter than 3 bytes or
// whose length byte does not match is ErrLength, a wrong checksum is
// ErrChecksum; both wrap ErrInvalidPacket. The command is not checked: an
// unknown command is the caller's ErrorUnknownRPC. Data is a copy.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) < 3 {
		return Packet{}, fmt.Errorf("%w: %d bytes, need at least 3", ErrLength, len(b))
	}
	if int(b[1]) != len(b)-3 {
		return Packet{}, fmt.Errorf("%w: length byte says %d data bytes, got %d", ErrLength, b[1], len(b)-3)
	}
	if sum := Checksum(b[:len(b)-1]); sum != b[len(b)-1] {
		return Packet{}, fmt.Errorf("%w: got 0x%02x, want 0x%02x", ErrChecksum, b[len(b)-1], sum)
	}
	p := Packet{Command: Command(b[0])}
	if len(b) > 3 {
		p.Data = append([]byte(nil), b[2:len(b)-1]...)
	}
	return p, nil
}

// EncodeStrings returns the string list ss as RPC data: each string's
// length byte, then its bytes. A string over 255 bytes, or a list over
// MaxDataLen bytes in all, is ErrTooLong. Strings are bytes: an SSID need
// not be UTF-8.
func EncodeStrings(ss ...string) ([]byte, error) {
	n := 0
	for _, s := range ss {
		if len(s) > 255 {
			return nil, fmt.Errorf("%w: a string of %d bytes", ErrTooLong, len(s))
		}
		n += 1 + len(s)
	}
	if n > MaxDataLen {
		return nil, fmt.Errorf("%w: %d strings in %d bytes", ErrTooLong, len(ss), n)
	}
	b := make([]byte, 0, n)
	for _, s := range ss {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// DecodeStrings splits RPC data into its strings. Empty data is an empty
// list. A length byte that runs past the end is ErrLength.
func DecodeStrings(data []byte) ([]string, error) {
	var ss []string
	for i := 0; i < len(data); {
		n := int(data[i])
		i++
		if i+n > len(data) {
			return nil, fmt.Errorf("%w: string %d of %d bytes runs past the data's end", ErrLength, len(ss)+1, n)
		}
		ss = append(ss, string(data[i:i+n]))
		i += n
	}
	return ss, nil
}

// EncodeCommand returns the command packet cmd with the string list ss as
// data (no strings: no data).
func EncodeCommand(cmd Command, ss ...string) ([]byte, error) {
	data, err := EncodeStrings(ss...)
	if err != nil {
		return nil, fmt.Errorf("improv: %s: %w", cmd, err)
	}
	return Packet{Command: cmd, Data: data}.Encode()
}

// EncodeResult returns the RPC result packet for cmd carrying the string
// list ss ("Results are returned as a list of strings. An empty list is
// allowed.").
func EncodeResult(cmd Command, ss ...string) ([]byte, error) {
	return EncodeCommand(cmd, ss...)
}

// ParseResult decodes an RPC result packet into its command and strings.
// Errors wrap ErrInvalidPacket.
func ParseResult(b []byte) (Command, []string, error) {
	p, err := ParsePacket(b)
	if err != nil {
		return 0, nil, err
	}
	ss, err := DecodeStrings(p.Data)
	if err != nil {
		return 0, nil, err
	}
	return p.Command, ss, nil
}

// Assembler reassembles command packets written to RPC Command by one
// central. A packet longer than one ATT write arrives in pieces: as several
// plain writes (each at offset 0; the Improv web page writes without
// response, Home Assistant with response) or as one long write (prepared
// writes, delivered by BlueZ at increasing offsets). Keep one Assembler per
// connected central, so that one central's half packet never mixes with
// another's.
//
// With package gatt, feed it Request.Offset and Request.Chunk (the bytes of
// this write alone), not the value gatt assembles for long writes.
//
// The buffer never holds more than MaxPacketLen bytes. The zero value is
// ready to use; an Assembler is not safe for concurrent use.
type Assembler struct {
	buf []byte
	// start is where in buf the current write (the one at offset 0) began;
	// a long write's later pieces are placed relative to it.
	start int
	// discard: the current write already failed; its later pieces are
	// dropped without a second error.
	discard bool
}

// Write adds one written value, at offset (the ATT write's offset; 0 for a
// plain write). It returns:
//   - done and the packet when the buffer holds exactly one whole, valid
//     packet;
//   - neither (a nil error, done false) when more bytes are needed;
//   - an error wrapping ErrInvalidPacket (report ErrorInvalidRPC) when the
//     bytes cannot be a packet: a bad checksum, more bytes than the length
//     byte announced, or a piece at an offset that does not continue the
//     current write.
//
// After a packet or an error the buffer is empty again. After an error the
// rest of the same long write (its pieces at offsets above 0) is dropped
// quietly, so one bad write gives one error. The packet's command is not
// checked.
func (a *Assembler) Write(offset int, value []byte) (p Packet, done bool, err error) {
	if offset == 0 {
		a.start = len(a.buf)
		a.discard = false
	} else if a.discard {
		return Packet{}, false, nil
	} else if offset < 0 || a.start+offset != len(a.buf) {
		a.fail()
		return Packet{}, false, fmt.Errorf("%w: piece at offset %d does not continue the write", ErrLength, offset)
	}
	if len(a.buf)+len(value) > MaxPacketLen {
		a.fail()
		return Packet{}, false, fmt.Errorf("%w: more than %d bytes", ErrLength, MaxPacketLen)
	}
	a.buf = append(a.buf, value...)
	if len(a.buf) < 2 {
		return Packet{}, false, nil
	}
	want := 3 + int(a.buf[1])
	switch {
	case len(a.buf) < want:
		return Packet{}, false, nil
	case len(a.buf) > want:
		n := len(a.buf)
		a.fail()
		return Packet{}, false, fmt.Errorf("%w: %d bytes for a packet of %d", ErrLength, n, want)
	}
	p, err = ParsePacket(a.buf)
	if err != nil {
		a.fail()
		return Packet{}, false, err
	}
	a.Reset()
	return p, true, nil
}

// Pending reports how many bytes of an incomplete packet are buffered.
func (a *Assembler) Pending() int { return len(a.buf) }

// Reset drops any incomplete packet, e.g. when the central disconnects or
// after a pause long enough that the rest will not come.
func (a *Assembler) Reset() {
	a.buf = a.buf[:0]
	a.start = 0
	a.discard = false
}

func (a *Assembler) fail() {
	a.Reset()
	a.discard = true
}
