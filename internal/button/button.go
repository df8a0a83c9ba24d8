// Package button turns presses of a physical button on a GPIO line into
// calls (the daemon's: open the setup window). The line is read through the
// Linux GPIO character device (/dev/gpiochipN, uAPI v2) with
// github.com/warthog618/go-gpiocdev, pure Go; Watch's debouncing works on
// any Input, so tests drive it with a fake.
package button

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Spec names a button's line: "gpiochip0:17" is line 17 of
// /dev/gpiochip0, a button that connects the pin to ground (active low,
// the internal pull-up enabled); "gpiochip0:17:active-high" is one that
// connects it to the supply (internal pull-down).
type Spec struct {
	Chip       string // "gpiochip0" or a path such as "/dev/gpiochip0"
	Offset     int    // the line's offset on the chip
	ActiveHigh bool   // pressed = high level (pull-down); default pressed = low (pull-up)
}

// String returns the spec as ParseSpec accepts it.
func (s Spec) String() string {
	v := s.Chip + ":" + strconv.Itoa(s.Offset)
	if s.ActiveHigh {
		v += ":active-high"
	}
	return v
}

// ParseSpec parses "CHIP:LINE[:active-low|active-high]".
func ParseSpec(v string) (Spec, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Spec{}, fmt.Errorf("button: %q: want CHIP:LINE[:active-high], for example gpiochip0:17", v)
	}
	off, err := strconv.Atoi(parts[1])
	if err != nil || off < 0 || off > 511 {
		return Spec{}, fmt.Errorf("button: %q: line %q is not an offset from 0 to 511", v, parts[1])
	}
	s := Spec{Chip: parts[0], Offset: off}
	if len(parts) == 3 {
		switch parts[2] {
		case "active-high":
			s.ActiveHigh = true
		case "active-low":
		default:
			return Spec{}, fmt.Errorf("button: %q: %q is neither active-low nor active-high", v, parts[2])
		}
	}
	return s, nil
}

// Edge is one change of the line's logical level.
type Edge struct {
	// Pressed is the level after the change: true when the button went down.
	Pressed bool
	// At is when it happened, on a monotonic clock (the kernel's event
	// timestamp); only differences matter.
	At time.Duration
}

// Input is a line's edges: Open returns one for a GPIO line, tests a fake.
type Input interface {
	// Edges delivers the line's edges in order; it is closed when the
	// input is closed or fails.
	Edges() <-chan Edge
	// Close releases the line.
	Close() error
}

// DefaultDebounce is Config.Debounce's default.
const DefaultDebounce = 50 * time.Millisecond

// Config configures Watch.
type Config struct {
	// Debounce is how long the line must have been quiet before a press
	// counts; edges closer together than that are contact bounce. Default
	// DefaultDebounce.
	Debounce time.Duration
	// OnPress is called, on Watch's goroutine, for each press. Required.
	OnPress func()
	// Logger logs presses at debug level; default: discard.
	Logger *slog.Logger
}

// ErrClosed is returned by Watch when the input's edge channel closes.
var ErrClosed = errors.New("button: input closed")

// Watch calls cfg.OnPress for each debounced press on in until ctx ends
// (it returns nil) or the input closes (ErrClosed). A press is a change to
// pressed after the line was quiet for Debounce; every edge, bounce or
// not, restarts the quiet time, so neither the bounces of a press nor those
// of its release count as another press.
func Watch(ctx context.Context, in Input, cfg Config) error {
	if cfg.OnPress == nil {
		return errors.New("button: Config.OnPress is required")
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var last time.Duration
	seen := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-in.Edges():
			if !ok {
				return ErrClosed
			}
			quiet := !seen || e.At-last >= cfg.Debounce
			seen, last = true, e.At
			if e.Pressed && quiet {
				log.Debug("button: pressed")
				cfg.OnPress()
			}
		}
	}
}
