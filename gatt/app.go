package gatt

import (
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// Service describes a GATT service (org.bluez.GattService1).
type Service struct {
	// UUID of the service. The GAP (0x1800) and GATT (0x1801) services
	// belong to BlueZ and are refused.
	UUID UUID
	// Primary is true for a primary service, false for a secondary one.
	Primary bool
	// Includes lists services of the same application that this service
	// includes, by index into Config.Services (typically secondary
	// services). The server makes bluetoothd create them first.
	Includes []int
	// Characteristics of the service, in order.
	Characteristics []Characteristic
}

// Characteristic describes a GATT characteristic
// (org.bluez.GattCharacteristic1).
type Characteristic struct {
	// UUID of the characteristic.
	UUID UUID
	// Flags must not be empty. BlueZ adds the Client Characteristic
	// Configuration descriptor (0x2902) itself for notify/indicate and the
	// Extended Properties descriptor for reliable-write and
	// writable-auxiliaries.
	Flags Flags
	// Descriptors of the characteristic, such as a 0x2901 user
	// description. Do not add 0x2902 or 0x2900: BlueZ owns them.
	Descriptors []Descriptor

	// Value is returned by reads when OnRead is nil; a write updates it when
	// OnWrite is nil. Notify also stores the value it sends here, so a
	// static or notify-only characteristic needs no handler.
	Value []byte

	// OnRead, when set, returns the characteristic's whole value. The
	// server slices it at Request.Offset (a long read arrives as several
	// ReadValue calls with growing offsets) and answers ErrInvalidOffset when
	// the offset lies past the end. Return an ATTError to make the central see
	// that error code.
	OnRead func(r *Request) ([]byte, error)

	// OnWrite, when set, receives the value written. For writes at a
	// non-zero offset (ATT prepared writes, "long writes") value is the
	// value assembled so far for this device: the bytes the same device
	// wrote before, cut at Request.Offset, followed by the new bytes; a write
	// at offset 0 starts again. Request.Offset and Request.Chunk tell the
	// pieces apart.
	OnWrite func(r *Request, value []byte) error

	// OnSubscribe, when set, is called with true each time bluetoothd calls
	// StartNotify (BlueZ 5.66 calls it for every central that enables
	// notifications or indications, without saying which) and with false
	// when it calls StopNotify (the last subscriber left or disconnected).
	// It runs on its own goroutine per call, ordered per characteristic.
	OnSubscribe func(subscribed bool)
}

// Descriptor describes a GATT descriptor (org.bluez.GattDescriptor1).
type Descriptor struct {
	// UUID of the descriptor, e.g. UUID16(0x2901).
	UUID UUID
	// Flags, from DescriptorFlags only; must not be empty.
	Flags Flags
	// Value is returned by reads when OnRead is nil and replaced by writes
	// when OnWrite is nil.
	Value []byte
	// OnRead and OnWrite work as for Characteristic.
	OnRead  func(r *Request) ([]byte, error)
	OnWrite func(r *Request, value []byte) error
}

// WriteType tells how a central wrote.
type WriteType uint8

// Write types.
const (
	// WriteTypeRequest is an ATT Write Request (the central waits for the
	// answer).
	WriteTypeRequest WriteType = iota
	// WriteTypeCommand is an ATT Write Command (without response). BlueZ
	// 5.66 sends no "type" option; the server reports WriteTypeCommand for
	// every write BlueZ sends without expecting a reply, which it does for
	// all writes to a characteristic with FlagWriteWithoutResponse: BlueZ
	// has then already acknowledged the write, so an error returned by
	// OnWrite never reaches the central.
	WriteTypeCommand
	// WriteTypeReliable is a reliable write (only from BlueZ versions that
	// send the "type" option).
	WriteTypeReliable
)

// String returns "request", "command" or "reliable", the strings of BlueZ's
// "type" option.
func (t WriteType) String() string {
	switch t {
	case WriteTypeCommand:
		return "command"
	case WriteTypeReliable:
		return "reliable"
	}
	return "request"
}

// Request describes one ReadValue or WriteValue call from bluetoothd, built
// from its options (doc/gatt-api.txt).
type Request struct {
	// Device is the remote device's object path, e.g.
	// /org/bluez/hci0/dev_00_AA_01_01_00_01 (option "device").
	Device dbus.ObjectPath
	// Address is the device's address taken from Device, e.g.
	// "00:AA:01:01:00:01", or "" when Device has another form.
	Address string
	// Offset is the ATT offset (option "offset"; 0 when absent).
	Offset uint16
	// MTU is the ATT MTU of the link (option "mtu"; 0 when absent).
	MTU uint16
	// Link is "LE", "BR/EDR" or "" (option "link").
	Link string
	// Type is the write type (writes only; see WriteType).
	Type WriteType
	// PrepareAuthorize is true when BlueZ asks to authorize a prepared write
	// of a characteristic with FlagAuthorize (option "prepare-authorize");
	// the value is not final yet.
	PrepareAuthorize bool
	// Chunk is, for writes, the bytes of this WriteValue call alone.
	Chunk []byte
	// Session holds per-device state; it ends when the device disconnects.
	// Never nil in a handler.
	Session *Session
}

// parseOptions fills r from a BlueZ options dictionary. Missing or
// mistyped options are left at their zero value.
func parseOptions(opts map[string]dbus.Variant) Request {
	var r Request
	if v, ok := opts["device"].Value().(dbus.ObjectPath); ok {
		r.Device = v
		r.Address = AddressFromPath(v)
	}
	if v, ok := opts["offset"].Value().(uint16); ok {
		r.Offset = v
	}
	if v, ok := opts["mtu"].Value().(uint16); ok {
		r.MTU = v
	}
	if v, ok := opts["link"].Value().(string); ok {
		r.Link = v
	}
	if v, ok := opts["prepare-authorize"].Value().(bool); ok {
		r.PrepareAuthorize = v
	}
	if v, ok := opts["type"].Value().(string); ok {
		switch v {
		case "command":
			r.Type = WriteTypeCommand
		case "reliable":
			r.Type = WriteTypeReliable
		}
	}
	return r
}

// AddressFromPath returns the Bluetooth address encoded in a BlueZ device
// object path (".../dev_00_AA_01_01_00_01" → "00:AA:01:01:00:01"), or ""
// when p is not a device path.
func AddressFromPath(p dbus.ObjectPath) string { return bluez.AddressFromPath(p) }

// Session is per-device state kept by the [Server] while a device is
// connected: handlers store what they need under their own keys, and the
// session ends (Done is closed, values dropped) when BlueZ reports the
// device disconnected (Device1.Connected false) or removed.
type Session struct {
	device  dbus.ObjectPath
	address string
	done    chan struct{}

	mu     sync.Mutex
	values map[any]any
	writes map[dbus.ObjectPath][]byte // long-write assembly per attribute
	ended  bool
}

func newSession(dev dbus.ObjectPath) *Session {
	return &Session{
		device:  dev,
		address: AddressFromPath(dev),
		done:    make(chan struct{}),
		values:  make(map[any]any),
		writes:  make(map[dbus.ObjectPath][]byte),
	}
}

// Device returns the device's object path.
func (s *Session) Device() dbus.ObjectPath { return s.device }

// Address returns the device's address, or "" if unknown.
func (s *Session) Address() string { return s.address }

// Done returns a channel that is closed when the device disconnects.
func (s *Session) Done() <-chan struct{} { return s.done }

// Load returns the value stored under key.
func (s *Session) Load(key any) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Store sets the value for key. Stores after the session ended are dropped.
func (s *Session) Store(key, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.values[key] = value
}

// Delete removes key.
func (s *Session) Delete(key any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.values, key)
}

// end drops all state and closes Done. It is idempotent.
func (s *Session) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.values = nil
	s.writes = nil
	close(s.done)
}

// assemble applies a write of chunk at offset to the value this device has
// written to attribute p so far, and returns the new value.
func (s *Session) assemble(p dbus.ObjectPath, offset uint16, chunk []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev []byte
	if !s.ended {
		prev = s.writes[p]
	}
	v, err := assemble(prev, offset, chunk)
	if err != nil {
		return nil, err
	}
	if !s.ended {
		s.writes[p] = v
	}
	return v, nil
}

// assemble returns prev[:offset] followed by chunk. It fails with
// ErrInvalidOffset when offset lies past the end of prev and with
// ErrInvalidValueLength when the result would exceed 512 bytes.
func assemble(prev []byte, offset uint16, chunk []byte) ([]byte, error) {
	if offset == 0 {
		if len(chunk) > maxValueLen {
			return nil, ErrInvalidValueLength
		}
		return append([]byte(nil), chunk...), nil
	}
	if int(offset) > len(prev) {
		return nil, ErrInvalidOffset
	}
	if int(offset)+len(chunk) > maxValueLen {
		return nil, ErrInvalidValueLength
	}
	v := make([]byte, int(offset)+len(chunk))
	copy(v, prev[:offset])
	copy(v[offset:], chunk)
	return v, nil
}

// sliceRead returns v from offset on, as a long read wants it.
func sliceRead(v []byte, offset uint16) ([]byte, error) {
	if int(offset) > len(v) {
		return nil, ErrInvalidOffset
	}
	v = v[offset:]
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	return v, nil
}
