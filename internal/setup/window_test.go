package setup

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one input to a window followed by what it must look like.
type step struct {
	do   string        // "online", "offline", "authorize", "renew", "revoke", "advance", "" (look only)
	d    time.Duration // for advance and authorize
	want State         // Until and OpensAt as offsets from t0 via at()
	// until and opens are offsets from t0; -1 means zero time.
	until, opens time.Duration
}

const never = time.Duration(-1)

func at(d time.Duration) time.Time {
	if d == never {
		return time.Time{}
	}
	return t0.Add(d)
}

func TestWindow(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name   string
		cfg    Config
		uptime time.Duration // at t0; <0: Uptime fails
		steps  []step
	}{
		{
			name: "auto: online long after boot is closed", uptime: time.Hour,
			steps: []step{
				{do: "", want: State{Reason: ReasonClosed}, until: never, opens: never},
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
				{do: "advance", d: time.Hour, want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: boot window, measured from boot not from start", uptime: 5 * m,
			steps: []step{
				{do: "online", want: State{Open: true, Reason: ReasonBoot}, until: 10 * m, opens: never},
				{do: "advance", d: 10*m - time.Second, want: State{Open: true, Reason: ReasonBoot}, until: 10 * m, opens: never},
				{do: "advance", d: time.Second, want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: first setup (offline at the first report) is open at once and stays open", uptime: time.Hour,
			steps: []step{
				{do: "offline", want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
				{do: "advance", d: 3 * time.Hour, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: network gone reopens after ReopenAfter", uptime: time.Hour,
			steps: []step{
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
				{do: "advance", d: m},
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: 3 * m},
				{do: "advance", d: 2*m - time.Second, want: State{Reason: ReasonClosed}, until: never, opens: 3 * m},
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: 3 * m}, // repeated: keeps its start
				{do: "advance", d: time.Second, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: a short outage restarts the reopen delay", uptime: time.Hour,
			cfg: Config{ReopenAfter: 30 * time.Second},
			steps: []step{
				{do: "online"},
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: 30 * time.Second},
				{do: "advance", d: 20 * time.Second},
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
				{do: "advance", d: 20 * time.Second},
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: 70 * time.Second},
				{do: "advance", d: 30 * time.Second, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
			},
		},
		{
			name: "auto: offline inside the boot window stays open past it", uptime: 14 * m,
			cfg: Config{ReopenAfter: 30 * time.Second},
			steps: []step{
				{do: "online", want: State{Open: true, Reason: ReasonBoot}, until: m, opens: never},
				{do: "offline", want: State{Open: true, Reason: ReasonBoot}, until: never, opens: never},
				{do: "advance", d: 29 * time.Second, want: State{Open: true, Reason: ReasonBoot}, until: never, opens: never},
				{do: "advance", d: time.Second, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
				{do: "advance", d: time.Hour, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
			},
		},
		{
			name: "auto: offline with a reopen after the boot window closes in between", uptime: 14 * m,
			steps: []step{
				{do: "online"},
				{do: "advance", d: 30 * time.Second},
				{do: "offline", want: State{Open: true, Reason: ReasonBoot}, until: m, opens: never},
				{do: "advance", d: 30 * time.Second, want: State{Reason: ReasonClosed}, until: never, opens: 150 * time.Second},
				{do: "advance", d: 90 * time.Second, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
			},
		},
		{
			name: "auto: negative ReopenAfter never reopens", uptime: time.Hour, cfg: Config{ReopenAfter: -1},
			steps: []step{
				{do: "online"},
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: never},
				{do: "advance", d: 24 * time.Hour, want: State{Reason: ReasonClosed}, until: never, opens: never},
			},
		},
		{
			name: "auto: negative WindowTime has no boot window", uptime: 0, cfg: Config{WindowTime: -1},
			steps: []step{
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: unknown uptime means no boot window", uptime: -1,
			steps: []step{
				{do: "online", want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: authorize while online, then revoke", uptime: time.Hour,
			steps: []step{
				{do: "online"},
				{do: "authorize", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: m, opens: never},
				{do: "advance", d: 30 * time.Second},
				{do: "revoke", want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: authorize inside the boot window keeps the later end", uptime: 14*m + 30*time.Second,
			steps: []step{
				{do: "online", want: State{Open: true, Reason: ReasonBoot}, until: 30 * time.Second, opens: never},
				{do: "authorize", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: m, opens: never},
				{do: "advance", d: 45 * time.Second, want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: m, opens: never},
				{do: "advance", d: 15 * time.Second, want: State{Reason: ReasonOnline}, until: never, opens: never},
			},
		},
		{
			name: "auto: authorized while offline-open stays open without end", uptime: time.Hour,
			steps: []step{
				{do: "offline"},
				{do: "authorize", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: never, opens: never},
				{do: "advance", d: m, want: State{Open: true, Reason: ReasonOffline}, until: never, opens: never},
			},
		},
		{
			name: "always is open whatever happens", uptime: time.Hour, cfg: Config{Mode: Always},
			steps: []step{
				{do: "", want: State{Open: true, Reason: ReasonAlways}, until: never, opens: never},
				{do: "online", want: State{Open: true, Reason: ReasonAlways}, until: never, opens: never},
				{do: "offline", want: State{Open: true, Reason: ReasonAlways}, until: never, opens: never},
				{do: "advance", d: time.Hour, want: State{Open: true, Reason: ReasonAlways}, until: never, opens: never},
			},
		},
		{
			name: "button: closed until authorized, even offline and just booted", uptime: 0, cfg: Config{Mode: Button},
			steps: []step{
				{do: "offline", want: State{Reason: ReasonClosed}, until: never, opens: never},
				{do: "renew", want: State{Reason: ReasonClosed}, until: never, opens: never}, // nothing to renew
				{do: "authorize", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: m, opens: never},
				{do: "advance", d: 40 * time.Second},
				{do: "renew", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: 100 * time.Second, opens: never},
				{do: "advance", d: m - time.Second, want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: 100 * time.Second, opens: never},
				{do: "advance", d: time.Second, want: State{Reason: ReasonClosed}, until: never, opens: never},
				{do: "renew", want: State{Reason: ReasonClosed}, until: never, opens: never},
			},
		},
		{
			name: "button: authorize with a duration, a second one replaces it", uptime: 0,
			cfg: Config{Mode: Button, AuthorizedFor: 10 * time.Second},
			steps: []step{
				{do: "authorize", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: 10 * time.Second, opens: never},
				{do: "authorize", d: 5 * m, want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: 5 * m, opens: never},
				{do: "renew", want: State{Open: true, Authorized: true, Reason: ReasonAuthorized}, until: 5 * m, opens: never},
				{do: "advance", d: 5 * m, want: State{Reason: ReasonClosed}, until: never, opens: never},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(t0)
			cfg := tt.cfg
			cfg.Clock = clk
			cfg.Uptime = func() (time.Duration, error) {
				if tt.uptime < 0 {
					return 0, errors.New("no uptime")
				}
				return tt.uptime, nil
			}
			w := New(cfg)
			defer w.Close()
			var elapsed time.Duration
			for i, s := range tt.steps {
				switch s.do {
				case "online":
					w.SetOnline(true)
				case "offline":
					w.SetOnline(false)
				case "authorize":
					w.Authorize(s.d)
				case "renew":
					w.Renew()
				case "revoke":
					w.Revoke()
				case "advance":
					clk.Advance(s.d)
					elapsed += s.d
				case "":
				default:
					t.Fatalf("bad step %q", s.do)
				}
				if s.want == (State{}) && s.until == 0 && s.opens == 0 {
					continue // no expectation
				}
				want := s.want
				want.Until = at(s.until)
				want.OpensAt = at(s.opens)
				got := w.State()
				if got != want {
					t.Errorf("step %d (%s %v, at +%v): state\n got  %+v\n want %+v", i, s.do, s.d, elapsed, got, want)
				}
				if got.Open != w.Open() || (w.Check() == nil) != got.Open {
					t.Errorf("step %d: Open/Check disagree with State", i)
				}
				if got.Open {
					continue
				}
				if !errors.Is(w.Check(), ErrNotAuthorized) {
					t.Errorf("step %d: Check = %v, want ErrNotAuthorized", i, w.Check())
				}
			}
		})
	}
}

// TestWindowChanges checks that every change, including those the timer
// makes, reaches the Changes channel, and that the channel holds the latest.
func TestWindowChanges(t *testing.T) {
	clk := newFakeClock(t0)
	w := New(Config{Clock: clk, Uptime: func() (time.Duration, error) { return time.Hour, nil }})
	ch := w.Changes()
	expectNone := func(when string) {
		t.Helper()
		select {
		case st := <-ch:
			t.Fatalf("%s: unexpected change %+v", when, st)
		default:
		}
	}
	expect := func(when string, open bool, r Reason) {
		t.Helper()
		select {
		case st := <-ch:
			if st.Open != open || st.Reason != r {
				t.Fatalf("%s: change %+v, want open=%v reason=%s", when, st, open, r)
			}
		default:
			t.Fatalf("%s: no change sent", when)
		}
	}
	expectNone("after New")
	w.SetOnline(true)
	expect("online", false, ReasonOnline)
	w.SetOnline(true)
	expectNone("online again")
	w.SetOnline(false)
	expect("offline (OpensAt set)", false, ReasonClosed)
	clk.Advance(DefaultReopenAfter)
	expect("reopen by timer", true, ReasonOffline)
	w.SetOnline(true)
	w.Authorize(0)
	// Two changes, one slot: only the latest is kept.
	expect("authorized (latest of two)", true, ReasonAuthorized)
	clk.Advance(DefaultAuthorizedFor)
	expect("authorization ran out", false, ReasonOnline)
	if n := clk.pending(); n != 0 {
		t.Errorf("%d timers armed while nothing can change by itself", n)
	}
	w.Close()
	if _, ok := <-ch; ok {
		t.Fatal("Changes not closed by Close")
	}
	if st := w.State(); st.Open || st.Reason != ReasonStopped {
		t.Errorf("after Close: %+v", st)
	}
	w.Authorize(time.Hour) // must not panic on the closed channel
	w.Close()
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  bool
	}{
		{"auto", Auto, false},
		{"Always", Always, false},
		{" button ", Button, false},
		{"", 0, true},
		{"open", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseMode(%q) = %v, %v", tt.in, got, err)
		}
		if !tt.err && got.String() != Modes[got] {
			t.Errorf("String(%v) = %q", got, got.String())
		}
	}
	if s := Mode(7).String(); s != "Mode(7)" {
		t.Errorf("bad mode String = %q", s)
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"350735.47 234388.90\n", 350735*time.Second + 470*time.Millisecond, false},
		{"12 0", 12 * time.Second, false},
		{"", 0, true},
		{"x 1", 0, true},
		{"-5 1", 0, true},
	}
	for _, tt := range tests {
		got, err := parseUptime(tt.in)
		if (err != nil) != tt.err || got.Round(time.Millisecond) != tt.want {
			t.Errorf("parseUptime(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestUptimeIsBootTime(t *testing.T) {
	up, err := Uptime()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := procUptime("/proc/uptime")
	if err != nil {
		t.Skipf("no /proc/uptime: %v", err)
	}
	if d := up - proc; d < -2*time.Second || d > 2*time.Second {
		t.Errorf("Uptime %v, /proc/uptime %v", up, proc)
	}
}
