package gatt_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/godbus/dbus/v5"
)

// Example publishes a Battery Service with a readable, notifying Battery
// Level and a writable characteristic, advertises it, and notifies a new
// level every second. It needs bluetoothd on the system bus.
func Example() {
	conn, err := dbus.ConnectSystemBus() // a private connection, not dbus.SystemBus()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	level := byte(100)
	srv, err := gatt.Open(context.Background(), gatt.Config{
		Conn:    conn,
		Adapter: "hci0",
		Services: []gatt.Service{{
			UUID:    gatt.UUID16(0x180f), // Battery Service
			Primary: true,
			Characteristics: []gatt.Characteristic{{
				UUID:  gatt.UUID16(0x2a19), // Battery Level
				Flags: gatt.FlagRead | gatt.FlagNotify,
				Value: []byte{level},
				Descriptors: []gatt.Descriptor{{
					UUID: gatt.UUID16(0x2901), Flags: gatt.FlagRead, Value: []byte("Battery level in %"),
				}},
			}, {
				UUID:  gatt.MustParseUUID("fbe51528-b3e6-4f68-b6da-410c0bba1a78"),
				Flags: gatt.FlagWrite,
				OnWrite: func(r *gatt.Request, v []byte) error {
					if len(v) > 32 {
						return gatt.ErrInvalidValueLength // the central sees ATT error 0x0d
					}
					fmt.Printf("%s wrote %q\n", r.Address, v)
					return nil
				},
			}},
		}},
		Advertisement: &gatt.Advertisement{
			ServiceUUIDs: []gatt.UUID{gatt.UUID16(0x180f)},
			LocalName:    "battery",
		},
		OnConnect:    func(d gatt.Device) { fmt.Println("connected", d.Address) },
		OnDisconnect: func(d gatt.Device) { fmt.Println("disconnected", d.Address) },
		OnError:      func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	battery := srv.Characteristic(gatt.UUID16(0x2a19))
	for range time.Tick(time.Second) {
		level--
		_ = battery.Notify([]byte{level}) // sent only while someone is subscribed
	}
}
