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
// time the process gets SIGUSR1 (`kill -USR1 $(pidof bluenet)`), after a
// collection, so that a leak shows as counts that keep growing between two
// quiet moments. It returns when ctx ends.
func logRuntimeOnSignal(ctx context.Context, log *slog.Logger) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-sig:
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			log.Info("runtime", "goroutines", runtime.NumGoroutine(), "heap_objects", m.HeapObjects,
				"heap_live_kib", m.HeapAlloc>>10, "heap_held_kib", (m.HeapInuse+m.HeapIdle-m.HeapReleased)>>10,
				"stacks_kib", m.StackSys>>10, "runtime_sys_kib", m.Sys>>10, "gc_cycles", m.NumGC)
		case <-ctx.Done():
			return
		}
	}
}
