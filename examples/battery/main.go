// Command battery is a BLE peripheral that publishes the Battery Service
// (0x180F) through BlueZ with the gatt package, advertises it and notifies
// a falling battery level every second.
//
//	battery [-adapter hci0] [-name battery] [-extra N] [-v]
//
// With -extra N it also publishes a second service with N characteristics
// that hold a value and do nothing else: an application of another size,
// for comparing start-up times (bluetoothd's work grows with the number of
// objects).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
)

func main() {
	adapter := flag.String("adapter", "", "adapter name or address (default: first)")
	name := flag.String("name", "battery", "advertised local name")
	extra := flag.Int("extra", 0, "characteristics of a second, idle service (0: none)")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*adapter, *name, *extra, log); err != nil {
		fmt.Fprintln(os.Stderr, "battery:", err)
		os.Exit(1)
	}
}

func run(adapter, name string, extra int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := gatt.ConnectSystemBus()
	if err != nil {
		return err
	}
	defer conn.Close()

	pct := byte(100)
	services := []gatt.Service{{
		UUID:    gatt.UUID16(0x180f),
		Primary: true,
		Characteristics: []gatt.Characteristic{{
			UUID:  gatt.UUID16(0x2a19),
			Flags: gatt.FlagRead | gatt.FlagNotify,
			Value: []byte{pct},
			Descriptors: []gatt.Descriptor{{
				UUID: gatt.UUID16(0x2901), Flags: gatt.FlagRead, Value: []byte("Battery level"),
			}},
			OnSubscribe: func(on bool) { log.Info("subscription", "on", on) },
		}},
	}}
	if extra > 0 {
		services = append(services, idleService(extra))
	}
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:          conn,
		Logger:        log,
		Adapter:       adapter,
		Services:      services,
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{gatt.UUID16(0x180f)}, LocalName: name},
		OnConnect:     func(d gatt.Device) { log.Info("connected", "device", d.Address) },
		OnDisconnect:  func(d gatt.Device) { log.Info("disconnected", "device", d.Address) },
		OnRegistered:  func() { log.Info("registered with bluetoothd") },
		OnError:       func(err error) { log.Error("gatt", "err", err) },
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Println("READY")

	ch := srv.Characteristic(gatt.UUID16(0x2a19))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if pct > 0 {
				pct--
			} else {
				pct = 100
			}
			if err := ch.Notify([]byte{pct}); err != nil {
				log.Error("notify", "err", err)
			}
		}
	}
}

// idleService returns a primary service with n characteristics that hold a
// value: two thirds readable and notifiable, the rest readable and
// writable, about the mix of a provisioning profile.
func idleService(n int) gatt.Service {
	svc := gatt.Service{UUID: gatt.MustParseUUID("8d5a0000-5b0e-4a83-9d0e-3b5c1a0f0000"), Primary: true}
	for i := range n {
		c := gatt.Characteristic{
			UUID:  gatt.MustParseUUID(fmt.Sprintf("8d5a%04x-5b0e-4a83-9d0e-3b5c1a0f0000", i+1)),
			Flags: gatt.FlagRead | gatt.FlagNotify,
			Value: []byte{byte(i)},
		}
		if i >= 2*n/3 {
			c.Flags = gatt.FlagRead | gatt.FlagWrite
		}
		svc.Characteristics = append(svc.Characteristics, c)
	}
	return svc
}
