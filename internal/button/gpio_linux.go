package button

import (
	"fmt"
	"sync"
	"time"

	"github.com/warthog618/go-gpiocdev"
)

// line is an Input on a GPIO character device line.
type line struct {
	l      *gpiocdev.Line
	edges  chan Edge
	mu     sync.Mutex
	closed bool
}

// Open requests spec's line as an input with edge events and the kernel's
// own debouncing (debounce, if > 0; uAPI v2, Linux 5.10 and later) and the
// bias that suits the wiring (pull-up for active low, pull-down for active
// high). The caller closes it.
func Open(spec Spec, debounce time.Duration) (Input, error) {
	in := &line{edges: make(chan Edge, 32)}
	opts := []gpiocdev.LineReqOption{
		gpiocdev.WithConsumer("bluenet-button"),
		gpiocdev.AsInput,
		gpiocdev.WithBothEdges,
		gpiocdev.WithEventHandler(in.handle),
	}
	if spec.ActiveHigh {
		opts = append(opts, gpiocdev.AsActiveHigh, gpiocdev.WithPullDown)
	} else {
		opts = append(opts, gpiocdev.AsActiveLow, gpiocdev.WithPullUp)
	}
	if debounce > 0 {
		opts = append(opts, gpiocdev.WithDebounce(debounce))
	}
	l, err := gpiocdev.RequestLine(spec.Chip, spec.Offset, opts...)
	if err != nil {
		return nil, fmt.Errorf("button: request %s: %w", spec, err)
	}
	in.l = l
	return in, nil
}

// handle runs on gpiocdev's event goroutine; it never blocks (an edge is
// dropped when 32 are waiting, which only a stuck reader causes).
func (in *line) handle(e gpiocdev.LineEvent) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	select {
	case in.edges <- Edge{Pressed: e.Type == gpiocdev.LineEventRisingEdge, At: e.Timestamp}:
	default:
	}
}

func (in *line) Edges() <-chan Edge { return in.edges }

func (in *line) Close() error {
	err := in.l.Close()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.closed {
		in.closed = true
		close(in.edges)
	}
	if err != nil {
		return fmt.Errorf("button: %w", err)
	}
	return nil
}
