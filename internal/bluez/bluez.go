// Package bluez holds what the peripheral side (package gatt), the central
// side (package central) and the fake bluetoothd (gatt/gatttest) share about
// BlueZ's D-Bus API: the bus name, interface and error names, object-path
// helpers, the one rule by which an adapter is chosen, and the Bluetooth
// UUID type.
//
// See BlueZ's doc/adapter-api.txt, doc/device-api.txt, doc/gatt-api.txt and
// doc/advertising-api.txt.
package bluez

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"
)

// BusName is the well-known bus name bluetoothd owns.
const BusName = "org.bluez"

// Interfaces of bluetoothd and of the applications it talks to.
const (
	Adapter1              = "org.bluez.Adapter1"
	Device1               = "org.bluez.Device1"
	GattManager1          = "org.bluez.GattManager1"
	LEAdvertisingManager1 = "org.bluez.LEAdvertisingManager1"
	GattService1          = "org.bluez.GattService1"
	GattCharacteristic1   = "org.bluez.GattCharacteristic1"
	GattDescriptor1       = "org.bluez.GattDescriptor1"
	LEAdvertisement1      = "org.bluez.LEAdvertisement1"
)

// Standard D-Bus interfaces and the signals used from them.
const (
	ObjectManager     = "org.freedesktop.DBus.ObjectManager"
	Properties        = "org.freedesktop.DBus.Properties"
	Introspectable    = "org.freedesktop.DBus.Introspectable"
	PropertiesChanged = Properties + ".PropertiesChanged"
	InterfacesAdded   = ObjectManager + ".InterfacesAdded"
	InterfacesRemoved = ObjectManager + ".InterfacesRemoved"
)

// Error names bluetoothd answers with, or expects from applications
// (dbus_error_to_att_ecode in src/gatt-database.c).
const (
	ErrorFailed             = "org.bluez.Error.Failed"
	ErrorInProgress         = "org.bluez.Error.InProgress"
	ErrorNotPermitted       = "org.bluez.Error.NotPermitted"
	ErrorInvalidValueLength = "org.bluez.Error.InvalidValueLength"
	ErrorInvalidOffset      = "org.bluez.Error.InvalidOffset"
	ErrorNotAuthorized      = "org.bluez.Error.NotAuthorized"
	ErrorNotSupported       = "org.bluez.Error.NotSupported"
	ErrorNotConnected       = "org.bluez.Error.NotConnected"
	ErrorAlreadyConnected   = "org.bluez.Error.AlreadyConnected"
	ErrorAlreadyExists      = "org.bluez.Error.AlreadyExists"
	ErrorDoesNotExist       = "org.bluez.Error.DoesNotExist"
	ErrorNotAvailable       = "org.bluez.Error.NotAvailable"
	ErrorInvalidArguments   = "org.bluez.Error.InvalidArguments"
	ErrorNotReady           = "org.bluez.Error.NotReady"
	ErrorBusy               = "org.bluez.Error.Busy"
)

// Errors of the bus itself that callers of bluetoothd have to tell apart.
const (
	ErrorUnknownObject    = "org.freedesktop.DBus.Error.UnknownObject"
	ErrorUnknownMethod    = "org.freedesktop.DBus.Error.UnknownMethod"
	ErrorUnknownInterface = "org.freedesktop.DBus.Error.UnknownInterface"
	ErrorInvalidArgs      = "org.freedesktop.DBus.Error.InvalidArgs"
	ErrorServiceUnknown   = "org.freedesktop.DBus.Error.ServiceUnknown"
	ErrorNameHasNoOwner   = "org.freedesktop.DBus.Error.NameHasNoOwner"
)

// Objects is a GetManagedObjects reply: path → interface → property → value.
type Objects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

// ManagedObjects asks bluetoothd for all its objects. The error is the
// call's, unwrapped, so that callers can map its D-Bus name.
func ManagedObjects(ctx context.Context, conn *dbus.Conn) (Objects, error) {
	var objs Objects
	err := conn.Object(BusName, "/").CallWithContext(ctx, ObjectManager+".GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return nil, err
	}
	return objs, nil
}

// DevicePath returns where BlueZ puts the device with this address under
// adapter: /org/bluez/hci0 and 00:aa:01:01:00:01 give
// /org/bluez/hci0/dev_00_AA_01_01_00_01.
func DevicePath(adapter dbus.ObjectPath, address string) dbus.ObjectPath {
	return adapter + "/dev_" + dbus.ObjectPath(strings.ReplaceAll(strings.ToUpper(address), ":", "_"))
}

// AddressFromPath returns the Bluetooth address encoded in a BlueZ device
// object path (".../dev_00_AA_01_01_00_01" → "00:AA:01:01:00:01"), or ""
// when p is not a device path. Objects below a device (its services) give
// "" too.
func AddressFromPath(p dbus.ObjectPath) string {
	s := string(p)
	i := strings.LastIndex(s, "/dev_")
	if i < 0 {
		return ""
	}
	a := s[i+len("/dev_"):]
	if len(a) != 17 {
		return ""
	}
	b := []byte(a)
	for j := range b {
		if j%3 == 2 {
			if b[j] != '_' {
				return ""
			}
			b[j] = ':'
			continue
		}
		if !isHex(b[j]) {
			return ""
		}
	}
	return strings.ToUpper(string(b))
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Under reports whether p lies below parent (not parent itself):
// /org/bluez/hci0/dev_X is under /org/bluez/hci0, /org/bluez/hci01 is not.
func Under(p, parent dbus.ObjectPath) bool {
	return parent != "" && strings.HasPrefix(string(p), string(parent)+"/")
}

// ErrorMessage returns the first string of a D-Bus error's body, the
// message bluetoothd puts there, or "".
func ErrorMessage(e dbus.Error) string {
	if len(e.Body) > 0 {
		s, _ := e.Body[0].(string)
		return s
	}
	return ""
}
