package gatt

import (
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// Write commands (ATT Write Without Response) reach a server as WriteValue
// calls that expect no reply, sent back to back by bluetoothd in the order
// the central wrote. godbus runs every incoming call on a goroutine of its
// own, and Go's scheduler tends to run the newest one first, so two write
// commands can reach OnWrite in either order, and a value that a central
// cut into several of them (the Improv web page at MTU 23) would be put
// back together wrongly. Calls that expect a reply need no help: bluetoothd
// waits for the reply before it answers the central, which waits for that
// before its next write.
//
// A connection opened with [ConnectSystemBus] or [Connect] numbers the
// write commands in the order they arrive: godbus calls an incoming
// interceptor before it starts the call's goroutine. The server then runs
// the write commands to each attribute in that order.

// orderWait bounds how long a write command waits for earlier ones that
// never reach the server's handler (a call godbus answered by itself, such
// as one for an object that is gone or with arguments it cannot decode);
// those are then forgotten. Queues are per sender, and bluetoothd sends
// nothing of the kind, so in practice the wait is for a goroutine that is
// merely late, which on a loaded single-core board can take hundreds of
// milliseconds: giving up early would let two pieces of a value swap.
const orderWait = 5 * time.Second

// ConnectSystemBus opens a private connection to the system bus, as
// dbus.ConnectSystemBus does, on which a [Server] runs each attribute's
// write commands (ATT Write Without Response) in the order the central sent
// them. On a connection from dbus.ConnectSystemBus a server works the
// same, but write commands that arrive together may run in any order.
func ConnectSystemBus(opts ...dbus.ConnOption) (*dbus.Conn, error) {
	o := newOrdering()
	conn, err := dbus.ConnectSystemBus(append(opts, dbus.WithIncomingInterceptor(o.intercept))...)
	if err != nil {
		return nil, err
	}
	o.register(conn)
	return conn, nil
}

// Connect is [ConnectSystemBus] for the bus at address (a private bus in
// tests).
func Connect(address string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	o := newOrdering()
	conn, err := dbus.Connect(address, append(opts, dbus.WithIncomingInterceptor(o.intercept))...)
	if err != nil {
		return nil, err
	}
	o.register(conn)
	return conn, nil
}

// orderings maps a connection from ConnectSystemBus or Connect to its
// ordering, until the connection closes.
var orderings sync.Map // *dbus.Conn → *ordering

func orderingOf(conn *dbus.Conn) *ordering {
	if o, ok := orderings.Load(conn); ok {
		return o.(*ordering)
	}
	return nil
}

// ordering queues the write commands of one connection, per sender and
// attribute, in the order they arrived.
type ordering struct {
	mu      sync.Mutex
	queues  map[orderKey][]uint32 // message serials, oldest first
	changed chan struct{}         // closed and replaced when a queue shrinks
}

type orderKey struct {
	sender string
	path   dbus.ObjectPath
}

func newOrdering() *ordering {
	return &ordering{queues: make(map[orderKey][]uint32), changed: make(chan struct{})}
}

func (o *ordering) register(conn *dbus.Conn) {
	orderings.Store(conn, o)
	go func() {
		<-conn.Context().Done()
		orderings.Delete(conn)
	}()
}

// writeCommand reports whether msg is a WriteValue call that expects no
// reply, and its queue.
func writeCommand(msg *dbus.Message) (orderKey, bool) {
	if msg.Type != dbus.TypeMethodCall || msg.Flags&dbus.FlagNoReplyExpected == 0 {
		return orderKey{}, false
	}
	member, _ := msg.Headers[dbus.FieldMember].Value().(string)
	iface, _ := msg.Headers[dbus.FieldInterface].Value().(string)
	if member != "WriteValue" || (iface != bluez.GattCharacteristic1 && iface != bluez.GattDescriptor1) {
		return orderKey{}, false
	}
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	return orderKey{sender, path}, true
}

// intercept runs on godbus's reading goroutine, in arrival order.
func (o *ordering) intercept(msg *dbus.Message) {
	k, ok := writeCommand(msg)
	if !ok {
		return
	}
	o.mu.Lock()
	o.queues[k] = append(o.queues[k], msg.Serial())
	o.mu.Unlock()
}

// turn waits until msg is the oldest write command queued for its
// attribute and returns the function that ends its turn. For anything else
// it returns at once.
func (o *ordering) turn(msg *dbus.Message) (done func()) {
	k, ok := writeCommand(msg)
	if o == nil || !ok {
		return func() {}
	}
	serial := msg.Serial()
	deadline := time.NewTimer(orderWait)
	defer deadline.Stop()
	o.mu.Lock()
	for {
		q := o.queues[k]
		i := slices.Index(q, serial)
		if i < 0 {
			o.mu.Unlock()
			return func() {} // not seen arriving: nothing to keep in order
		}
		if i == 0 {
			break
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
			o.mu.Lock()
			continue
		case <-deadline.C:
		}
		// The earlier ones never came: forget them.
		o.mu.Lock()
		q = o.queues[k]
		if i = slices.Index(q, serial); i > 0 {
			o.queues[k] = q[i:]
			o.wake()
		}
	}
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		q := o.queues[k]
		if i := slices.Index(q, serial); i >= 0 {
			q = slices.Delete(q, i, i+1)
		}
		if len(q) == 0 {
			delete(o.queues, k)
		} else {
			o.queues[k] = q
		}
		o.wake()
	}
}

// wake tells the waiting calls that a queue changed. o.mu is held.
func (o *ordering) wake() {
	close(o.changed)
	o.changed = make(chan struct{})
}
