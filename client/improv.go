package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

// ImprovError is an Improv RPC the device answered with an Error State
// other than "no error". Its Code says which.
type ImprovError struct {
	Command improv.Command
	Code    improv.ErrorCode
}

func (e *ImprovError) Error() string {
	return fmt.Sprintf("client: the device answered %s with error 0x%02x (%s)", e.Command, byte(e.Code), e.Code)
}

// ImprovSession is a connection to one device, speaking Improv Wi-Fi via
// BLE (package improv). It follows the device's Current State, Error State
// and RPC Result from the start, so no notification is missed between a
// command and its answer. Its methods must not be called concurrently.
type ImprovSession struct {
	*Link
	caps improv.Capabilities

	cancel  context.CancelFunc // ends the subscriptions
	states  <-chan []byte
	errs    <-chan []byte
	results <-chan []byte
}

// ConnectImprov finds the device named by target, connects and starts an
// Improv session (ErrNotImprov when the device has no Improv service).
// Close the session to disconnect.
func (c *Client) ConnectImprov(ctx context.Context, target string) (*ImprovSession, error) {
	l, err := c.Dial(ctx, target)
	if err != nil {
		return nil, err
	}
	s, err := l.Improv(ctx)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return s, nil
}

// Improv starts an Improv session on the link: it subscribes to Current
// State, Error State and RPC Result and reads Capabilities. ErrNotImprov
// when the device has no Improv service. Closing the session closes the
// link.
func (l *Link) Improv(ctx context.Context) (*ImprovSession, error) {
	if _, err := l.Choose(ProtocolImprov); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &ImprovSession{Link: l, cancel: cancel}
	var err error
	for _, sub := range []struct {
		uuid string
		ch   *<-chan []byte
	}{{improv.StateUUID, &s.states}, {improv.ErrorUUID, &s.errs}, {improv.RPCResultUUID, &s.results}} {
		if *sub.ch, _, err = l.subscribe(sctx, sub.uuid); err != nil {
			cancel()
			return nil, err
		}
	}
	if l.has(improv.CapabilitiesUUID) {
		b, err := l.read(ctx, improv.CapabilitiesUUID)
		if err != nil {
			cancel()
			return nil, err
		}
		if s.caps, err = improv.ParseCapabilities(b); err != nil {
			cancel()
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	l.cl.log.Debug("Improv session", "address", l.dev.Address, "capabilities", s.caps.String())
	return s, nil
}

// Close ends the subscriptions and disconnects (see Link.Close).
func (s *ImprovSession) Close() error {
	s.cancel()
	return s.Link.Close()
}

// Capabilities is what the device's Capabilities characteristic said.
func (s *ImprovSession) Capabilities() improv.Capabilities { return s.caps }

// State reads the Current State.
func (s *ImprovSession) State(ctx context.Context) (improv.State, error) {
	b, err := s.read(ctx, improv.StateUUID)
	if err != nil {
		return 0, err
	}
	st, err := improv.ParseState(b)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	return st, nil
}

// LastError reads the Error State.
func (s *ImprovSession) LastError(ctx context.Context) (improv.ErrorCode, error) {
	b, err := s.read(ctx, improv.ErrorUUID)
	if err != nil {
		return 0, err
	}
	e, err := improv.ParseErrorCode(b)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	return e, nil
}

// need fails with ErrNotSupported unless the device's Capabilities has c.
func (s *ImprovSession) need(c improv.Capabilities, what string) error {
	if !s.caps.Has(c) {
		return fmt.Errorf("%w: %s (the device's Improv capabilities: %s)", ErrNotSupported, what, s.caps)
	}
	return nil
}

// Identify asks the device to show itself (blink, beep). The command has no
// result; Identify returns once the device took it, or with an
// *ImprovError when it answers with one within ResultGrace.
func (s *ImprovSession) Identify(ctx context.Context) error {
	if err := s.need(improv.CapabilityIdentify, "identify"); err != nil {
		return err
	}
	pkt, err := improv.EncodeCommand(improv.CommandIdentify)
	if err != nil {
		return err
	}
	_, err = s.call(ctx, improv.CommandIdentify, pkt, false)
	return err
}

// DeviceInfo asks for the firmware name and version, the hardware and the
// device name.
func (s *ImprovSession) DeviceInfo(ctx context.Context) (improv.DeviceInfo, error) {
	if err := s.need(improv.CapabilityDeviceInfo, "device info"); err != nil {
		return improv.DeviceInfo{}, err
	}
	pkt, err := improv.EncodeCommand(improv.CommandDeviceInfo)
	if err != nil {
		return improv.DeviceInfo{}, err
	}
	res, err := s.call(ctx, improv.CommandDeviceInfo, pkt, true)
	if err != nil {
		return improv.DeviceInfo{}, err
	}
	d, err := improv.ParseDeviceInfo(res[0])
	if err != nil {
		return d, fmt.Errorf("client: %w", err)
	}
	return d, nil
}

// Networks asks the device for the Wi-Fi networks it sees: SSID, RSSI and
// security, in the order the device sent them (strongest first from a
// Bluenet device).
//
// The BLE spec answers with one result holding every network, and that is
// what Bluenet sends. Some devices answer as Improv via serial does: one
// result per network, then an empty one. Both are understood: after a
// result of exactly one network, Networks waits up to ResultGrace for more,
// and stops at an empty result.
func (s *ImprovSession) Networks(ctx context.Context) ([]improv.Network, error) {
	if err := s.need(improv.CapabilityScan, "scan"); err != nil {
		return nil, err
	}
	pkt, err := improv.EncodeCommand(improv.CommandScan)
	if err != nil {
		return nil, err
	}
	res, err := s.call(ctx, improv.CommandScan, pkt, true)
	if err != nil {
		return nil, err
	}
	var nets []improv.Network
	add := func(ss []string) error {
		n, err := improv.ParseScanResult(ss)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		nets = append(nets, n...)
		return nil
	}
	if err := add(res[0]); err != nil || len(res[0]) != 3 {
		return nets, err
	}
	// One network: maybe the first of a result per network.
	for {
		ss, ok, err := s.next(ctx, improv.CommandScan, s.cl.cfg.ResultGrace)
		if err != nil || !ok || len(ss) == 0 {
			return nets, err
		}
		if err := add(ss); err != nil {
			return nets, err
		}
	}
}

// Hostname gets the device's host name, or sets it first when name is not
// empty; it returns the host name the device reports. A name the device
// does not accept is an *ImprovError with improv.ErrorBadHostname.
func (s *ImprovSession) Hostname(ctx context.Context, name string) (string, error) {
	if err := s.need(improv.CapabilityHostname, "hostname"); err != nil {
		return "", err
	}
	return s.nameRPC(ctx, improv.CommandHostname, name)
}

// DeviceName gets the device's name, or sets it first when name is not
// empty (Improv 2.4; there is no capability bit for it: an older device
// answers with improv.ErrorUnknownRPC).
func (s *ImprovSession) DeviceName(ctx context.Context, name string) (string, error) {
	return s.nameRPC(ctx, improv.CommandDeviceName, name)
}

func (s *ImprovSession) nameRPC(ctx context.Context, cmd improv.Command, name string) (string, error) {
	var args []string
	if name != "" {
		args = []string{name}
	}
	pkt, err := improv.EncodeCommand(cmd, args...)
	if err != nil {
		return "", err
	}
	res, err := s.call(ctx, cmd, pkt, true)
	if err != nil {
		return "", err
	}
	if len(res[0]) < 1 {
		return "", fmt.Errorf("client: %w: %s result has no string", improv.ErrMalformed, cmd)
	}
	return res[0][0], nil
}

// ImprovOutcome is a successful Improv provisioning.
type ImprovOutcome struct {
	// State is the device's Current State at the end: Provisioned.
	State improv.State
	// RedirectURL is the first string of the device's result ("a URL to
	// redirect the user to"); empty when it sent none.
	RedirectURL string
}

// Provision sends the Wi-Fi settings and follows the device until it is
// Provisioned (its result's first string is the redirect URL), it reports
// an error (*JoinError: Improv says only "unable to connect", so the Reason
// is wifi.ReasonFailed), the link drops (ErrUnreachable), or ctx is done
// (ErrTimeout at its deadline). A device that requires authorization is
// waited for (press its button). progress, when not nil, gets a short line
// for every step and state. The password is never logged nor put in an
// error.
//
// Like Home Assistant, Provision takes the Wi-Fi settings result as
// success; a device that only moves to Provisioned without a result (or
// whose link drops once Provisioned, as ESPHome stops its service) has
// succeeded too, without a URL, after ResultGrace.
func (s *ImprovSession) Provision(ctx context.Context, ssid []byte, password string, progress func(string)) (ImprovOutcome, error) {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return ImprovOutcome{}, err
	}
	if err := wifi.ValidateSecret(password); err != nil {
		return ImprovOutcome{}, err
	}
	if progress == nil {
		progress = func(string) {}
	}
	pkt, err := improv.EncodeWiFiSettings(string(ssid), password)
	if err != nil {
		return ImprovOutcome{}, &JoinError{SSID: ssid, Reason: wifi.ReasonInvalid, Code: bluenet.ResultInvalidInput,
			Text: "the SSID and password do not fit in an Improv packet"}
	}
	st, err := s.State(ctx)
	if err != nil {
		return ImprovOutcome{}, err
	}
	progress("device is " + st.String())
	if st == improv.StateAuthorizationRequired {
		progress("the device requires authorization: press its button (or whatever it asks for)")
		if st, err = s.waitAuthorized(ctx, progress); err != nil {
			return ImprovOutcome{}, err
		}
	}

	s.drain()
	if password == "" {
		progress("sending SSID " + bluenet.QuoteSSID(ssid) + " for an open network")
	} else {
		progress("sending SSID " + bluenet.QuoteSSID(ssid) + " and the password")
	}
	if err := s.send(ctx, pkt); err != nil {
		return ImprovOutcome{}, err
	}
	s.cl.log.Debug("Wi-Fi settings written", "ssid", string(ssid))
	progress("waiting for the device to join " + bluenet.QuoteSSID(ssid))

	var grace <-chan time.Time // runs once the device is Provisioned without a result
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ImprovOutcome{}, fmt.Errorf("%w: the device did not join %s in time (it is %s)",
					ErrTimeout, bluenet.QuoteSSID(ssid), st)
			}
			return ImprovOutcome{}, ctx.Err()
		case <-s.p.Done():
			if st == improv.StateProvisioned {
				return ImprovOutcome{State: st}, nil
			}
			return ImprovOutcome{}, s.lostErr()
		case <-grace:
			return ImprovOutcome{State: st}, nil
		case v, ok := <-s.states:
			if !ok {
				s.states = nil
				continue
			}
			ns, perr := improv.ParseState(v)
			if perr != nil {
				s.cl.log.Debug("ignoring Current State", "err", perr)
				continue
			}
			if ns != st {
				progress("device is " + ns.String())
			}
			st = ns
			if st == improv.StateProvisioned && grace == nil {
				grace = time.After(s.cl.cfg.ResultGrace)
			}
		case v, ok := <-s.errs:
			if !ok {
				s.errs = nil
				continue
			}
			code, perr := improv.ParseErrorCode(v)
			if perr != nil || code == improv.ErrorNone {
				continue
			}
			progress("device says: " + code.String())
			return ImprovOutcome{}, improvJoinError(ssid, code)
		case v, ok := <-s.results:
			if !ok {
				s.results = nil
				continue
			}
			cmd, ss, perr := improv.ParseResult(v)
			if perr != nil || cmd != improv.CommandWiFiSettings {
				s.cl.log.Debug("ignoring RPC result", "command", cmd, "err", perr)
				continue
			}
			out := ImprovOutcome{State: improv.StateProvisioned}
			if len(ss) > 0 {
				out.RedirectURL = ss[0]
			}
			return out, nil
		}
	}
}

// improvJoinError is the JoinError for an Improv Error State.
func improvJoinError(ssid []byte, code improv.ErrorCode) *JoinError {
	e := &JoinError{SSID: ssid, Reason: wifi.ReasonFailed, Code: bluenet.ResultFailed, ImprovError: code, Text: code.String()}
	switch code {
	case improv.ErrorUnableToConnect:
		e.Text = "unable to connect (Improv does not say why: wrong password, network out of range, ...)"
	case improv.ErrorNotAuthorized:
		e.Reason, e.Code = wifi.ReasonNotAuthorized, bluenet.ResultNotAuthorized
		e.Text = "not authorized: the device's setup window is closed (press its button or run `bluenet allow` on it)"
	case improv.ErrorInvalidRPC:
		e.Reason, e.Code = wifi.ReasonInvalid, bluenet.ResultInvalidInput
		e.Text = "the device could not read the SSID and password (invalid RPC packet)"
	}
	return e
}

// waitAuthorized waits for the state to become Authorized (or further).
func (s *ImprovSession) waitAuthorized(ctx context.Context, progress func(string)) (improv.State, error) {
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return 0, fmt.Errorf("%w: the device was not authorized in time", ErrTimeout)
			}
			return 0, ctx.Err()
		case <-s.p.Done():
			return 0, s.lostErr()
		case v, ok := <-s.states:
			if !ok {
				return 0, s.lostErr()
			}
			st, err := improv.ParseState(v)
			if err != nil || st == improv.StateAuthorizationRequired {
				continue
			}
			progress("device is " + st.String())
			return st, nil
		}
	}
}

// drain drops notifications that came before a new command.
func (s *ImprovSession) drain() {
	for _, ch := range []<-chan []byte{s.errs, s.results} {
		for ch != nil {
			select {
			case _, ok := <-ch:
				if !ok {
					ch = nil
				}
			default:
				ch = nil
			}
		}
	}
}

// send writes a command packet to RPC Command: one write with response, or
// 20-byte pieces without response (Config.ImprovWriteWithoutResponse).
func (s *ImprovSession) send(ctx context.Context, pkt []byte) error {
	if !s.cl.cfg.ImprovWriteWithoutResponse {
		return s.write(ctx, improv.RPCCommandUUID, pkt)
	}
	const piece = 20 // ATT_MTU 23 - 3
	for off := 0; off < len(pkt); off += piece {
		if err := s.writeCommand(ctx, improv.RPCCommandUUID, pkt[off:min(off+piece, len(pkt))]); err != nil {
			return err
		}
	}
	return nil
}

// call sends the command packet pkt and waits for its answer: the strings
// of its RPC result (when wantResult; the first result only, more may
// follow through next), or an *ImprovError. Without wantResult it waits
// ResultGrace for an error and then returns nil.
func (s *ImprovSession) call(ctx context.Context, cmd improv.Command, pkt []byte, wantResult bool) ([][]string, error) {
	s.drain()
	if err := s.send(ctx, pkt); err != nil {
		return nil, err
	}
	s.cl.log.Debug("Improv command sent", "command", cmd)
	var wait time.Duration
	if !wantResult {
		wait = s.cl.cfg.ResultGrace
	}
	ss, ok, err := s.next(ctx, cmd, wait)
	if err != nil || !ok {
		return nil, err
	}
	return [][]string{ss}, nil
}

// next waits for the next RPC result of cmd or an Error State other than
// "no error". With wait > 0 it gives up after wait and returns ok false;
// with wait 0 it waits for ctx (ErrTimeout at its deadline).
func (s *ImprovSession) next(ctx context.Context, cmd improv.Command, wait time.Duration) ([]string, bool, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, false, fmt.Errorf("%w: no answer to %s", ErrTimeout, cmd)
			}
			return nil, false, ctx.Err()
		case <-s.p.Done():
			return nil, false, s.lostErr()
		case <-timeout:
			return nil, false, nil
		case v, ok := <-s.errs:
			if !ok {
				return nil, false, s.lostErr()
			}
			code, err := improv.ParseErrorCode(v)
			if err != nil || code == improv.ErrorNone {
				continue
			}
			return nil, false, &ImprovError{Command: cmd, Code: code}
		case v, ok := <-s.results:
			if !ok {
				return nil, false, s.lostErr()
			}
			c, ss, err := improv.ParseResult(v)
			if err != nil {
				s.cl.log.Debug("ignoring malformed RPC result", "err", err)
				continue
			}
			if c != cmd {
				s.cl.log.Debug("ignoring RPC result of another command", "command", c)
				continue
			}
			return ss, true, nil
		}
	}
}
