package gatttest_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

// Example tests a small service the way bluetoothd would use it: a private
// bus, the fake bluetoothd on it, the service served by gatt.Open on its own
// connection, then a central's read and write. In a test, use
// gatttest.NewBus(t) and gatttest.New(t, bus.Address), which clean up by
// themselves.
func Example() {
	bus, err := gatttest.StartBus() // needs dbus-daemon (Debian package dbus)
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	fake, err := gatttest.Start(bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	conn, err := dbus.Connect(bus.Address) // the service's own connection
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	greeting := gatt.MustParseUUID("6e400002-b5a3-f393-e0a9-e50e24dcca9e")
	var mu sync.Mutex
	name := "world"
	ctx := context.Background()
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn: conn,
		Services: []gatt.Service{{
			UUID:    gatt.MustParseUUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e"),
			Primary: true,
			Characteristics: []gatt.Characteristic{{
				UUID:  greeting,
				Flags: gatt.FlagRead | gatt.FlagWrite,
				OnRead: func(*gatt.Request) ([]byte, error) {
					mu.Lock()
					defer mu.Unlock()
					return []byte("hello, " + name), nil
				},
				OnWrite: func(r *gatt.Request, v []byte) error {
					if len(v) == 0 {
						return gatt.ErrInvalidValueLength
					}
					mu.Lock()
					defer mu.Unlock()
					name = string(v)
					return nil
				},
			}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// Drive the registered application as bluetoothd does, for a central
	// that connected with an ATT MTU of 23.
	app := fake.Apps()[0]
	ch := app.Char(greeting.String()).Path
	dev := fake.Connect("00:AA:01:01:00:01")
	read := func() {
		v, err := fake.ReadValue(ctx, app, ch, gatttest.Options(dev, 23, 0))
		fmt.Printf("read %q %v\n", v, err)
	}
	read()
	fmt.Println("write:", fake.WriteValue(ctx, app, ch, []byte("gatttest"), gatttest.Options(dev, 23, 0)))
	read()
	err = fake.WriteValue(ctx, app, ch, nil, gatttest.Options(dev, 23, 0))
	fmt.Println("empty write:", gatttest.ErrorName(err))
	// Output:
	// read "hello, world" <nil>
	// write: <nil>
	// read "hello, gatttest" <nil>
	// empty write: org.bluez.Error.InvalidValueLength
}
