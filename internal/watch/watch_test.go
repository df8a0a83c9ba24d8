package watch

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestWatchGetsCurrentThenLatest(t *testing.T) {
	h := New(1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Watch(ctx)
	if v := <-ch; v != 1 {
		t.Fatalf("first value %d, want the current value 1", v)
	}
	// A watcher that does not read sees only the latest of several values.
	for v := 2; v <= 10; v++ {
		h.Set(v)
	}
	if v := <-ch; v != 10 {
		t.Fatalf("after 2..10 unread: got %d, want 10 (coalesced)", v)
	}
	select {
	case v := <-ch:
		t.Fatalf("unexpected extra value %d", v)
	default:
	}
	if got := h.Get(); got != 10 {
		t.Fatalf("Get = %d, want 10", got)
	}
}

func TestSetNeverBlocks(t *testing.T) {
	h := New(0, nil)
	for i := 0; i < 8; i++ {
		h.Watch(context.Background()) // nobody reads these
	}
	done := make(chan struct{})
	go func() {
		for v := 0; v < 10000; v++ {
			h.Set(v)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Set blocked on watchers that do not read")
	}
}

func TestCloneIsolatesWatchers(t *testing.T) {
	h := New([]int{1, 2}, slices.Clone[[]int])
	a, b := h.Watch(context.Background()), h.Watch(context.Background())
	va, vb := <-a, <-b
	va[0] = 99
	if vb[0] != 1 || h.Get()[0] != 1 {
		t.Fatalf("watchers share memory: %v %v", vb, h.Get())
	}
}

func TestChannelsClose(t *testing.T) {
	tests := []struct {
		name string
		end  func(h *Hub[int], cancel context.CancelFunc)
	}{
		{"context done", func(_ *Hub[int], cancel context.CancelFunc) { cancel() }},
		{"hub closed", func(h *Hub[int], _ context.CancelFunc) { h.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(0, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := h.Watch(ctx)
			<-ch
			tt.end(h, cancel)
			select {
			case _, ok := <-ch:
				if ok {
					t.Fatal("got a value, want the channel closed")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("channel not closed")
			}
			deadline := time.Now().Add(5 * time.Second)
			for h.Watchers() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := h.Watchers(); n != 0 {
				t.Fatalf("%d watchers left", n)
			}
		})
	}
	h := New(0, nil)
	h.Close()
	h.Close() // twice is fine
	if _, ok := <-h.Watch(context.Background()); ok {
		t.Fatal("Watch after Close: want a closed channel")
	}
	h.Set(3) // stored, no panic
}
