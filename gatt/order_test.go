package gatt_test

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
)

// Write commands that bluetoothd sends back to back reach OnWrite in the
// order the central wrote them when the server's connection comes from
// gatt.Connect (godbus alone runs them on goroutines in any order). Write
// requests and other calls are not held up.
func TestWriteCommandsRunInOrder(t *testing.T) {
	bus := gatttest.NewBus(t)
	fake := gatttest.New(t, bus.Address)
	conn, err := gatt.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var (
		mu  sync.Mutex
		got []byte
	)
	srv, err := gatt.Open(ctx(t), gatt.Config{Conn: conn, Services: basicServices(nil,
		func(r *gatt.Request, v []byte) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r.Chunk...)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	app := fake.App()
	dev := gatttest.DevicePath(centralAddr)
	const n = 400
	var want []byte
	for round := 0; round < 4; round++ {
		for i := 0; i < n/4; i++ {
			b := byte(len(want))
			want = append(want, b)
			if err := fake.WriteCommand(ctx(t), app, app.Char(cmdUUID.String()).Path, []byte{b}, gatttest.Options(dev, 23, 0)); err != nil {
				t.Fatal(err)
			}
		}
		// A write request in between is answered as before.
		if err := fake.WriteValue(ctx(t), app, app.Char(writeUUID.String()).Path, []byte{}, gatttest.Options(dev, 23, 0)); err != nil {
			t.Fatalf("write request: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		g := append([]byte(nil), got...)
		mu.Unlock()
		if len(g) >= n || time.Now().After(deadline) {
			if string(g) != string(want) {
				t.Fatalf("OnWrite saw %d write commands in the order\n% x\nwant\n% x", len(g), g, want)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
