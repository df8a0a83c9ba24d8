package gatt

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

type service struct {
	path  dbus.ObjectPath
	def   Service
	chars []*Char
}

// Char is a characteristic of a running [Server]. Get it with
// [Server.Characteristic]. Its methods are safe for concurrent use.
type Char struct {
	srv   *Server
	path  dbus.ObjectPath
	svc   *service
	def   Characteristic
	descs []*desc

	indMu   sync.Mutex    // serialises Indicate
	confirm chan struct{} // Confirm calls, buffered

	mu        sync.Mutex
	value     []byte
	notifying bool
}

type desc struct {
	srv  *Server
	path dbus.ObjectPath
	chr  *Char
	def  Descriptor

	mu    sync.Mutex
	value []byte
}

var (
	gapUUID  = UUID16(0x1800)
	gattUUID = UUID16(0x1801)
	cccUUID  = UUID16(0x2902)
	cepUUID  = UUID16(0x2900)
)

// validate checks what BlueZ 5.66 checks (and a bit more), so that a bad
// application fails in Open with a clear error instead of in bluetoothd's
// log.
func validate(svcs []Service) error {
	if len(svcs) == 0 {
		return fmt.Errorf("gatt: no services: %w", ErrInvalidApplication)
	}
	for i, sv := range svcs {
		switch {
		case sv.UUID.IsZero():
			return fmt.Errorf("gatt: service %d: zero UUID: %w", i, ErrInvalidApplication)
		case sv.UUID == gapUUID || sv.UUID == gattUUID:
			return fmt.Errorf("gatt: service %d: %s belongs to BlueZ: %w", i, sv.UUID, ErrInvalidApplication)
		}
		for _, inc := range sv.Includes {
			if inc < 0 || inc >= len(svcs) || inc == i {
				return fmt.Errorf("gatt: service %d: bad include index %d: %w", i, inc, ErrInvalidApplication)
			}
		}
		for j, c := range sv.Characteristics {
			where := fmt.Sprintf("service %d characteristic %d (%s)", i, j, c.UUID)
			if c.UUID.IsZero() {
				return fmt.Errorf("gatt: %s: zero UUID: %w", where, ErrInvalidApplication)
			}
			if err := c.Flags.Validate(); err != nil {
				return fmt.Errorf("gatt: %s: %w", where, err)
			}
			if len(c.Value) > maxValueLen {
				return fmt.Errorf("gatt: %s: %w", where, ErrValueTooLong)
			}
			for k, d := range c.Descriptors {
				dw := fmt.Sprintf("%s descriptor %d (%s)", where, k, d.UUID)
				switch {
				case d.UUID.IsZero():
					return fmt.Errorf("gatt: %s: zero UUID: %w", dw, ErrInvalidApplication)
				case d.UUID == cccUUID || d.UUID == cepUUID:
					return fmt.Errorf("gatt: %s: BlueZ adds this descriptor itself: %w", dw, ErrInvalidApplication)
				}
				if err := d.Flags.Validate(); err != nil {
					return fmt.Errorf("gatt: %s: %w", dw, err)
				}
				if d.Flags&^DescriptorFlags != 0 {
					return fmt.Errorf("gatt: %s: flags %s not allowed on a descriptor: %w", dw, d.Flags&^DescriptorFlags, ErrInvalidApplication)
				}
				if len(d.Value) > maxValueLen {
					return fmt.Errorf("gatt: %s: %w", dw, ErrValueTooLong)
				}
			}
		}
	}
	return nil
}

// build creates the object tree: root/serviceN/charM/descK.
func (s *Server) build(svcs []Service) {
	for i, sv := range svcs {
		so := &service{path: dbus.ObjectPath(fmt.Sprintf("%s/service%d", s.root, i)), def: sv}
		so.def.Characteristics = nil
		so.def.Includes = append([]int(nil), sv.Includes...)
		for j, c := range sv.Characteristics {
			co := &Char{
				srv:     s,
				path:    dbus.ObjectPath(fmt.Sprintf("%s/char%d", so.path, j)),
				svc:     so,
				def:     c,
				value:   append([]byte{}, c.Value...),
				confirm: make(chan struct{}, 1),
			}
			co.def.Descriptors = nil
			co.def.Value = nil
			for k, d := range c.Descriptors {
				do := &desc{
					srv:   s,
					path:  dbus.ObjectPath(fmt.Sprintf("%s/desc%d", co.path, k)),
					chr:   co,
					def:   d,
					value: append([]byte{}, d.Value...),
				}
				do.def.Value = nil
				co.descs = append(co.descs, do)
				s.descs = append(s.descs, do)
			}
			so.chars = append(so.chars, co)
			s.chars = append(s.chars, co)
		}
		s.services = append(s.services, so)
	}
}

func (s *Server) serviceProps(so *service) map[string]dbus.Variant {
	inc := make([]dbus.ObjectPath, 0, len(so.def.Includes))
	for _, i := range so.def.Includes {
		inc = append(inc, s.services[i].path)
	}
	chars := make([]dbus.ObjectPath, 0, len(so.chars))
	for _, c := range so.chars {
		chars = append(chars, c.path)
	}
	return map[string]dbus.Variant{
		"UUID":            dbus.MakeVariant(so.def.UUID.String()),
		"Primary":         dbus.MakeVariant(so.def.Primary),
		"Includes":        dbus.MakeVariant(inc),
		"Characteristics": dbus.MakeVariant(chars),
	}
}

func (c *Char) props() map[string]dbus.Variant {
	descs := make([]dbus.ObjectPath, 0, len(c.descs))
	for _, d := range c.descs {
		descs = append(descs, d.path)
	}
	m := map[string]dbus.Variant{
		"UUID":        dbus.MakeVariant(c.def.UUID.String()),
		"Service":     dbus.MakeVariant(c.svc.path),
		"Flags":       dbus.MakeVariant(c.def.Flags.Strings()),
		"Descriptors": dbus.MakeVariant(descs),
	}
	if c.def.Flags&(notifyFlags|indicateFlags) != 0 {
		c.mu.Lock()
		m["Notifying"] = dbus.MakeVariant(c.notifying)
		m["Value"] = dbus.MakeVariant(append([]byte{}, c.value...))
		c.mu.Unlock()
	}
	return m
}

func (d *desc) props() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"UUID":           dbus.MakeVariant(d.def.UUID.String()),
		"Characteristic": dbus.MakeVariant(d.chr.path),
		"Flags":          dbus.MakeVariant(d.def.Flags.Strings()),
	}
}

// managedObjects is the reply to GetManagedObjects on the application root.
func (s *Server) managedObjects() map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	out := make(map[dbus.ObjectPath]map[string]map[string]dbus.Variant)
	for _, so := range s.services {
		out[so.path] = map[string]map[string]dbus.Variant{bluez.GattService1: s.serviceProps(so)}
		for _, c := range so.chars {
			out[c.path] = map[string]map[string]dbus.Variant{bluez.GattCharacteristic1: c.props()}
			for _, d := range c.descs {
				out[d.path] = map[string]map[string]dbus.Variant{bluez.GattDescriptor1: d.props()}
			}
		}
	}
	return out
}

// objectOrder lists the application's object paths in the order
// bluetoothd should create them: every service after the services it
// includes, then the characteristics and descriptors in declaration order.
func (s *Server) objectOrder() []dbus.ObjectPath {
	var out []dbus.ObjectPath
	done := make([]bool, len(s.services))
	var visit func(i int)
	visit = func(i int) {
		if done[i] {
			return
		}
		done[i] = true // before the includes: a cycle ends here
		for _, inc := range s.services[i].def.Includes {
			visit(inc)
		}
		out = append(out, s.services[i].path)
	}
	for i := range s.services {
		visit(i)
	}
	for _, so := range s.services {
		for _, c := range so.chars {
			out = append(out, c.path)
			for _, d := range c.descs {
				out = append(out, d.path)
			}
		}
	}
	return out
}

type objectManager struct{ s *Server }

// table returns the org.freedesktop.DBus.ObjectManager method table.
func (o objectManager) table() map[string]any {
	return map[string]any{"GetManagedObjects": o.GetManagedObjects}
}

// GetManagedObjects implements org.freedesktop.DBus.ObjectManager.
//
// bluetoothd creates the attributes of an application in the order in
// which it first learns of its objects, and a dictionary reply has no order
// (godbus encodes a Go map). So before replying, every object is announced
// with InterfacesAdded in objectOrder, which bluetoothd's D-Bus client
// processes first: characteristic handles follow the declaration order and
// an included service exists before the service that includes it.
func (o objectManager) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	objs := o.s.managedObjects()
	for _, p := range o.s.objectOrder() {
		if err := o.s.conn.Emit(o.s.root, bluez.InterfacesAdded, p, objs[p]); err != nil {
			o.s.log.Debug("announce object", "path", p, "err", err)
		}
	}
	return objs, nil
}

// propsTable returns an org.freedesktop.DBus.Properties method table for an
// object with a single interface whose properties get returns.
func propsTable(iface string, get func() map[string]dbus.Variant) map[string]any {
	return map[string]any{
		"Get": func(in, name string) (dbus.Variant, *dbus.Error) {
			if in != iface {
				return dbus.Variant{}, dbus.NewError(bluez.ErrorUnknownInterface, []any{in})
			}
			v, ok := get()[name]
			if !ok {
				return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{name})
			}
			return v, nil
		},
		"GetAll": func(in string) (map[string]dbus.Variant, *dbus.Error) {
			if in != iface {
				return map[string]dbus.Variant{}, nil
			}
			return get(), nil
		},
		"Set": func(in, name string, _ dbus.Variant) *dbus.Error {
			return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{name + " is read-only"})
		},
	}
}

var propsIntrospection = introspect.Interface{
	Name: bluez.Properties,
	Methods: []introspect.Method{
		{Name: "Get", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "name", Type: "s", Direction: "in"}, {Name: "value", Type: "v", Direction: "out"}}},
		{Name: "GetAll", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "props", Type: "a{sv}", Direction: "out"}}},
		{Name: "Set", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "name", Type: "s", Direction: "in"}, {Name: "value", Type: "v", Direction: "in"}}},
	},
	Signals: []introspect.Signal{{Name: "PropertiesChanged", Args: []introspect.Arg{{Type: "s"}, {Type: "a{sv}"}, {Type: "as"}}}},
}

// exportOne exports the object at p: iface's methods (none when methods is
// nil), its properties and an introspection document that lists children.
//
// Every export goes through method tables, never godbus's Export of a
// value: Export finds methods with reflect's Method, which keeps the linker
// from dropping any unused exported method of any type in the binary
// (cobra's help templates and text/template with them). With tables the
// daemon's binary is about a fifth smaller, and so is its resident code.
func (s *Server) exportOne(p dbus.ObjectPath, iface string, methods map[string]any, props func() map[string]dbus.Variant, children []dbus.ObjectPath) error {
	s.paths = append(s.paths, p)
	if methods != nil {
		if err := s.conn.ExportMethodTable(methods, p, iface); err != nil {
			return fmt.Errorf("gatt: export %s: %w", p, err)
		}
	}
	if props != nil {
		if err := s.conn.ExportMethodTable(propsTable(iface, props), p, bluez.Properties); err != nil {
			return fmt.Errorf("gatt: export %s: %w", p, err)
		}
	}
	node := func() *introspect.Node {
		node := &introspect.Node{Interfaces: []introspect.Interface{
			introspect.IntrospectData, propsIntrospection,
			{Name: iface, Methods: tableMethods(methods)},
		}}
		for _, c := range children {
			node.Children = append(node.Children, introspect.Node{Name: string(c)[len(p)+1:]})
		}
		return node
	}
	l := &lazyIntrospectable{node: node}
	if err := s.conn.ExportMethodTable(map[string]any{"Introspect": l.Introspect}, p, bluez.Introspectable); err != nil {
		return fmt.Errorf("gatt: export %s: %w", p, err)
	}
	return nil
}

var (
	typeError   = reflect.TypeFor[*dbus.Error]()
	typeSender  = reflect.TypeFor[dbus.Sender]()
	typeMessage = reflect.TypeFor[dbus.Message]()
)

// tableMethods describes the functions of a method table for introspection,
// as introspect.Methods does for a value's methods: arguments godbus fills
// in itself (the sender, the message) and the trailing *dbus.Error are left
// out. Methods are sorted by name.
func tableMethods(methods map[string]any) []introspect.Method {
	names := make([]string, 0, len(methods))
	for name := range methods {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]introspect.Method, 0, len(names))
	for _, name := range names {
		t := reflect.TypeOf(methods[name])
		if t == nil || t.Kind() != reflect.Func || t.NumOut() == 0 || t.Out(t.NumOut()-1) != typeError {
			continue
		}
		m := introspect.Method{Name: name, Args: []introspect.Arg{}, Annotations: []introspect.Annotation{}}
		for i := range t.NumIn() {
			if in := t.In(i); in != typeSender && in != typeMessage {
				m.Args = append(m.Args, introspect.Arg{Type: dbus.SignatureOfType(in).String(), Direction: "in"})
			}
		}
		for i := range t.NumOut() - 1 {
			m.Args = append(m.Args, introspect.Arg{Type: dbus.SignatureOfType(t.Out(i)).String(), Direction: "out"})
		}
		out = append(out, m)
	}
	return out
}

// lazyIntrospectable implements org.freedesktop.DBus.Introspectable with
// the document built at the first Introspect: bluetoothd never introspects
// an application (it reads GetManagedObjects), and marshalling the XML of
// every object with encoding/xml was a visible part of a start-up's CPU.
type lazyIntrospectable struct {
	once sync.Once
	node func() *introspect.Node
	doc  introspect.Introspectable
}

// Introspect implements org.freedesktop.DBus.Introspectable.Introspect.
func (l *lazyIntrospectable) Introspect() (string, *dbus.Error) {
	l.once.Do(func() {
		l.doc = introspect.NewIntrospectable(l.node())
		l.node = nil
	})
	return l.doc.Introspect()
}

func (s *Server) export() error {
	var svcPaths []dbus.ObjectPath
	for _, so := range s.services {
		svcPaths = append(svcPaths, so.path)
	}
	if err := s.exportOne(s.root, bluez.ObjectManager, objectManager{s}.table(), nil, svcPaths); err != nil {
		return err
	}
	for _, so := range s.services {
		so := so
		var kids []dbus.ObjectPath
		for _, c := range so.chars {
			kids = append(kids, c.path)
		}
		if err := s.exportOne(so.path, bluez.GattService1, nil, func() map[string]dbus.Variant { return s.serviceProps(so) }, kids); err != nil {
			return err
		}
		for _, c := range so.chars {
			var dk []dbus.ObjectPath
			for _, d := range c.descs {
				dk = append(dk, d.path)
			}
			if err := s.exportOne(c.path, bluez.GattCharacteristic1, (&charObj{c}).table(), c.props, dk); err != nil {
				return err
			}
			for _, d := range c.descs {
				if err := s.exportOne(d.path, bluez.GattDescriptor1, (&descObj{d}).table(), d.props, nil); err != nil {
					return err
				}
			}
		}
	}
	return s.exportAdv()
}

func (s *Server) unexport() {
	for _, p := range s.paths {
		for _, iface := range []string{bluez.ObjectManager, bluez.GattService1, bluez.GattCharacteristic1, bluez.GattDescriptor1, bluez.LEAdvertisement1, bluez.Properties, bluez.Introspectable} {
			_ = s.conn.ExportMethodTable(nil, p, iface)
		}
	}
	s.paths = nil
}

// fromBluez reports whether a call came from bluetoothd. Only bluetoothd
// may read, write or subscribe: other local peers get NotAuthorized.
func (s *Server) fromBluez(msg dbus.Message) bool {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	return sender != "" && sender == s.bluezOwner
}

var errNotBluez = dbus.NewError(bluez.ErrorNotAuthorized, []any{"caller is not org.bluez"})

// charObj carries the org.bluez.GattCharacteristic1 methods.
type charObj struct{ c *Char }

// table returns the GattCharacteristic1 method table.
func (o *charObj) table() map[string]any {
	return map[string]any{
		"ReadValue":   o.ReadValue,
		"WriteValue":  o.WriteValue,
		"StartNotify": o.StartNotify,
		"StopNotify":  o.StopNotify,
		"Confirm":     o.Confirm,
	}
}

// ReadValue implements GattCharacteristic1.ReadValue.
func (o *charObj) ReadValue(msg dbus.Message, opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	c := o.c
	if !c.srv.fromBluez(msg) {
		return nil, errNotBluez
	}
	r := parseOptions(opts)
	r.Session = c.srv.session(r.Device)
	var v []byte
	if c.def.OnRead != nil {
		var err error
		v, err = c.def.OnRead(&r)
		if err != nil {
			c.srv.log.Debug("read failed", "path", c.path, "device", r.Address, "err", err)
			return nil, toDBusError(err)
		}
	} else {
		c.mu.Lock()
		v = append([]byte{}, c.value...)
		c.mu.Unlock()
	}
	out, err := sliceRead(v, r.Offset)
	if err != nil {
		return nil, toDBusError(err)
	}
	return out, nil
}

// WriteValue implements GattCharacteristic1.WriteValue.
func (o *charObj) WriteValue(msg dbus.Message, value []byte, opts map[string]dbus.Variant) *dbus.Error {
	c := o.c
	defer c.srv.order.turn(&msg)()
	if !c.srv.fromBluez(msg) {
		return errNotBluez
	}
	r := parseOptions(opts)
	if msg.Flags&dbus.FlagNoReplyExpected != 0 {
		r.Type = WriteTypeCommand
	}
	return c.srv.write(c.path, &r, value, c.def.OnWrite, func(v []byte) {
		c.mu.Lock()
		c.value = v
		c.mu.Unlock()
	})
}

// StartNotify implements GattCharacteristic1.StartNotify.
func (o *charObj) StartNotify(msg dbus.Message) *dbus.Error {
	c := o.c
	if !c.srv.fromBluez(msg) {
		return errNotBluez
	}
	if c.def.Flags&(notifyFlags|indicateFlags) == 0 {
		return dbus.NewError(bluez.ErrorNotSupported, []any{"characteristic has no notify/indicate flag"})
	}
	c.setNotifying(true, true)
	return nil
}

// StopNotify implements GattCharacteristic1.StopNotify.
func (o *charObj) StopNotify(msg dbus.Message) *dbus.Error {
	c := o.c
	if !c.srv.fromBluez(msg) {
		return errNotBluez
	}
	c.setNotifying(false, true)
	return nil
}

// Confirm implements GattCharacteristic1.Confirm: bluetoothd calls it when a
// central confirmed an indication.
func (o *charObj) Confirm(msg dbus.Message) *dbus.Error {
	c := o.c
	if !c.srv.fromBluez(msg) {
		return errNotBluez
	}
	select {
	case c.confirm <- struct{}{}:
	default:
	}
	return nil
}

// descObj carries the org.bluez.GattDescriptor1 methods.
type descObj struct{ d *desc }

// table returns the GattDescriptor1 method table.
func (o *descObj) table() map[string]any {
	return map[string]any{"ReadValue": o.ReadValue, "WriteValue": o.WriteValue}
}

// ReadValue implements GattDescriptor1.ReadValue.
func (o *descObj) ReadValue(msg dbus.Message, opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	d := o.d
	if !d.srv.fromBluez(msg) {
		return nil, errNotBluez
	}
	r := parseOptions(opts)
	r.Session = d.srv.session(r.Device)
	var v []byte
	if d.def.OnRead != nil {
		var err error
		v, err = d.def.OnRead(&r)
		if err != nil {
			return nil, toDBusError(err)
		}
	} else {
		d.mu.Lock()
		v = append([]byte{}, d.value...)
		d.mu.Unlock()
	}
	out, err := sliceRead(v, r.Offset)
	if err != nil {
		return nil, toDBusError(err)
	}
	return out, nil
}

// WriteValue implements GattDescriptor1.WriteValue.
func (o *descObj) WriteValue(msg dbus.Message, value []byte, opts map[string]dbus.Variant) *dbus.Error {
	d := o.d
	defer d.srv.order.turn(&msg)()
	if !d.srv.fromBluez(msg) {
		return errNotBluez
	}
	r := parseOptions(opts)
	return d.srv.write(d.path, &r, value, d.def.OnWrite, func(v []byte) {
		d.mu.Lock()
		d.value = v
		d.mu.Unlock()
	})
}

// write is the common write path: long-write assembly, then the handler or
// the stored value.
func (s *Server) write(p dbus.ObjectPath, r *Request, chunk []byte, h func(*Request, []byte) error, store func([]byte)) *dbus.Error {
	r.Chunk = chunk
	r.Session = s.session(r.Device)
	v, err := r.Session.assemble(p, r.Offset, chunk)
	if err != nil {
		return toDBusError(err)
	}
	if h != nil {
		if err := h(r, v); err != nil {
			s.log.Debug("write failed", "path", p, "device", r.Address, "err", err)
			return toDBusError(err)
		}
		return nil
	}
	store(v)
	return nil
}

func (c *Char) setNotifying(on, fromBluez bool) {
	c.mu.Lock()
	was := c.notifying
	c.notifying = on
	c.mu.Unlock()
	if was != on {
		_ = c.srv.conn.Emit(c.path, bluez.PropertiesChanged, bluez.GattCharacteristic1,
			map[string]dbus.Variant{"Notifying": dbus.MakeVariant(on)}, []string{})
	}
	if f := c.def.OnSubscribe; f != nil && (fromBluez || was != on) {
		c.srv.events.push(func() { f(on) })
	}
}

// UUID returns the characteristic's UUID.
func (c *Char) UUID() UUID { return c.def.UUID }

// Path returns the characteristic's object path.
func (c *Char) Path() dbus.ObjectPath { return c.path }

// Subscribed reports whether at least one central has notifications or
// indications enabled (between bluetoothd's StartNotify and StopNotify).
func (c *Char) Subscribed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notifying
}

// Value returns a copy of the stored value (see Characteristic.Value).
func (c *Char) Value() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte{}, c.value...)
}

// SetValue replaces the stored value without notifying.
func (c *Char) SetValue(v []byte) error {
	if len(v) > maxValueLen {
		return ErrValueTooLong
	}
	c.mu.Lock()
	c.value = append([]byte{}, v...)
	c.mu.Unlock()
	return nil
}

// Notify stores value and, when a central is subscribed, sends it: BlueZ
// turns the Value PropertiesChanged signal into a notification, or an
// indication, for each central that enabled one in its CCC descriptor.
// With nobody subscribed nothing is sent and Notify returns nil. It does
// not wait for delivery.
func (c *Char) Notify(value []byte) error {
	_, err := c.send(value)
	return err
}

func (c *Char) send(value []byte) (bool, error) {
	if c.def.Flags&(notifyFlags|indicateFlags) == 0 {
		return false, ErrNotNotifiable
	}
	if len(value) > maxValueLen {
		return false, ErrValueTooLong
	}
	v := append([]byte{}, value...)
	c.mu.Lock()
	c.value = v
	on := c.notifying
	c.mu.Unlock()
	c.srv.mu.Lock()
	closed := c.srv.closed
	c.srv.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	if !on {
		return false, nil
	}
	err := c.srv.conn.Emit(c.path, bluez.PropertiesChanged, bluez.GattCharacteristic1,
		map[string]dbus.Variant{"Value": dbus.MakeVariant(v)}, []string{})
	if err != nil {
		return false, fmt.Errorf("gatt: notify %s: %w", c.def.UUID, err)
	}
	return true, nil
}

// Indicate sends value like Notify and then waits until bluetoothd reports
// a confirmation (Confirm) from a central, or ctx ends. Indications of one
// characteristic are serialised. With nobody subscribed it returns nil at
// once. If a central enabled notifications rather than indications, no
// confirmation comes; use Indicate only on characteristics that have an
// indicate flag and no notify flag, where BlueZ allows only indications.
func (c *Char) Indicate(ctx context.Context, value []byte) error {
	if c.def.Flags&indicateFlags == 0 {
		return ErrNotNotifiable
	}
	c.indMu.Lock()
	defer c.indMu.Unlock()
	select { // drop a stale confirmation
	case <-c.confirm:
	default:
	}
	sent, err := c.send(value)
	if err != nil || !sent {
		return err
	}
	select {
	case <-c.confirm:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gatt: indicate %s: %w", c.def.UUID, ctx.Err())
	case <-c.srv.ctx.Done():
		return ErrClosed
	}
}
