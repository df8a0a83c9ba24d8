package button

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeInput is an Input driven by the test.
type fakeInput struct{ ch chan Edge }

func newFake() *fakeInput               { return &fakeInput{ch: make(chan Edge, 100)} }
func (f *fakeInput) Edges() <-chan Edge { return f.ch }
func (f *fakeInput) Close() error       { close(f.ch); return nil }
func ms(n int) time.Duration            { return time.Duration(n) * time.Millisecond }
func down(at int) Edge                  { return Edge{Pressed: true, At: ms(at)} }
func up(at int) Edge                    { return Edge{Pressed: false, At: ms(at)} }
func seq(es ...Edge) []Edge             { return es }
func bounce(at int, n int, pressed bool) []Edge {
	// n alternating edges 1 ms apart ending on pressed.
	var es []Edge
	for i := 0; i < n; i++ {
		p := (n-1-i)%2 == 0
		if !pressed {
			p = !p
		}
		es = append(es, Edge{Pressed: p, At: ms(at + i)})
	}
	return es
}

func TestWatchDebounce(t *testing.T) {
	tests := []struct {
		name     string
		debounce time.Duration
		edges    []Edge
		want     int
	}{
		{"one clean press and release", 0, seq(down(1000), up(1200)), 1},
		{"two clean presses", 0, seq(down(1000), up(1200), down(2000), up(2200)), 2},
		{"first edge counts at once", 0, seq(down(5)), 1},
		{"a release alone is no press", 0, seq(up(1000)), 0},
		{"bouncy press and bouncy release count once", 0,
			append(append(bounce(1000, 7, true), up(1300)), bounce(1301, 5, false)...), 1},
		{"presses closer than the debounce are one", ms(100), seq(down(1000), up(1040), down(1080), up(1300)), 1},
		{"presses just at the debounce are two", ms(100), seq(down(1000), up(1100), down(1200), up(1300)), 2},
		{"a press right after a bouncy release does not count", 0,
			append(seq(down(1000)), append(bounce(1200, 5, false), down(1210))...), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newFake()
			for _, e := range tt.edges {
				in.ch <- e
			}
			in.Close()
			n := 0
			err := Watch(context.Background(), in, Config{Debounce: tt.debounce, OnPress: func() { n++ }})
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Watch: %v, want ErrClosed", err)
			}
			if n != tt.want {
				t.Errorf("%d presses, want %d (edges %v)", n, tt.want, tt.edges)
			}
		})
	}
}

func TestWatchStops(t *testing.T) {
	in := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	presses := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, in, Config{OnPress: func() { presses <- struct{}{} }}) }()
	in.ch <- down(1000)
	select {
	case <-presses:
	case <-time.After(5 * time.Second):
		t.Fatal("press not seen")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not stop")
	}
	if err := Watch(context.Background(), in, Config{}); err == nil {
		t.Fatal("Watch without OnPress: no error")
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"gpiochip0:17", Spec{Chip: "gpiochip0", Offset: 17}, ""},
		{"/dev/gpiochip1:0:active-high", Spec{Chip: "/dev/gpiochip1", Offset: 0, ActiveHigh: true}, ""},
		{"gpiochip0:4:active-low", Spec{Chip: "gpiochip0", Offset: 4}, ""},
		{"gpiochip0", Spec{}, "want CHIP:LINE"},
		{":17", Spec{}, "want CHIP:LINE"},
		{"gpiochip0:x", Spec{}, "not an offset"},
		{"gpiochip0:-1", Spec{}, "not an offset"},
		{"gpiochip0:17:sideways", Spec{}, "neither"},
		{"a:1:b:c", Spec{}, "want CHIP:LINE"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, _ := ParseSpec(got.String()); back != got {
			t.Errorf("String round trip of %+v gave %+v", got, back)
		}
	}
}

func TestOpenMissingChip(t *testing.T) {
	_, err := Open(Spec{Chip: "gpiochip-none", Offset: 3}, DefaultDebounce)
	if err == nil || !strings.Contains(err.Error(), "gpiochip-none:3") {
		t.Fatalf("Open of a missing chip: %v", err)
	}
}
