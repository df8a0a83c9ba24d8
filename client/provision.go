package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

// JoinError is a join that the device reports as failed, in either
// protocol. It matches ErrJoinFailed and the wifi sentinel of its Reason
// (errors.Is(err, wifi.ErrWrongPassword), and wifi.ReasonOf(err) gives
// Reason), so that callers map join failures the same way whether the
// device or this machine joined.
type JoinError struct {
	SSID []byte
	// Reason is the cause as far as the device tells it: an Improv device
	// says only "unable to connect" (ReasonFailed), the original Bluenet
	// nothing at all (ReasonFailed).
	Reason wifi.Reason
	// Code is the Bluenet device's Result code; ResultFailed when the device
	// does not say why (it has no Result characteristic, or speaks Improv).
	Code bluenet.ResultCode
	// ImprovError is the Improv device's Error State; 0 for Bluenet.
	ImprovError improv.ErrorCode
	// Text explains the failure; it never contains the password.
	Text string
}

func (e *JoinError) Error() string {
	return fmt.Sprintf("client: joining %s failed: %s", bluenet.QuoteSSID(e.SSID), e.Text)
}

// Is makes errors.Is(err, ErrJoinFailed) true, and errors.Is(err, s) for
// the wifi sentinel s of e.Reason.
func (e *JoinError) Is(target error) bool {
	return target == ErrJoinFailed || (target != nil && target == e.Reason.Err())
}

// ReasonOf is the wifi.Reason of a Bluenet Result code.
func ReasonOf(c bluenet.ResultCode) wifi.Reason {
	switch c {
	case bluenet.ResultOK:
		return wifi.ReasonNone
	case bluenet.ResultWrongPassword:
		return wifi.ReasonWrongPassword
	case bluenet.ResultNotFound:
		return wifi.ReasonNotFound
	case bluenet.ResultTimeout:
		return wifi.ReasonTimeout
	case bluenet.ResultDHCPFailed:
		return wifi.ReasonDHCPFailed
	case bluenet.ResultBusy:
		return wifi.ReasonBusy
	case bluenet.ResultInvalidInput:
		return wifi.ReasonInvalid
	case bluenet.ResultNotAuthorized:
		return wifi.ReasonNotAuthorized
	}
	return wifi.ReasonFailed
}

// bluenetJoinError is the JoinError for a Bluenet Result code.
func bluenetJoinError(ssid []byte, c bluenet.ResultCode, text string) *JoinError {
	return &JoinError{SSID: ssid, Reason: ReasonOf(c), Code: c, Text: text}
}

// Outcome is a successful join.
type Outcome struct {
	// State is the device's final Connection State: Connected to the SSID.
	State bluenet.State
	// Hostname is what the device reports once connected (often with its
	// new IP address in it).
	Hostname string
}

// Provision makes the device join a Wi-Fi network: it writes the SSID and
// then the password (empty for an open network; BlueZ splits long values
// into prepared writes when the MTU is small), and follows the device's
// Connection State and, when the device has it, its Result. It returns
// when the device reports Connected to ssid, when the device reports a
// failure (*JoinError: wrong password, network not found, ...), when the
// link drops (ErrUnreachable), or when ctx is done (ErrTimeout at its
// deadline). progress, when not nil, gets a short line for every step and
// every state the device reports. The password is never logged nor put in
// an error.
//
// With a device that has no Result characteristic (the original Python
// Bluenet), success is Connected to ssid after the write; a device that
// tried ssid (Connecting) and then stays Disconnected, Down or on another
// network for FallbackGrace has failed for a reason it does not report.
func (s *Session) Provision(ctx context.Context, ssid []byte, password string, progress func(string)) (Outcome, error) {
	return s.ProvisionWith(ctx, ssid, wifi.Passphrase(password), progress)
}

// ErrNoEnterprise means the device has no Identity characteristic: it
// cannot join an enterprise (802.1X) network over the Bluenet profile.
var ErrNoEnterprise = errors.New("client: the device cannot join enterprise networks (no Identity characteristic)")

// ProvisionWith is Provision with any credentials: a passphrase, or an
// 802.1X login, which goes to the Identity characteristic first (the
// device checks the server's certificate with its system CAs unless
// NoCACheck; a CA file on this machine means nothing to the device, so
// EAP.CACert is refused).
func (s *Session) ProvisionWith(ctx context.Context, ssid []byte, cred wifi.Credentials, progress func(string)) (Outcome, error) {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return Outcome{}, err
	}
	if err := cred.Validate(); err != nil {
		return Outcome{}, err
	}
	password := cred.Secret
	var identity []byte
	if e := cred.EAP; e != nil {
		if e.CACert != "" {
			return Outcome{}, fmt.Errorf("%w: over Bluetooth the device checks the server with its own system CAs; a CA file cannot be sent", wifi.ErrInvalid)
		}
		if !s.has(bluenet.IdentityUUID) {
			return Outcome{}, ErrNoEnterprise
		}
		id := bluenet.Identity{Method: bluenet.EAPPEAP, Identity: e.Identity, AnonymousIdentity: e.AnonymousIdentity,
			DomainSuffixMatch: e.DomainSuffixMatch, NoCACheck: e.NoCACheck}
		if e.Method == wifi.EAPTTLS {
			id.Method = bluenet.EAPTTLS
		}
		if e.Phase2 == wifi.Phase2PAP {
			id.Inner = bluenet.InnerPAP
		}
		var err error
		if identity, err = id.Encode(); err != nil {
			return Outcome{}, fmt.Errorf("%w: %v", wifi.ErrInvalid, err)
		}
		password = e.Password
	}
	if progress == nil {
		progress = func(string) {}
	}
	states, stopStates, err := s.subscribe(ctx, bluenet.StateUUID)
	if err != nil {
		return Outcome{}, err
	}
	defer stopStates()
	var results <-chan []byte
	if s.result {
		var stopResults func()
		if results, stopResults, err = s.subscribe(ctx, bluenet.ResultUUID); err != nil {
			return Outcome{}, err
		}
		defer stopResults()
	}
	initial, err := s.readState(ctx)
	if err != nil {
		return Outcome{}, err
	}
	progress("device is " + initial.String())

	if identity != nil {
		progress("sending the enterprise login")
		if err := s.write(ctx, bluenet.IdentityUUID, identity); err != nil {
			return Outcome{}, s.refused(ssid, "enterprise login", err)
		}
	}
	progress("sending SSID " + bluenet.QuoteSSID(ssid))
	if err := s.write(ctx, bluenet.SSIDUUID, ssid); err != nil {
		return Outcome{}, s.refused(ssid, "SSID", err)
	}
	if password == "" {
		progress("sending an empty password (open network)")
	} else {
		progress("sending the password")
	}
	t := &joinTracker{ssid: ssid, hasResult: s.result, initial: initial, last: initial, start: time.Now(),
		fallback: s.cl.cfg.FallbackGrace, settle: s.cl.cfg.Settle}
	if err := s.write(ctx, bluenet.CredentialsUUID, []byte(password)); err != nil {
		return Outcome{}, s.refused(ssid, "password", err)
	}
	s.cl.log.Debug("credentials written", "ssid", string(ssid), "result_characteristic", s.result)
	progress("waiting for the device to join " + bluenet.QuoteSSID(ssid))

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var done bool
	for !done {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return Outcome{}, fmt.Errorf("%w: the device did not join %s in time (it is %s)",
					ErrTimeout, bluenet.QuoteSSID(ssid), t.last)
			}
			return Outcome{}, ctx.Err()
		case <-s.p.Done():
			return Outcome{}, s.lostErr()
		case v, ok := <-states:
			if !ok {
				states = nil
				continue
			}
			st, perr := bluenet.ParseState(v)
			if perr != nil {
				s.cl.log.Debug("ignoring Connection State", "err", perr)
				continue
			}
			if !sameState(st, t.last) {
				progress("device is " + st.String())
			}
			done, err = t.onState(st, time.Now())
		case v, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			r, perr := bluenet.ParseResult(v)
			if perr != nil {
				s.cl.log.Debug("ignoring Result", "err", perr)
				continue
			}
			progress("device says: " + r.String())
			done, err = t.onResult(r)
			if !done && r.Code == bluenet.ResultOK {
				// Joined: make sure of the state rather than wait for a
				// notification that may have come first.
				st, rerr := s.readState(ctx)
				if rerr != nil {
					return Outcome{}, rerr
				}
				done, err = t.onState(st, time.Now())
			}
		case now := <-tick.C:
			done, err = t.tick(now)
		}
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{State: t.last}
	if out.Hostname, err = s.readString(ctx, bluenet.HostnameUUID); err != nil {
		s.cl.log.Warn("read host name", "err", err)
	}
	return out, nil
}

// refused turns a failed SSID or Credentials write into an error.
func (s *Session) refused(ssid []byte, what string, err error) error {
	switch {
	case errors.Is(err, central.ErrInvalidLength) || errors.Is(err, central.ErrNotPermitted):
		return bluenetJoinError(ssid, bluenet.ResultInvalidInput, "the device refused the "+what)
	case errors.Is(err, central.ErrNotAuthorized):
		return bluenetJoinError(ssid, bluenet.ResultNotAuthorized,
			"not authorized: the device's setup window is closed (press its button or run `bluenet allow` on it)")
	case errors.Is(err, central.ErrInProgress):
		return bluenetJoinError(ssid, bluenet.ResultBusy, "busy: another phone is setting the device up")
	}
	return err
}

func sameState(a, b bluenet.State) bool { return a.Is(b.Kind, b.SSID) }

// joinTracker decides, from what the device reports after the credentials
// were written, whether a join succeeded, failed or is still running.
// Each method returns done, and the failure when done with one.
type joinTracker struct {
	ssid      []byte
	hasResult bool
	initial   bluenet.State
	start     time.Time     // when the credentials were written
	fallback  time.Duration // see Config.FallbackGrace
	settle    time.Duration // see Config.Settle

	last     bluenet.State
	moved    bool      // the state has differed from initial since the write
	tried    bool      // the device was Connecting to ssid
	offSince time.Time // after tried: since when it is off ssid
	resultOK bool      // the Result characteristic said ok
}

// connectingToUs: Connecting to ssid, or to an SSID the device does not
// name.
func (t *joinTracker) connectingToUs(st bluenet.State) bool {
	return st.Kind == bluenet.Connecting && (len(st.SSID) == 0 || st.Is(bluenet.Connecting, t.ssid))
}

func (t *joinTracker) onState(st bluenet.State, now time.Time) (bool, error) {
	t.last = st
	if !sameState(st, t.initial) {
		t.moved = true
	}
	connected := st.Is(bluenet.Connected, t.ssid)
	if t.hasResult {
		// The Result decides; a device that keeps its old network while it
		// tries the new one may already be Connected to ssid.
		return t.resultOK && connected, nil
	}
	switch {
	case connected:
		if t.moved || !t.initial.Is(bluenet.Connected, t.ssid) {
			return true, nil
		}
	case t.connectingToUs(st):
		t.tried = true
		t.offSince = time.Time{}
	case t.tried && t.offSince.IsZero():
		t.offSince = now
	}
	return false, nil
}

func (t *joinTracker) onResult(r bluenet.Result) (bool, error) {
	switch {
	case !r.Code.Final():
		return false, nil
	case r.Code == bluenet.ResultOK:
		t.resultOK = true
		return t.last.Is(bluenet.Connected, t.ssid), nil
	}
	return true, bluenetJoinError(t.ssid, r.Code, r.String())
}

func (t *joinTracker) tick(now time.Time) (bool, error) {
	if t.hasResult {
		return false, nil
	}
	if t.tried && !t.offSince.IsZero() && now.Sub(t.offSince) >= t.fallback {
		return true, bluenetJoinError(t.ssid, bluenet.ResultFailed,
			fmt.Sprintf("the device tried it, then went back to %s (it does not report why: "+
				"wrong password, network out of range, ...)", t.last))
	}
	if t.initial.Is(bluenet.Connected, t.ssid) && !t.moved && now.Sub(t.start) >= t.settle {
		return true, nil // already on ssid, and it stayed so
	}
	return false, nil
}
