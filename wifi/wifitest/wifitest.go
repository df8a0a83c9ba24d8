// Package wifitest provides an in-memory wifi.Backend for tests of code that
// drives Wi-Fi (such as the Bluenet profile), in the manner of httptest.
package wifitest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/bluenet-project/bluenet/internal/watch"
	"github.com/bluenet-project/bluenet/wifi"
)

// Join is one call of Backend.Join as the backend saw it.
type Join struct {
	SSID   []byte
	Secret string
	EAP    *wifi.EAP // the enterprise login, nil for a passphrase
}

// String formats the join for test messages: SSID, secret and, for an
// enterprise login, method and identity.
func (j Join) String() string {
	s := fmt.Sprintf("{%q %q", j.SSID, j.Secret)
	if j.EAP != nil {
		s += fmt.Sprintf(" eap=%v identity=%q", j.EAP.Method, j.EAP.Identity)
	}
	return s + "}"
}

// Backend is a wifi.Backend whose state and scan results the test sets.
// A Join validates its input like a real backend, records the call, reports
// Connecting, and then asks the function set with SetJoinFunc (default: succeed) for the outcome: on
// success the state becomes Connected to the SSID with IPv4 Addr, on failure
// it goes back to what it was. All methods are safe for concurrent use.
type Backend struct {
	// Addr is the IPv4 address reported after a successful join.
	Addr string

	mu       sync.Mutex
	joinFunc func(ctx context.Context, ssid []byte, secret string) error
	state    wifi.State
	aps      []wifi.AccessPoint
	joins    []Join
	scans    int
	joining  bool
	closed   bool

	// The Watch streams coalesce exactly as the real backend's do.
	stateHub *watch.Hub[wifi.State]
	apHub    *watch.Hub[[]wifi.AccessPoint]
}

var _ wifi.Backend = (*Backend)(nil)

// New returns a backend in state Disconnected with no access points.
func New() *Backend {
	st := wifi.State{Kind: wifi.Disconnected}
	return &Backend{state: st, Addr: "192.0.2.10",
		stateHub: watch.New(st, wifi.State.Clone), apHub: watch.New[[]wifi.AccessPoint](nil, wifi.CloneAccessPoints)}
}

// SetJoinFunc sets the function that decides the outcome of later joins;
// nil means success.
func (b *Backend) SetJoinFunc(f func(ctx context.Context, ssid []byte, secret string) error) {
	b.mu.Lock()
	b.joinFunc = f
	b.mu.Unlock()
}

// SetState changes the link state and tells the watchers.
func (b *Backend) SetState(s wifi.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Equal(b.state) {
		return
	}
	b.state = s
	b.stateHub.Set(s.Clone())
}

// SetAccessPoints replaces the scan results and tells the watchers.
func (b *Backend) SetAccessPoints(aps []wifi.AccessPoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.aps = wifi.CloneAccessPoints(aps)
	b.apHub.Set(wifi.CloneAccessPoints(aps))
}

// Joins returns the joins requested so far.
func (b *Backend) Joins() []Join {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.joins)
}

// Scans returns how many times RequestScan was called.
func (b *Backend) Scans() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.scans
}

// State implements wifi.Backend.
func (b *Backend) State() wifi.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// WatchState implements wifi.Backend.
func (b *Backend) WatchState(ctx context.Context) <-chan wifi.State {
	return b.stateHub.Watch(ctx)
}

// AccessPoints implements wifi.Backend.
func (b *Backend) AccessPoints() []wifi.AccessPoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.aps)
}

// WatchAccessPoints implements wifi.Backend.
func (b *Backend) WatchAccessPoints(ctx context.Context) <-chan []wifi.AccessPoint {
	return b.apHub.Watch(ctx)
}

// RequestScan implements wifi.Backend; it only counts the calls.
func (b *Backend) RequestScan(context.Context) error {
	b.mu.Lock()
	b.scans++
	b.mu.Unlock()
	return nil
}

// Join implements wifi.Backend.
// The function set with SetJoinFunc gets cred.Secret (for an enterprise
// login, its password).
func (b *Backend) Join(ctx context.Context, ssid []byte, cred wifi.Credentials) error {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return err
	}
	if err := cred.Validate(); err != nil {
		return err
	}
	secret := cred.Secret
	var eap *wifi.EAP
	if cred.EAP != nil {
		e := *cred.EAP
		eap, secret = &e, e.Password
	}
	b.mu.Lock()
	if b.joining {
		b.mu.Unlock()
		return &wifi.JoinError{SSID: ssid, Reason: wifi.ReasonBusy}
	}
	b.joining = true
	b.joins = append(b.joins, Join{SSID: slices.Clone(ssid), Secret: cred.Secret, EAP: eap})
	prev, f := b.state, b.joinFunc
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.joining = false; b.mu.Unlock() }()

	b.SetState(wifi.State{Kind: wifi.Connecting, SSID: slices.Clone(ssid)})
	var err error
	if f != nil {
		err = f(ctx, ssid, secret)
	}
	if err != nil {
		b.SetState(prev)
		return err
	}
	b.SetState(wifi.State{Kind: wifi.Connected, SSID: slices.Clone(ssid), IPv4: mustAddr(b.Addr)})
	return nil
}

// Close implements wifi.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.stateHub.Close()
	b.apHub.Close()
	return nil
}

func mustAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
