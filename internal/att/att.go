// Package att is a minimal ATT client (a GATT central) that speaks to a
// peripheral through the Linux kernel's L2CAP LE socket, without
// bluetoothd.
//
// The VM tests use it as a second Bluetooth stack, independent of the
// bluetoothd they restart, and to drive the ATT protocol at the default MTU
// of 23 bytes, where values longer than one PDU need Read Blob and Prepare
// Write requests. It answers the peer's own requests as a device with no
// GATT database would.
package att

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

// DefaultMTU is the ATT MTU of an LE link before an MTU exchange.
const DefaultMTU = 23

// ATT opcodes (Bluetooth Core, Vol 3, Part F, 3.4.8).
const (
	opError          = 0x01
	opMTUReq         = 0x02
	opMTURsp         = 0x03
	opFindInfoReq    = 0x04
	opFindByTypeReq  = 0x06
	opReadByTypeReq  = 0x08
	opReadByTypeRsp  = 0x09
	opReadReq        = 0x0a
	opReadRsp        = 0x0b
	opReadBlobReq    = 0x0c
	opReadBlobRsp    = 0x0d
	opReadByGroupReq = 0x10
	opWriteReq       = 0x12
	opWriteRsp       = 0x13
	opPrepWriteReq   = 0x16
	opPrepWriteRsp   = 0x17
	opExecWriteReq   = 0x18
	opExecWriteRsp   = 0x19
	opNotify         = 0x1b
	opIndicate       = 0x1d
	opConfirm        = 0x1e
	opWriteCmd       = 0x52
	opCommandFlag    = 0x40
)

// ATT error codes the client itself uses.
const (
	ErrCodeInvalidHandle     = 0x01
	ErrCodeInvalidOffset     = 0x07
	ErrCodeAttrNotFound      = 0x0a
	ErrCodeAttrNotLong       = 0x0b
	ErrCodeInvalidLength     = 0x0d
	ErrCodeRequestNotSupport = 0x06
)

// Error is an ATT Error Response from the peer.
type Error struct {
	Op     byte   // opcode of the request that failed
	Handle uint16 // attribute handle in error
	Code   byte   // ATT error code, such as 0x0a Attribute Not Found
}

func (e *Error) Error() string {
	return fmt.Sprintf("att: request 0x%02x on handle 0x%04x: error 0x%02x", e.Op, e.Handle, e.Code)
}

// ErrClosed is returned by requests on a closed connection or one the peer
// has dropped.
var ErrClosed = errors.New("att: connection closed")

// Conn is an ATT bearer. Requests are sequential, as ATT requires; Conn
// serialises callers.
type Conn struct {
	f   *os.File
	mtu int

	req sync.Mutex // one outstanding request
	wmu sync.Mutex // whole PDUs on the wire
	rsp chan []byte

	done     chan struct{}
	closeErr error
	once     sync.Once

	nmu      sync.Mutex
	onNotify func(handle uint16, value []byte)
}

// OnNotify sets f to receive the peer's notifications and indications
// (indications are confirmed after f returns). f runs on the connection's
// reader and must not make requests.
func (c *Conn) OnNotify(f func(handle uint16, value []byte)) {
	c.nmu.Lock()
	c.onNotify = f
	c.nmu.Unlock()
}

// NewConn starts an ATT client on f, a packet connection (each read returns
// one PDU), with MTU 23. Dial makes f from an L2CAP socket; tests pass one
// end of a SOCK_SEQPACKET socket pair.
func NewConn(f *os.File) *Conn {
	c := &Conn{f: f, mtu: DefaultMTU, rsp: make(chan []byte, 1), done: make(chan struct{})}
	go c.readLoop()
	return c
}

// MTU is the ATT MTU in use.
func (c *Conn) MTU() int { return c.mtu }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close ends the connection (for an L2CAP socket: disconnects the link when
// nobody else uses it).
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	return c.f.Close()
}

func (c *Conn) shutdown(err error) {
	c.once.Do(func() {
		c.closeErr = err
		close(c.done)
	})
}

func (c *Conn) readLoop() {
	buf := make([]byte, 1024)
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			c.shutdown(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		if n == 0 {
			continue
		}
		pdu := append([]byte(nil), buf[:n]...)
		switch op := pdu[0]; {
		case op == opNotify || op == opIndicate:
			c.nmu.Lock()
			f := c.onNotify
			c.nmu.Unlock()
			if f != nil && len(pdu) >= 3 {
				f(binary.LittleEndian.Uint16(pdu[1:]), pdu[3:])
			}
			if op == opIndicate {
				_ = c.send([]byte{opConfirm})
			}
		case op == opConfirm || op&opCommandFlag != 0:
			// Confirmation without an indication of ours, or a command:
			// nothing to answer.
		case op == opError || op&1 == 1:
			select {
			case c.rsp <- pdu:
			default: // a response nobody waits for: drop it
			}
		default:
			c.answer(pdu)
		}
	}
}

// answer replies to a request from the peer as a client with no database.
func (c *Conn) answer(pdu []byte) {
	switch pdu[0] {
	case opMTUReq:
		_ = c.send([]byte{opMTURsp, DefaultMTU, 0})
	case opFindInfoReq, opFindByTypeReq, opReadByTypeReq, opReadByGroupReq:
		var start uint16
		if len(pdu) >= 3 {
			start = binary.LittleEndian.Uint16(pdu[1:])
		}
		_ = c.send(errorPDU(pdu[0], start, ErrCodeAttrNotFound))
	default:
		_ = c.send(errorPDU(pdu[0], 0, ErrCodeRequestNotSupport))
	}
}

func errorPDU(op byte, h uint16, code byte) []byte {
	return []byte{opError, op, byte(h), byte(h >> 8), code}
}

func (c *Conn) send(pdu []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.f.Write(pdu); err != nil {
		err = fmt.Errorf("%w: send 0x%02x: %v", ErrClosed, pdu[0], err)
		c.shutdown(err)
		return err
	}
	return nil
}

// request sends a request and waits for its response or an Error Response,
// which it returns as *Error.
func (c *Conn) request(ctx context.Context, pdu []byte, want byte) ([]byte, error) {
	c.req.Lock()
	defer c.req.Unlock()
	select { // a late response to an abandoned request
	case <-c.rsp:
	default:
	}
	if err := c.send(pdu); err != nil {
		return nil, err
	}
	select {
	case r := <-c.rsp:
		if r[0] == opError {
			if len(r) < 5 {
				return nil, fmt.Errorf("att: short error response % x", r)
			}
			return nil, &Error{Op: r[1], Handle: binary.LittleEndian.Uint16(r[2:]), Code: r[4]}
		}
		if r[0] != want {
			return nil, fmt.Errorf("att: response 0x%02x to request 0x%02x", r[0], pdu[0])
		}
		return r[1:], nil
	case <-c.done:
		return nil, c.closeErr
	case <-ctx.Done():
		return nil, fmt.Errorf("att: request 0x%02x: %w", pdu[0], ctx.Err())
	}
}

// ReadByUUID reads the first characteristic value of type uuid (ATT Read By
// Type over all handles, "Read Using Characteristic UUID"): one round trip,
// no discovery. It returns the value handle and at most MTU-4 bytes.
func (c *Conn) ReadByUUID(ctx context.Context, uuid []byte) (uint16, []byte, error) {
	pdu := append([]byte{opReadByTypeReq, 0x01, 0x00, 0xff, 0xff}, uuidLE(uuid)...)
	r, err := c.request(ctx, pdu, opReadByTypeRsp)
	if err != nil {
		return 0, nil, err
	}
	if len(r) < 3 || int(r[0]) < 2 || len(r) < 1+int(r[0]) {
		return 0, nil, fmt.Errorf("att: malformed Read By Type response % x", r)
	}
	return binary.LittleEndian.Uint16(r[1:]), r[3 : 1+int(r[0])], nil
}

// Characteristic is a characteristic declaration found by Characteristics.
type Characteristic struct {
	Handle      uint16 // declaration handle
	Properties  byte
	ValueHandle uint16
	UUID        []byte // as on the wire: 2 or 16 bytes, little-endian
}

// Characteristics discovers every characteristic declaration on the peer
// (Read By Type of 0x2803 over all handles).
func (c *Conn) Characteristics(ctx context.Context) ([]Characteristic, error) {
	var out []Characteristic
	start := uint16(1)
	for {
		r, err := c.request(ctx, []byte{opReadByTypeReq, byte(start), byte(start >> 8), 0xff, 0xff, 0x03, 0x28}, opReadByTypeRsp)
		var ae *Error
		if errors.As(err, &ae) && ae.Code == ErrCodeAttrNotFound {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		n := int(r[0])
		if n != 7 && n != 21 {
			return nil, fmt.Errorf("att: characteristic declaration of length %d", n)
		}
		last := start
		for e := r[1:]; len(e) >= n; e = e[n:] {
			ch := Characteristic{
				Handle:      binary.LittleEndian.Uint16(e),
				Properties:  e[2],
				ValueHandle: binary.LittleEndian.Uint16(e[3:]),
				UUID:        append([]byte(nil), e[5:n]...),
			}
			out = append(out, ch)
			last = ch.Handle
		}
		if last == 0xffff || last < start {
			return out, nil
		}
		start = last + 1
	}
}

// Find returns the characteristic whose UUID (big-endian, as written) is uuid.
func Find(chars []Characteristic, uuid []byte) (Characteristic, bool) {
	want := uuidLE(uuid)
	for _, ch := range chars {
		if string(ch.UUID) == string(want) {
			return ch, true
		}
	}
	return Characteristic{}, false
}

// Read reads the whole value of handle: a Read Request, then Read Blob
// Requests while the responses are full.
func (c *Conn) Read(ctx context.Context, handle uint16) ([]byte, error) {
	v, err := c.request(ctx, []byte{opReadReq, byte(handle), byte(handle >> 8)}, opReadRsp)
	if err != nil {
		return nil, err
	}
	v = append([]byte(nil), v...)
	for part := v; len(part) == c.mtu-1; {
		off := len(v)
		part, err = c.request(ctx, []byte{opReadBlobReq, byte(handle), byte(handle >> 8), byte(off), byte(off >> 8)}, opReadBlobRsp)
		var ae *Error
		if errors.As(err, &ae) && (ae.Code == ErrCodeInvalidOffset || ae.Code == ErrCodeAttrNotLong) {
			break // the value was exactly one PDU long
		}
		if err != nil {
			return nil, err
		}
		v = append(v, part...)
	}
	return v, nil
}

// Write writes value to handle with a Write Request when it fits one PDU,
// else as a long write (WriteLong).
func (c *Conn) Write(ctx context.Context, handle uint16, value []byte) error {
	if len(value) > c.mtu-3 {
		return c.WriteLong(ctx, handle, value)
	}
	_, err := c.request(ctx, append([]byte{opWriteReq, byte(handle), byte(handle >> 8)}, value...), opWriteRsp)
	return err
}

// WriteLong writes value to handle with Prepare Write Requests of at most
// MTU-5 bytes each, then an Execute Write Request. The peer's echo of every
// piece is checked; on a mismatch the queue is cancelled.
func (c *Conn) WriteLong(ctx context.Context, handle uint16, value []byte) error {
	step := c.mtu - 5
	for off := 0; off < len(value) || off == 0; off += step {
		end := min(off+step, len(value))
		pdu := append([]byte{opPrepWriteReq, byte(handle), byte(handle >> 8), byte(off), byte(off >> 8)}, value[off:end]...)
		r, err := c.request(ctx, pdu, opPrepWriteRsp)
		if err == nil && string(r) != string(pdu[1:]) {
			err = fmt.Errorf("att: prepare write echo differs at offset %d", off)
		}
		if err != nil {
			_, _ = c.request(ctx, []byte{opExecWriteReq, 0x00}, opExecWriteRsp)
			return err
		}
		if end == len(value) {
			break
		}
	}
	_, err := c.request(ctx, []byte{opExecWriteReq, 0x01}, opExecWriteRsp)
	return err
}

// PrepareWrite sends one Prepare Write Request (part of value at offset,
// queued by the peer until an Execute Write Request) and checks the echo.
func (c *Conn) PrepareWrite(ctx context.Context, handle, offset uint16, part []byte) error {
	pdu := append([]byte{opPrepWriteReq, byte(handle), byte(handle >> 8), byte(offset), byte(offset >> 8)}, part...)
	r, err := c.request(ctx, pdu, opPrepWriteRsp)
	if err == nil && string(r) != string(pdu[1:]) {
		err = fmt.Errorf("att: prepare write echo differs at offset %d", offset)
	}
	return err
}

// WriteCommand sends a Write Command (write without response).
func (c *Conn) WriteCommand(handle uint16, value []byte) error {
	return c.send(append([]byte{opWriteCmd, byte(handle), byte(handle >> 8)}, value...))
}

// uuidLE turns a UUID written big-endian (2 or 16 bytes) into ATT's
// little-endian wire order.
func uuidLE(u []byte) []byte {
	out := make([]byte, len(u))
	for i, b := range u {
		out[len(u)-1-i] = b
	}
	return out
}
