//go:build linux

package att

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// server is a tiny ATT server on the other end of a socket pair: handle 1 is
// a characteristic declaration of a 128-bit UUID whose value (handle 2) is
// readable and writable, handle 3 declares a 16-bit one (value handle 4).
type server struct {
	f       *os.File
	mu      sync.Mutex
	values  map[uint16][]byte
	queue   []byte // prepared writes to handle 2, in order
	asked   chan []byte
	written chan []byte
}

var longUUID = []byte{0x5a, 0x1e, 0, 2, 0x7b, 0x3c, 0x4d, 0x6e, 0x9f, 0x10, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f}

func pair(t *testing.T) (*Conn, *server) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{
		f:       os.NewFile(uintptr(fds[1]), "server"),
		values:  map[uint16][]byte{2: []byte("hello"), 4: {0x2a}},
		asked:   make(chan []byte, 8),
		written: make(chan []byte, 8),
	}
	go s.serve()
	c := NewConn(os.NewFile(uintptr(fds[0]), "client"))
	t.Cleanup(func() { c.Close(); s.f.Close() })
	return c, s
}

func (s *server) decl(h uint16) []byte {
	if h == 1 {
		return append([]byte{0x0a, 2, 0}, uuidLE(longUUID)...)
	}
	return []byte{0x0a, 4, 0, 0x19, 0x2a}
}

func (s *server) serve() {
	buf := make([]byte, 512)
	for {
		n, err := s.f.Read(buf)
		if err != nil {
			return
		}
		p := append([]byte(nil), buf[:n]...)
		if p[0]&1 == 1 || p[0] == opError || p[0] == opConfirm { // an answer to our own request
			s.asked <- p
			continue
		}
		h := uint16(0)
		if len(p) >= 3 {
			h = binary.LittleEndian.Uint16(p[1:])
		}
		s.mu.Lock()
		var out []byte
		switch p[0] {
		case opReadByTypeReq:
			typ := p[5:]
			switch {
			case bytes.Equal(typ, []byte{0x03, 0x28}) && h <= 1:
				out = append([]byte{opReadByTypeRsp, 21, 1, 0}, s.decl(1)...)
			case bytes.Equal(typ, []byte{0x03, 0x28}) && h <= 3:
				out = append([]byte{opReadByTypeRsp, 7, 3, 0}, s.decl(3)...)
			case bytes.Equal(typ, uuidLE(longUUID)):
				v := s.values[2]
				v = v[:min(len(v), DefaultMTU-4)]
				out = append([]byte{opReadByTypeRsp, byte(2 + len(v)), 2, 0}, v...)
			default:
				out = errorPDU(p[0], h, ErrCodeAttrNotFound)
			}
		case opReadReq, opReadBlobReq:
			off := 0
			if p[0] == opReadBlobReq {
				off = int(binary.LittleEndian.Uint16(p[3:]))
			}
			v, ok := s.values[h]
			switch {
			case !ok:
				out = errorPDU(p[0], h, ErrCodeInvalidHandle)
			case off > len(v):
				out = errorPDU(p[0], h, ErrCodeInvalidOffset)
			default:
				v = v[off:]
				out = append([]byte{p[0] + 1}, v[:min(len(v), DefaultMTU-1)]...)
			}
		case opWriteReq:
			s.values[h] = append([]byte(nil), p[3:]...)
			s.written <- s.values[h]
			out = []byte{opWriteRsp}
		case opWriteCmd:
			s.values[h] = append([]byte(nil), p[3:]...)
			s.written <- s.values[h]
		case opPrepWriteReq:
			off := int(binary.LittleEndian.Uint16(p[3:]))
			if off != len(s.queue) {
				out = errorPDU(p[0], h, ErrCodeInvalidOffset)
				break
			}
			s.queue = append(s.queue, p[5:]...)
			out = append([]byte{opPrepWriteRsp}, p[1:]...)
		case opExecWriteReq:
			if p[1] == 1 {
				s.values[2] = s.queue
				s.written <- s.queue
			}
			s.queue = nil
			out = []byte{opExecWriteRsp}
		default:
			out = errorPDU(p[0], h, ErrCodeRequestNotSupport)
		}
		s.mu.Unlock()
		if out != nil {
			s.f.Write(out)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestReadByUUID(t *testing.T) {
	c, _ := pair(t)
	h, v, err := c.ReadByUUID(ctx(t), longUUID)
	if err != nil || h != 2 || string(v) != "hello" {
		t.Fatalf("ReadByUUID = %d %q %v, want 2 \"hello\"", h, v, err)
	}
	_, _, err = c.ReadByUUID(ctx(t), []byte{0x18, 0x0f})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != ErrCodeAttrNotFound {
		t.Fatalf("ReadByUUID(unknown) = %v, want Attribute Not Found", err)
	}
}

func TestCharacteristics(t *testing.T) {
	c, _ := pair(t)
	chars, err := c.Characteristics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(chars) != 2 || chars[0].ValueHandle != 2 || chars[1].ValueHandle != 4 || chars[0].Properties != 0x0a {
		t.Fatalf("Characteristics = %+v", chars)
	}
	if ch, ok := Find(chars, longUUID); !ok || ch.Handle != 1 {
		t.Fatalf("Find(long) = %+v, %v", ch, ok)
	}
	if ch, ok := Find(chars, []byte{0x2a, 0x19}); !ok || ch.ValueHandle != 4 {
		t.Fatalf("Find(0x2a19) = %+v, %v", ch, ok)
	}
}

func TestReadWrite(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 10)
	tests := []struct {
		name  string
		value []byte
	}{
		{"short", []byte("hi")},
		{"one PDU exactly", long[:DefaultMTU-3]},
		{"read value of exactly MTU-1", long[:DefaultMTU-1]},
		{"long", long},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t)
			if err := c.Write(ctx(t), 2, tt.value); err != nil {
				t.Fatal(err)
			}
			if got := <-s.written; !bytes.Equal(got, tt.value) {
				t.Fatalf("server got %q, want %q", got, tt.value)
			}
			got, err := c.Read(ctx(t), 2)
			if err != nil || !bytes.Equal(got, tt.value) {
				t.Fatalf("Read = %q, %v; want %q", got, err, tt.value)
			}
		})
	}
}

func TestWriteCommandAndErrors(t *testing.T) {
	c, s := pair(t)
	if err := c.WriteCommand(2, []byte("cmd")); err != nil {
		t.Fatal(err)
	}
	if got := <-s.written; string(got) != "cmd" {
		t.Fatalf("server got %q", got)
	}
	_, err := c.Read(ctx(t), 9)
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != ErrCodeInvalidHandle || ae.Handle != 9 || ae.Op != opReadReq {
		t.Fatalf("Read(9) = %v, want Invalid Handle on 9", err)
	}
}

// TestAnswersPeer checks the client's answers to the peer's own requests:
// an MTU exchange stays at 23, discovery finds nothing, and indications are
// confirmed after OnNotify saw them.
func TestAnswersPeer(t *testing.T) {
	c, s := pair(t)
	notes := make(chan []byte, 2)
	c.OnNotify(func(h uint16, v []byte) { notes <- append([]byte{byte(h)}, v...) })
	tests := []struct {
		send, want []byte
	}{
		{[]byte{opMTUReq, 0x05, 0x02}, []byte{opMTURsp, DefaultMTU, 0}},
		{[]byte{opReadByGroupReq, 1, 0, 0xff, 0xff, 0x00, 0x28}, []byte{opError, opReadByGroupReq, 1, 0, ErrCodeAttrNotFound}},
		{[]byte{opReadReq, 3, 0}, []byte{opError, opReadReq, 0, 0, ErrCodeRequestNotSupport}},
		{[]byte{opIndicate, 7, 0, 'x'}, []byte{opConfirm}},
	}
	for _, tt := range tests {
		if _, err := s.f.Write(tt.send); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-s.asked:
			if !bytes.Equal(got, tt.want) {
				t.Errorf("answer to % x = % x, want % x", tt.send, got, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to % x", tt.send)
		}
	}
	if got := <-notes; string(got) != "\x07x" {
		t.Errorf("OnNotify got % x", got)
	}
}

func TestClosed(t *testing.T) {
	c, s := pair(t)
	s.f.Close()
	<-c.Done()
	if _, err := c.Read(ctx(t), 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after peer closed = %v, want ErrClosed", err)
	}
}

func TestParseAddr(t *testing.T) {
	a, err := parseAddr("00:AA:01:00:00:01")
	if err != nil || a != [6]byte{0, 0xaa, 1, 0, 0, 1} {
		t.Fatalf("parseAddr = %x, %v", a, err)
	}
	if _, err := parseAddr("nope"); err == nil {
		t.Fatal("parseAddr(nope) succeeded")
	}
}
