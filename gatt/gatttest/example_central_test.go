package gatttest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

// Example_central tests a service end to end from a BlueZ central client
// (here package central) on the fake's second adapter, hci1: it finds the
// advertising service, connects, gets a notification and reads.
func Example_central() {
	bus, err := gatttest.StartBus()
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	fake, err := gatttest.Start(bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	fake.EnableCentral()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peripheral, err := dbus.Connect(bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer peripheral.Close()
	battery, level := gatt.UUID16(0x180f), gatt.UUID16(0x2a19)
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:    peripheral,
		Adapter: "hci0",
		Services: []gatt.Service{{UUID: battery, Primary: true, Characteristics: []gatt.Characteristic{
			{UUID: level, Flags: gatt.FlagRead | gatt.FlagNotify, Value: []byte{100}},
		}}},
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{battery}, LocalName: "battery"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	phone, err := dbus.Connect(bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer phone.Close()
	c, err := central.New(ctx, central.Config{Conn: phone, Adapter: "hci1"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{battery}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("found", adv.Name, adv.Address)
	p, err := c.Connect(ctx, adv.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	ch, err := p.Characteristic(level)
	if err != nil {
		log.Fatal(err)
	}
	values, stop, err := ch.Subscribe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for !srv.Characteristic(level).Subscribed() { // StartNotify reaches the service a moment later
		time.Sleep(10 * time.Millisecond)
	}
	_ = srv.Characteristic(level).Notify([]byte{99})
	fmt.Println("notified", <-values)
	stop()
	// Read after stop: like bluetoothd, the fake reports a read's value as
	// a change of Value too, which a subscriber would take for a
	// notification.
	v, err := ch.Read(ctx)
	fmt.Println("read", v, err)
	// Output:
	// found battery 00:AA:01:00:00:00
	// notified [99]
	// read [99] <nil>
}
