// Package watch fans the latest value of something out to any number of
// watchers through coalescing channels: a slow watcher never blocks the
// publisher and may miss intermediate values, but always receives the
// latest one. It is the stream behind wifi.Backend's Watch methods, in the
// real backend and in its test fake alike.
package watch

import (
	"context"
	"sync"
)

// Hub holds a current value and the channels of its watchers. The zero
// value is not usable; call New. All methods are safe for concurrent use.
type Hub[T any] struct {
	clone func(T) T

	mu     sync.Mutex
	cur    T
	subs   map[chan T]struct{}
	closed bool
	done   chan struct{}
}

// New returns a hub holding initial. clone copies a value so that no two
// watchers share memory (nil: values are copied as they are).
func New[T any](initial T, clone func(T) T) *Hub[T] {
	if clone == nil {
		clone = func(v T) T { return v }
	}
	return &Hub[T]{clone: clone, cur: initial, subs: map[chan T]struct{}{}, done: make(chan struct{})}
}

// Get returns (a copy of) the current value.
func (h *Hub[T]) Get() T {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clone(h.cur)
}

// Set makes v the current value and offers it to every watcher, replacing
// a value a watcher has not read yet. After Close it only stores v.
func (h *Hub[T]) Set(v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = v
	for ch := range h.subs {
		offer(ch, h.clone(v))
	}
}

// Watch returns a channel that receives the current value at once and then
// the latest value after every Set. The channel is closed when ctx is done
// or the hub is closed.
func (h *Hub[T]) Watch(ctx context.Context) <-chan T {
	ch := make(chan T, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch
	}
	ch <- h.clone(h.cur)
	h.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-h.done:
			return // Close closes the channel
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}()
	return ch
}

// Watchers returns how many watchers are subscribed.
func (h *Hub[T]) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close closes every watcher's channel; later Watch calls get a closed
// channel. It may be called more than once.
func (h *Hub[T]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}

// offer puts v into the one-slot channel ch, replacing an unread value.
// Only one goroutine sends at a time (callers hold the hub's lock), so it
// terminates.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
