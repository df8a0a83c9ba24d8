// Package setup decides when a device accepts provisioning writes (the setup
// window) and which central may make them (the lease: one phone at a time).
//
// The window knows nothing of Bluetooth or Wi-Fi: the daemon reports Wi-Fi
// transitions with SetOnline, physical authorization (the `bluenet allow`
// channel, a button) with Authorize, and reads Open/State or listens on
// Changes to update the Improv state (0x01 Authorization Required, 0x02
// Authorized), the Bluenet refusals and advertising. Provisioning write
// handlers ask a Gate, which joins the window and the lease.
package setup

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Mode says when the window is open.
type Mode int

const (
	// Auto is open while the device has no working Wi-Fi (from the start
	// until it is first online, or once its network has been gone for
	// ReopenAfter), for WindowTime after the machine booted, and while
	// authorized; closed otherwise, so that a working device cannot be
	// taken over from the street. The default.
	Auto Mode = iota
	// Always is always open: the original Bluenet's behaviour.
	Always
	// Button is closed until authorized (Authorize: `bluenet allow`, a
	// button), then open for the authorized time.
	Button
)

// Modes lists the modes' names in the order of their values, for help texts.
var Modes = []string{"auto", "always", "button"}

// String returns the mode's name as ParseMode accepts it.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(Modes) {
		return Modes[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode returns the mode named s ("auto", "always" or "button", any case).
func ParseMode(s string) (Mode, error) {
	for i, n := range Modes {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("setup: unknown setup window mode %q (want %s)", s, strings.Join(Modes, ", "))
}

// Defaults for Config's zero durations.
const (
	DefaultWindowTime    = 15 * time.Minute
	DefaultReopenAfter   = 2 * time.Minute
	DefaultAuthorizedFor = time.Minute
	DefaultLeaseIdle     = time.Minute
)

// Config configures a Window. The zero value is the default: Auto, the
// default durations, the real clock and the machine's boot time.
type Config struct {
	// Mode says when the window is open.
	Mode Mode
	// WindowTime is how long the window stays open after the machine
	// booted (Auto only). Power-cycling the device is the physical act that
	// opens it; a daemon restart is not. Negative: no boot window.
	WindowTime time.Duration
	// ReopenAfter is how long the device's network must be gone before the
	// window opens again (Auto only). Negative: never reopen while offline
	// (after the device was first online).
	ReopenAfter time.Duration
	// AuthorizedFor is how long Authorize(0) opens the window.
	AuthorizedFor time.Duration
	// Uptime returns the time since the machine booted. Default: the
	// kernel's CLOCK_BOOTTIME (which counts suspend), else /proc/uptime.
	// When it fails, the machine is taken to have booted long ago (no boot
	// window): the safe side.
	Uptime func() (time.Duration, error)
	// Clock supplies time and timers; default the real clock.
	Clock Clock
}

// Clock is the time source of a Window or Lease; tests inject a fake.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d and returns a function
	// that cancels the call if it has not started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Reason says why the window is open or closed.
type Reason string

// Reasons.
const (
	ReasonAlways     Reason = "always"     // mode always
	ReasonAuthorized Reason = "authorized" // Authorize opened it
	ReasonBoot       Reason = "boot"       // the machine booted less than WindowTime ago
	ReasonOffline    Reason = "offline"    // no working Wi-Fi (first setup, or gone for ReopenAfter)
	ReasonOnline     Reason = "online"     // closed: Auto and the device is online
	ReasonClosed     Reason = "closed"     // closed: Button and not authorized, or Auto waiting to reopen
	ReasonStopped    Reason = "stopped"    // closed: Close was called
)

// State is the window at one moment.
type State struct {
	// Open reports whether provisioning writes are accepted. Improv shows
	// Authorized (0x02) while it is true, Authorization Required (0x01)
	// otherwise.
	Open bool
	// Authorized reports whether Authorize opened the window and that
	// authorization still runs.
	Authorized bool
	// Reason is the main reason the window is open or closed: authorized
	// first, then always, offline, boot.
	Reason Reason
	// Until is when an open window closes by itself if nothing else
	// changes; zero when it stays open (mode always, or offline).
	Until time.Time
	// OpensAt is when a closed window opens by itself (Auto, waiting for
	// ReopenAfter); zero otherwise.
	OpensAt time.Time
}

// Window is the setup window. Its methods are safe for concurrent use.
type Window struct {
	cfg   Config
	clock Clock
	boot  time.Time // when the machine booted, on clock's time line

	mu         sync.Mutex
	known      bool      // SetOnline was called at least once
	online     bool      // last SetOnline
	everOnline bool      // online at least once since New
	offSince   time.Time // when the device went offline (or was first seen offline)
	authUntil  time.Time
	authFor    time.Duration // the duration of the running authorization, for Renew
	stopTimer  func() bool
	last       State
	closed     bool
	changes    chan State
}

// New returns a window configured by cfg; it reads the machine's uptime once.
// Call SetOnline as soon as the Wi-Fi state is known: until then, Auto is
// open only through the boot window or authorization. A device first
// reported offline (never online since New: first setup, or a network that
// was already gone when the daemon started) opens the window at once; one
// that was online opens it ReopenAfter after it went offline.
func New(cfg Config) *Window {
	if cfg.WindowTime == 0 {
		cfg.WindowTime = DefaultWindowTime
	}
	if cfg.ReopenAfter == 0 {
		cfg.ReopenAfter = DefaultReopenAfter
	}
	if cfg.AuthorizedFor <= 0 {
		cfg.AuthorizedFor = DefaultAuthorizedFor
	}
	if cfg.Uptime == nil {
		cfg.Uptime = Uptime
	}
	w := &Window{cfg: cfg, clock: cfg.Clock, changes: make(chan State, 1)}
	if w.clock == nil {
		w.clock = realClock{}
	}
	now := w.clock.Now()
	if up, err := cfg.Uptime(); err == nil && up >= 0 {
		w.boot = now.Add(-up)
	} else {
		// Unknown: booted long ago, no boot window.
		w.boot = now.Add(-cfg.WindowTime - time.Hour)
	}
	w.offSince = now
	w.mu.Lock()
	w.last = w.computeLocked(now)
	w.armLocked(now)
	w.mu.Unlock()
	return w
}

// Mode returns the window's mode.
func (w *Window) Mode() Mode { return w.cfg.Mode }

// Open reports whether provisioning writes are accepted now.
func (w *Window) Open() bool { return w.State().Open }

// State returns the window now.
func (w *Window) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.computeLocked(w.clock.Now())
}

// Changes returns a channel that receives the window's new state after each
// change (open/closed, Authorized, Until or OpensAt). It holds only the
// latest state: a slow reader misses intermediate ones but always sees the
// last. It is closed by Close. There is one channel per Window: one reader.
func (w *Window) Changes() <-chan State { return w.changes }

// SetOnline reports the device's Wi-Fi: true once it is connected (has a
// working network), false when it is not. Repeating the same value changes
// nothing; in particular, an offline period keeps its start.
func (w *Window) SetOnline(online bool) {
	w.update(func(now time.Time) {
		if w.known && online == w.online {
			return
		}
		if !online {
			w.offSince = now
		}
		w.known = true
		w.online = online
		if online {
			w.everOnline = true
		}
	})
}

// Authorize opens the window for d (AuthorizedFor when d <= 0), from now:
// the `bluenet allow` command or a button press. A running authorization is
// replaced by the new one, even when shorter.
func (w *Window) Authorize(d time.Duration) {
	if d <= 0 {
		d = w.cfg.AuthorizedFor
	}
	w.update(func(now time.Time) {
		w.authFor = d
		w.authUntil = now.Add(d)
	})
}

// Renew restarts a running authorization for its full duration, as Improv
// asks after a failed attempt. It does nothing when no authorization runs.
func (w *Window) Renew() {
	w.update(func(now time.Time) {
		if now.Before(w.authUntil) {
			w.authUntil = now.Add(w.authFor)
		}
	})
}

// Revoke ends a running authorization at once (for instance after a
// successful setup). The window may stay open for another reason.
func (w *Window) Revoke() {
	w.update(func(now time.Time) {
		if now.Before(w.authUntil) {
			w.authUntil = now
		}
	})
}

// Close stops the window's timer and closes the Changes channel. The window
// is closed from then on.
func (w *Window) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	if w.stopTimer != nil {
		w.stopTimer()
		w.stopTimer = nil
	}
	close(w.changes)
}

// update runs f under the lock, then re-arms the timer and sends the new
// state if it changed.
func (w *Window) update(f func(now time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	now := w.clock.Now()
	if f != nil {
		f(now)
	}
	w.armLocked(now)
	st := w.computeLocked(now)
	if st != w.last {
		w.last = st
		// Latest value wins: drop a pending one, then send (never blocks,
		// since only we send and we hold the lock).
		select {
		case <-w.changes:
		default:
		}
		w.changes <- st
	}
}

// armLocked schedules the next moment the state can change by itself.
func (w *Window) armLocked(now time.Time) {
	if w.stopTimer != nil {
		w.stopTimer()
		w.stopTimer = nil
	}
	next, ok := w.nextLocked(now)
	if !ok {
		return
	}
	w.stopTimer = w.clock.AfterFunc(next.Sub(now), func() { w.update(nil) })
}

// nextLocked returns the earliest future moment at which an input-free
// change happens: authorization end, boot window end, reopen.
func (w *Window) nextLocked(now time.Time) (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	consider(w.authUntil)
	if w.cfg.Mode == Auto {
		if w.cfg.WindowTime > 0 {
			consider(w.boot.Add(w.cfg.WindowTime))
		}
		if t, ok := w.reopenLocked(); ok {
			consider(t)
		}
	}
	return next, !next.IsZero()
}

// computeLocked derives the state at now from the inputs.
func (w *Window) computeLocked(now time.Time) State {
	if w.closed {
		return State{Reason: ReasonStopped}
	}
	authorized := now.Before(w.authUntil)
	var st State
	switch w.cfg.Mode {
	case Always:
		st = State{Open: true, Reason: ReasonAlways}
	case Button:
		st = State{Reason: ReasonClosed}
	default:
		st = w.autoLocked(now)
	}
	if authorized {
		st.Authorized = true
		if !st.Open {
			st.Open = true
			st.Reason = ReasonAuthorized
			st.Until = w.authUntil
			st.OpensAt = time.Time{}
		} else {
			st.Reason = ReasonAuthorized
			if !st.Until.IsZero() && st.Until.Before(w.authUntil) {
				st.Until = w.authUntil
			}
		}
	}
	return st
}

// reopenLocked returns when the offline reason opens the window: at once
// when the device has not been online since New (first setup, or a network
// that was already gone), ReopenAfter after it went offline otherwise. false
// while online, before the first SetOnline, or when ReopenAfter < 0.
func (w *Window) reopenLocked() (time.Time, bool) {
	switch {
	case !w.known || w.online:
		return time.Time{}, false
	case !w.everOnline:
		return w.offSince, true
	case w.cfg.ReopenAfter > 0:
		return w.offSince.Add(w.cfg.ReopenAfter), true
	}
	return time.Time{}, false
}

// autoLocked is the Auto mode's state without authorization.
func (w *Window) autoLocked(now time.Time) State {
	bootEnd := w.boot.Add(w.cfg.WindowTime)
	inBoot := w.cfg.WindowTime > 0 && now.Before(bootEnd)
	offline := !w.online
	reopen, _ := w.reopenLocked()
	offOpen := offline && !reopen.IsZero() && !now.Before(reopen)
	switch {
	case offOpen:
		return State{Open: true, Reason: ReasonOffline}
	case inBoot:
		st := State{Open: true, Reason: ReasonBoot, Until: bootEnd}
		if offline && !reopen.IsZero() && reopen.Before(bootEnd) {
			// It will stay open: offline takes over before the boot window ends.
			st.Until = time.Time{}
		}
		return st
	case offline && !reopen.IsZero():
		return State{Reason: ReasonClosed, OpensAt: reopen}
	case offline:
		return State{Reason: ReasonClosed}
	default:
		return State{Reason: ReasonOnline}
	}
}

// ErrNotAuthorized is returned by Check when the window is closed.
var ErrNotAuthorized = errors.New("setup: not authorized: the setup window is closed (press the device's button or run `bluenet allow`)")

// Check returns nil when the window is open and ErrNotAuthorized otherwise.
func (w *Window) Check() error {
	if w.Open() {
		return nil
	}
	return ErrNotAuthorized
}
