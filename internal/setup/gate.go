package setup

// Gate joins a Window and a Lease into the one check a provisioning write
// handler makes: Bluenet's SSID and Credentials writes, Improv's RPC 0x01.
// Reads never go through it.
//
// A setup that started while the window was open may finish after it
// closes: the central that holds the lease keeps writing until its setup
// ends (Done), it disconnects (Disconnected) or it has been idle for the
// lease's idle time. Everyone else needs the window open and the lease free.
type Gate struct {
	Window *Window
	Lease  *Lease
}

// NewGate returns a gate on w and l.
func NewGate(w *Window, l *Lease) *Gate { return &Gate{Window: w, Lease: l} }

// Write decides a provisioning write by central: nil to go ahead (central
// then holds the lease), ErrNotAuthorized when the window is closed (ATT
// 0x08 and Result "not authorized" for Bluenet; state 0x01 and error 0x04
// for Improv), ErrBusy when another central is setting the device up.
func (g *Gate) Write(central string) error {
	if h, _, ok := g.Lease.Holder(); ok && h == central {
		return g.Lease.Acquire(central) // renews; a running setup may finish
	}
	if !g.Window.Open() {
		return ErrNotAuthorized
	}
	return g.Lease.Acquire(central)
}

// Joining marks the start of central's join, which may take longer than
// the lease's idle time; call the returned function when it ends (before
// Done or Failed).
func (g *Gate) Joining(central string) (end func()) { return g.Lease.Hold(central) }

// Done ends central's setup after it succeeded: the lease is free and a
// running authorization ends (the window closes unless another reason
// keeps it open).
func (g *Gate) Done(central string) {
	if h, _, ok := g.Lease.Holder(); ok && h == central {
		g.Window.Revoke()
	}
	g.Lease.Release(central)
}

// Failed ends central's setup after it failed (wrong password, network
// not found, ...): the lease is free and a running authorization starts
// over, as Improv asks, so the user can try again.
func (g *Gate) Failed(central string) {
	g.Lease.Release(central)
	g.Window.Renew()
}

// Disconnected frees the lease if central held it.
func (g *Gate) Disconnected(central string) { g.Lease.Release(central) }
