package setup

import (
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	const a, b = "A", "B"
	type op struct {
		do      string // write, done, failed, disc, allow, advance, online, offline
		central string
		d       time.Duration
		want    error // for write
		open    *bool // window open after the op, if set
	}
	yes, no := true, false
	tests := []struct {
		name string
		mode Mode
		ops  []op
	}{
		{"closed window refuses, allow opens", Button, []op{
			{do: "write", central: a, want: ErrNotAuthorized},
			{do: "allow", open: &yes},
			{do: "write", central: a},
			{do: "write", central: b, want: ErrBusy},
			{do: "done", central: a, open: &no},
			{do: "write", central: b, want: ErrNotAuthorized},
		}},
		{"a setup started in the window may finish after it closed", Button, []op{
			{do: "allow"},
			{do: "advance", d: 50 * time.Second},
			{do: "write", central: a},
			{do: "advance", d: 20 * time.Second, open: &no},
			{do: "write", central: a},
			{do: "write", central: b, want: ErrNotAuthorized},
			{do: "disc", central: a},
			{do: "write", central: a, want: ErrNotAuthorized},
		}},
		{"a failed attempt restarts the authorization and frees the lease", Button, []op{
			{do: "allow"},
			{do: "write", central: a},
			{do: "advance", d: 50 * time.Second},
			{do: "failed", central: a},
			{do: "advance", d: 50 * time.Second, open: &yes},
			{do: "write", central: b},
			{do: "advance", d: 10 * time.Second},
			{do: "write", central: b},
		}},
		{"an idle holder loses the lease", Always, []op{
			{do: "write", central: a},
			{do: "write", central: b, want: ErrBusy},
			{do: "advance", d: time.Minute},
			{do: "write", central: b},
			{do: "write", central: a, want: ErrBusy},
		}},
		{"a second phone after the first disconnects", Always, []op{
			{do: "write", central: a},
			{do: "write", central: b, want: ErrBusy},
			{do: "disc", central: b},
			{do: "write", central: b, want: ErrBusy},
			{do: "disc", central: a},
			{do: "write", central: b},
		}},
		{"auto: online device refuses, offline for reopen-after accepts", Auto, []op{
			{do: "online"},
			{do: "write", central: a, want: ErrNotAuthorized},
			{do: "offline"},
			{do: "advance", d: DefaultReopenAfter, open: &yes},
			{do: "write", central: a},
			{do: "online"},
			{do: "done", central: a, open: &no},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(t0)
			w := New(Config{Mode: tt.mode, Clock: clk, Uptime: func() (time.Duration, error) { return time.Hour, nil }})
			defer w.Close()
			g := NewGate(w, NewLease(LeaseConfig{Clock: clk}))
			for i, o := range tt.ops {
				var err error
				switch o.do {
				case "write":
					err = g.Write(o.central)
				case "done":
					g.Done(o.central)
				case "failed":
					g.Failed(o.central)
				case "disc":
					g.Disconnected(o.central)
				case "allow":
					w.Authorize(0)
				case "advance":
					clk.Advance(o.d)
				case "online":
					w.SetOnline(true)
				case "offline":
					w.SetOnline(false)
				default:
					t.Fatalf("bad op %q", o.do)
				}
				if o.do == "write" && !errors.Is(err, o.want) || (o.want == nil && err != nil) {
					t.Errorf("op %d: %s(%s) = %v, want %v", i, o.do, o.central, err, o.want)
				}
				if o.open != nil && w.Open() != *o.open {
					t.Errorf("op %d: window open %v, want %v (%+v)", i, w.Open(), *o.open, w.State())
				}
			}
		})
	}
}

func TestGateJoiningOutlastsIdle(t *testing.T) {
	clk := newFakeClock(t0)
	w := New(Config{Mode: Always, Clock: clk})
	defer w.Close()
	g := NewGate(w, NewLease(LeaseConfig{Clock: clk}))
	if err := g.Write("A"); err != nil {
		t.Fatal(err)
	}
	end := g.Joining("A")
	clk.Advance(3 * time.Minute)
	if err := g.Write("B"); !errors.Is(err, ErrBusy) {
		t.Fatalf("during a long join: %v, want ErrBusy", err)
	}
	end()
	g.Failed("A")
	if err := g.Write("B"); err != nil {
		t.Fatalf("after the join: %v", err)
	}
}
