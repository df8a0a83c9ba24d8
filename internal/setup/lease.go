package setup

import (
	"errors"
	"sync"
	"time"
)

// ErrBusy is returned by Lease.Acquire when another central is setting the
// device up.
var ErrBusy = errors.New("setup: busy: another phone is setting this device up")

// LeaseConfig configures a Lease; the zero value is the default.
type LeaseConfig struct {
	// Idle is how long a holder may stay silent before it loses the lease
	// (default DefaultLeaseIdle, one minute).
	Idle time.Duration
	// Clock supplies time; default the real clock.
	Clock Clock
}

// Lease lets one central at a time set the device up ("one phone at a
// time"). A central takes it when it starts a setup (a Bluenet SSID write,
// an Improv RPC 0x01) and keeps it while it writes; other centrals'
// provisioning writes get ErrBusy until the holder's setup ends (Release),
// it disconnects (Release) or it has been idle for Idle. Reads are not the
// lease's business. Centrals are named by any string (BlueZ device paths).
// Its methods are safe for concurrent use.
type Lease struct {
	idle  time.Duration
	clock Clock

	mu     sync.Mutex
	holder string
	last   time.Time // the holder's last activity
	held   int       // holds in progress (Hold), during which idling does not count
}

// NewLease returns a free lease.
func NewLease(cfg LeaseConfig) *Lease {
	l := &Lease{idle: cfg.Idle, clock: cfg.Clock}
	if l.idle <= 0 {
		l.idle = DefaultLeaseIdle
	}
	if l.clock == nil {
		l.clock = realClock{}
	}
	return l
}

// Acquire gives the lease to central, or renews it when central holds it
// already, and counts as activity. It returns ErrBusy, changing nothing,
// while another central holds it. Call it on every provisioning write.
func (l *Lease) Acquire(central string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if l.holder != "" && l.holder != central && !l.expiredLocked(now) {
		return ErrBusy
	}
	if l.holder != central {
		l.held = 0
	}
	l.holder = central
	l.last = now
	return nil
}

// Hold marks the start of work done for the holder that may outlast the
// idle time (a join); the lease cannot expire until the returned function
// is called, which also counts as activity. It does nothing (and returns a
// no-op) when central does not hold the lease.
func (l *Lease) Hold(central string) (done func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder != central || central == "" || l.expiredLocked(l.clock.Now()) {
		return func() {}
	}
	l.held++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.holder == central && l.held > 0 {
				l.held--
				l.last = l.clock.Now()
			}
		})
	}
}

// Release frees the lease if central holds it: its setup ended, or it
// disconnected. Releasing a lease held by another central does nothing.
func (l *Lease) Release(central string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == central {
		l.holder = ""
		l.held = 0
		l.last = time.Time{}
	}
}

// Holder returns the central that holds the lease and until when it holds
// it without further activity (zero while a Hold runs); ok is false when
// the lease is free.
func (l *Lease) Holder() (central string, until time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == "" || l.expiredLocked(l.clock.Now()) {
		return "", time.Time{}, false
	}
	if l.held > 0 {
		return l.holder, time.Time{}, true
	}
	return l.holder, l.last.Add(l.idle), true
}

func (l *Lease) expiredLocked(now time.Time) bool {
	return l.held == 0 && !now.Before(l.last.Add(l.idle))
}
