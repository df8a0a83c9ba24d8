package gatt

import (
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/bluez"
)

// ATTError is an error a read or write handler returns to make the central
// see a specific ATT error code. Each value corresponds to one of the
// org.bluez.Error.* names that bluetoothd translates into an ATT error
// (dbus_error_to_att_ecode in BlueZ 5.66 src/gatt-database.c):
//
//	ErrFailed             org.bluez.Error.Failed             0x80 (application error)
//	ErrInProgress         org.bluez.Error.InProgress         0xfe (already in progress)
//	ErrNotPermitted       org.bluez.Error.NotPermitted       0x02 on read, 0x03 on write
//	ErrInvalidValueLength org.bluez.Error.InvalidValueLength 0x0d
//	ErrInvalidOffset      org.bluez.Error.InvalidOffset      0x07
//	ErrNotAuthorized      org.bluez.Error.NotAuthorized      0x08
//	ErrNotSupported       org.bluez.Error.NotSupported       0x06
//
// Values from 0x80 to 0x9f are application error codes: BlueZ sends
// org.bluez.Error.Failed with that number as the message and the central
// sees exactly that code.
//
// Handlers may wrap an ATTError (fmt.Errorf("ssid: %w", gatt.ErrInvalidValueLength));
// the server finds it with errors.As. Any other error becomes
// org.bluez.Error.Failed (ATT 0x80) and its text is logged, not sent.
type ATTError uint8

// ATT errors a handler can return. Their numeric values are the ATT error
// codes the central sees (for NotPermitted, the read variant).
const (
	ErrNotPermitted       ATTError = 0x02 // org.bluez.Error.NotPermitted
	ErrInvalidOffset      ATTError = 0x07 // org.bluez.Error.InvalidOffset
	ErrNotAuthorized      ATTError = 0x08 // org.bluez.Error.NotAuthorized
	ErrNotSupported       ATTError = 0x06 // org.bluez.Error.NotSupported
	ErrInvalidValueLength ATTError = 0x0d // org.bluez.Error.InvalidValueLength
	ErrFailed             ATTError = 0x80 // org.bluez.Error.Failed (application error 0x80)
	ErrInProgress         ATTError = 0xfe // org.bluez.Error.InProgress
)

// Error implements error.
func (e ATTError) Error() string {
	return "gatt: ATT error " + e.DBusName() + fmt.Sprintf(" (%#02x)", uint8(e))
}

// DBusName returns the org.bluez.Error.* name that makes bluetoothd answer
// with this error.
func (e ATTError) DBusName() string {
	switch {
	case e == ErrNotPermitted || e == 0x03:
		return bluez.ErrorNotPermitted
	case e == ErrInvalidOffset:
		return bluez.ErrorInvalidOffset
	case e == ErrNotAuthorized:
		return bluez.ErrorNotAuthorized
	case e == ErrNotSupported:
		return bluez.ErrorNotSupported
	case e == ErrInvalidValueLength:
		return bluez.ErrorInvalidValueLength
	case e == ErrInProgress:
		return bluez.ErrorInProgress
	}
	return bluez.ErrorFailed
}

// dbusError converts e into the D-Bus error that a ReadValue or WriteValue
// reply carries.
func (e ATTError) dbusError() *dbus.Error {
	name := e.DBusName()
	msg := e.Error()
	if name == bluez.ErrorFailed {
		code := uint8(e)
		if code < 0x80 || code > 0x9f {
			code = 0x80
		}
		// BlueZ parses the whole message as a number (strtol base 0).
		msg = fmt.Sprintf("%#02x", code)
	}
	return dbus.NewError(name, []any{msg})
}

// toDBusError maps a handler error onto the reply BlueZ understands.
func toDBusError(err error) *dbus.Error {
	var ae ATTError
	if errors.As(err, &ae) {
		return ae.dbusError()
	}
	return ErrFailed.dbusError()
}

// Sentinel errors of the package, for errors.Is.
var (
	// ErrInvalidApplication is returned by [Open] when the application
	// description would be rejected by BlueZ (empty or unknown flags, zero
	// UUID, GAP/GATT service UUID, ...).
	ErrInvalidApplication = errors.New("gatt: invalid application")
	// ErrClosed is returned by methods called after [Server.Close].
	ErrClosed = errors.New("gatt: server closed")
	// ErrNoAdapter is returned when no adapter matches Config.Adapter, or
	// bluetoothd has no adapter at all.
	ErrNoAdapter = errors.New("gatt: no such adapter")
	// ErrBluezNotRunning is returned when org.bluez has no owner on the bus.
	ErrBluezNotRunning = errors.New("gatt: bluetoothd (org.bluez) is not on the bus")
	// ErrNotNotifiable is returned by Notify and Indicate on a
	// characteristic without a notify or indicate flag.
	ErrNotNotifiable = errors.New("gatt: characteristic has no notify/indicate flag")
	// ErrValueTooLong is returned for a value longer than 512 bytes, the
	// longest attribute value ATT allows.
	ErrValueTooLong = errors.New("gatt: value longer than 512 bytes")
	// ErrAdvertisingSlotsFull is returned when the controller has no free
	// advertising instance (BlueZ: NotPermitted "Maximum advertisements reached").
	ErrAdvertisingSlotsFull = errors.New("gatt: no free advertising slot")
	// ErrAdvertisementTooLarge is returned when the advertising data or scan
	// response would exceed 31 bytes.
	ErrAdvertisementTooLarge = errors.New("gatt: advertisement does not fit in 31 bytes")
	// ErrAlreadyExists reports that BlueZ already has this object registered
	// (org.bluez.Error.AlreadyExists).
	ErrAlreadyExists = errors.New("gatt: already registered")
	// ErrBusy reports that bluetoothd is still changing the same adapter
	// setting (org.bluez.Error.Busy), for example powering the adapter on by
	// itself right after it started (main.conf AutoEnable). Trying again
	// once that change is done succeeds.
	ErrBusy = errors.New("gatt: adapter busy with a change of this setting")
)

// maxValueLen is BT_ATT_MAX_VALUE_LEN, the longest attribute value.
const maxValueLen = 512
