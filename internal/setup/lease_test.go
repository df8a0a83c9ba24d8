package setup

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	const a, b = "/org/bluez/hci0/dev_A", "/org/bluez/hci0/dev_B"
	type op struct {
		do      string // acquire, release, advance, hold, done
		central string
		d       time.Duration
		err     error  // for acquire
		holder  string // after the op; "" free
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"free lease goes to the first", []op{
			{do: "acquire", central: a, holder: a},
			{do: "acquire", central: b, err: ErrBusy, holder: a},
			{do: "acquire", central: a, holder: a},
		}},
		{"release by the holder frees it (setup ended or disconnect)", []op{
			{do: "acquire", central: a, holder: a},
			{do: "release", central: b, holder: a},
			{do: "release", central: a, holder: ""},
			{do: "acquire", central: b, holder: b},
		}},
		{"idle for a minute frees it; activity restarts the minute", []op{
			{do: "acquire", central: a, holder: a},
			{do: "advance", d: 50 * time.Second, holder: a},
			{do: "acquire", central: a, holder: a},
			{do: "advance", d: 59 * time.Second, holder: a},
			{do: "acquire", central: b, err: ErrBusy, holder: a},
			{do: "advance", d: time.Second, holder: ""},
			{do: "acquire", central: b, holder: b},
			{do: "acquire", central: a, err: ErrBusy, holder: b},
		}},
		{"a hold (join running) does not expire", []op{
			{do: "acquire", central: a, holder: a},
			{do: "hold", central: a, holder: a},
			{do: "advance", d: 5 * time.Minute, holder: a},
			{do: "acquire", central: b, err: ErrBusy, holder: a},
			{do: "done", holder: a},
			{do: "advance", d: 59 * time.Second, holder: a},
			{do: "advance", d: time.Second, holder: ""},
		}},
		{"a hold by a non-holder does nothing", []op{
			{do: "acquire", central: a, holder: a},
			{do: "hold", central: b, holder: a},
			{do: "advance", d: time.Minute, holder: ""},
			{do: "done", holder: ""},
		}},
		{"release during a hold frees it", []op{
			{do: "acquire", central: a, holder: a},
			{do: "hold", central: a, holder: a},
			{do: "release", central: a, holder: ""},
			{do: "acquire", central: b, holder: b},
			{do: "done", holder: b},
			{do: "advance", d: time.Minute, holder: ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(t0)
			l := NewLease(LeaseConfig{Clock: clk})
			var done func()
			for i, o := range tt.ops {
				switch o.do {
				case "acquire":
					if err := l.Acquire(o.central); !errors.Is(err, o.err) || (o.err == nil && err != nil) {
						t.Errorf("op %d: Acquire(%s) = %v, want %v", i, o.central, err, o.err)
					}
				case "release":
					l.Release(o.central)
				case "advance":
					clk.Advance(o.d)
				case "hold":
					done = l.Hold(o.central)
				case "done":
					done()
					done() // twice is harmless
				default:
					t.Fatalf("bad op %q", o.do)
				}
				h, until, ok := l.Holder()
				if h != o.holder || ok != (o.holder != "") {
					t.Errorf("op %d (%s): holder %q %v, want %q", i, o.do, h, ok, o.holder)
				}
				if ok && !until.IsZero() && !until.After(clk.Now()) {
					t.Errorf("op %d: held until %v, not after now %v", i, until, clk.Now())
				}
			}
		})
	}
}

func TestLeaseConcurrent(t *testing.T) {
	l := NewLease(LeaseConfig{})
	var wg sync.WaitGroup
	won := make(chan string, 20)
	for i := 0; i < 20; i++ {
		c := string(rune('a' + i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Acquire(c) == nil {
				won <- c
			}
		}()
	}
	wg.Wait()
	close(won)
	if n := len(won); n != 1 {
		t.Fatalf("%d centrals got the lease, want 1", n)
	}
}
