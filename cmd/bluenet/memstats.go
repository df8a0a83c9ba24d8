package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// logRuntimeOnSignal logs the Go runtime's view of the daemon's memory each
// time the process gets SIGUSR1 (`kill -USR1 $(pidof bluenet)`): the heap
// it holds and its other memory as found, then goroutines and the live heap
// after a collection, so that a leak shows as counts that keep growing
// between two quiet moments. It returns when ctx ends.
func logRuntimeOnSignal(ctx context.Context, log *slog.Logger) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-sig:
			// As found (what the process holds now), then after a
			// collection (what is alive).
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			held := m.HeapInuse + m.HeapIdle - m.HeapReleased
			other := m.MSpanInuse + m.MCacheInuse + m.BuckHashSys + m.GCSys + m.OtherSys
			runtime.GC()
			runtime.ReadMemStats(&m)
			log.Info("runtime", "goroutines", runtime.NumGoroutine(), "heap_objects", m.HeapObjects,
				"heap_live_kib", m.HeapAlloc>>10, "heap_held_kib", held>>10, "heap_inuse_kib", m.HeapInuse>>10,
				"stacks_kib", m.StackInuse>>10, "runtime_other_kib", other>>10, "gc_cycles", m.NumGC)
		case <-ctx.Done():
			return
		}
	}
}
