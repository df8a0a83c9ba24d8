// Package bluezfake is the old name of the fake bluetoothd, now the public
// package gatt/gatttest; it only forwards to it. New code imports gatttest.
package bluezfake

import (
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

// Types of gatttest.
type (
	Bluez        = gatttest.Bluez
	App          = gatttest.App
	Service      = gatttest.Service
	Char         = gatttest.Char
	Desc         = gatttest.Desc
	Adv          = gatttest.Adv
	Notification = gatttest.Notification
)

// Constants of gatttest.
const (
	AdapterPath    = gatttest.AdapterPath
	AdapterAddress = gatttest.AdapterAddress
)

// New is gatttest.New.
func New(t testing.TB, address string) *Bluez { t.Helper(); return gatttest.New(t, address) }

// DevicePath is gatttest.DevicePath.
func DevicePath(addr string) dbus.ObjectPath { return gatttest.DevicePath(addr) }

// AddressOf is gatttest.AddressOf.
func AddressOf(p dbus.ObjectPath) string { return gatttest.AddressOf(p) }

// NormalizeUUID is gatttest.NormalizeUUID.
func NormalizeUUID(s string) (string, error) { return gatttest.NormalizeUUID(s) }

// Options is gatttest.Options.
func Options(dev dbus.ObjectPath, mtu, offset uint16) map[string]dbus.Variant {
	return gatttest.Options(dev, mtu, offset)
}

// ErrorName is gatttest.ErrorName.
func ErrorName(err error) string { return gatttest.ErrorName(err) }
