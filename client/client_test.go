package client

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

func st(kind bluenet.StateKind, ssid string) bluenet.State {
	return bluenet.State{Kind: kind, SSID: []byte(ssid)}
}

// event is one thing a device reports, at a time after the credentials
// write.
type event struct {
	at     time.Duration
	state  *bluenet.State
	result *bluenet.Result
}

func stateAt(at time.Duration, kind bluenet.StateKind, ssid string) event {
	s := st(kind, ssid)
	return event{at: at, state: &s}
}

func resultAt(at time.Duration, code bluenet.ResultCode) event {
	return event{at: at, result: &bluenet.Result{Code: code, Text: code.String()}}
}

func TestJoinTracker(t *testing.T) {
	const (
		ok      = "ok"
		pending = "pending"
	)
	down, disc, conning, conn := bluenet.Down, bluenet.Disconnected, bluenet.Connecting, bluenet.Connected
	tests := []struct {
		name      string
		hasResult bool
		initial   bluenet.State
		events    []event
		want      string // ok, pending, or the failure's Result code
	}{
		// The original (no Result characteristic): state only.
		{"original ok", false, st(disc, ""), []event{
			stateAt(100*time.Millisecond, conning, "home"), stateAt(2*time.Second, conn, "home")}, ok},
		{"original ok without Connecting", false, st(disc, ""), []event{stateAt(time.Second, conn, "home")}, ok},
		{"original wrong password", false, st(disc, ""), []event{
			stateAt(100*time.Millisecond, conning, "home"), stateAt(5*time.Second, disc, "")}, "failed"},
		{"original falls back to another network", false, st(conn, "old"), []event{
			stateAt(100*time.Millisecond, disc, ""), stateAt(200*time.Millisecond, conning, "home"),
			stateAt(5*time.Second, conning, "old"), stateAt(6*time.Second, conn, "old")}, "failed"},
		{"original short dip is not a failure", false, st(disc, ""), []event{
			stateAt(100*time.Millisecond, conning, "home"), stateAt(time.Second, disc, ""),
			stateAt(2*time.Second, conning, "home"), stateAt(6*time.Second, conn, "home")}, ok},
		{"original Connecting without SSID counts", false, st(disc, ""), []event{
			stateAt(100*time.Millisecond, conning, ""), stateAt(5*time.Second, down, "")}, "failed"},
		{"original Disconnected before trying is not a failure", false, st(conn, "old"), []event{
			stateAt(100*time.Millisecond, disc, ""), stateAt(30*time.Second, disc, "")}, pending},
		{"original already connected: must move first", false, st(conn, "home"), []event{
			stateAt(100*time.Millisecond, conn, "home")}, pending},
		{"original already connected, rejoins", false, st(conn, "home"), []event{
			stateAt(100*time.Millisecond, disc, ""), stateAt(time.Second, conning, "home"),
			stateAt(2*time.Second, conn, "home")}, ok},
		{"original already connected, stays", false, st(conn, "home"), []event{
			stateAt(11*time.Second, conn, "home")}, ok},
		{"original still connecting", false, st(disc, ""), []event{
			stateAt(time.Second, conning, "home"), stateAt(60*time.Second, conning, "home")}, pending},
		// Bluenet: the Result decides.
		{"result ok after Connected", true, st(disc, ""), []event{
			resultAt(10*time.Millisecond, bluenet.ResultInProgress), stateAt(time.Second, conning, "home"),
			stateAt(2*time.Second, conn, "home"), resultAt(2*time.Second, bluenet.ResultOK)}, ok},
		{"result ok before Connected", true, st(disc, ""), []event{
			resultAt(2*time.Second, bluenet.ResultOK), stateAt(2*time.Second, conn, "home")}, ok},
		{"result ok but state elsewhere", true, st(conn, "old"), []event{
			resultAt(2*time.Second, bluenet.ResultOK)}, pending},
		{"result wrong password, old network kept", true, st(conn, "old"), []event{
			resultAt(10*time.Millisecond, bluenet.ResultInProgress), stateAt(100*time.Millisecond, conning, "home"),
			stateAt(5*time.Second, conn, "old"), resultAt(5*time.Second, bluenet.ResultWrongPassword)}, "wrong password"},
		{"result not found", true, st(disc, ""), []event{resultAt(26*time.Second, bluenet.ResultNotFound)}, "network not found"},
		{"result busy", true, st(disc, ""), []event{resultAt(time.Second, bluenet.ResultBusy)}, "busy: another join is running"},
		{"result: Connected to ssid alone is not enough", true, st(conn, "home"), []event{
			stateAt(time.Second, conn, "home"), stateAt(20*time.Second, conn, "home")}, pending},
		{"result: state fallback is not a failure", true, st(disc, ""), []event{
			stateAt(time.Second, conning, "home"), stateAt(2*time.Second, disc, ""), stateAt(20*time.Second, disc, "")}, pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			tr := &joinTracker{ssid: []byte("home"), hasResult: tt.hasResult, initial: tt.initial, last: tt.initial,
				start: t0, fallback: DefaultFallbackGrace, settle: DefaultSettle}
			var done bool
			var err error
			now := t0
			for _, e := range tt.events {
				// Ticks every 250 ms up to the event, as Provision's loop.
				for ; !done && now.Before(t0.Add(e.at)); now = now.Add(250 * time.Millisecond) {
					done, err = tr.tick(now)
				}
				if done {
					break
				}
				switch {
				case e.state != nil:
					done, err = tr.onState(*e.state, t0.Add(e.at))
				case e.result != nil:
					done, err = tr.onResult(*e.result)
				}
				if done {
					break
				}
			}
			// Then 5 s of quiet (more than FallbackGrace, less than Settle).
			if len(tt.events) > 0 {
				for end := t0.Add(tt.events[len(tt.events)-1].at + 5*time.Second); !done && now.Before(end); now = now.Add(250 * time.Millisecond) {
					done, err = tr.tick(now)
				}
			}
			got := pending
			switch {
			case done && err == nil:
				got = ok
			case done:
				var je *JoinError
				if !errors.As(err, &je) || !errors.Is(err, ErrJoinFailed) {
					t.Fatalf("err = %v, want a *JoinError", err)
				}
				got = je.Code.String()
				if !strings.Contains(err.Error(), `"home"`) {
					t.Errorf("error does not name the SSID: %v", err)
				}
			}
			if got != tt.want {
				t.Errorf("outcome %s (err %v), want %s", got, err, tt.want)
			}
		})
	}
}

func TestRoundCollector(t *testing.T) {
	// Input: SSIDs, with "|" for a silence of CycleGap.
	tests := []struct {
		name     string
		in       string
		want     string
		complete bool
	}{
		{"round after the first scan", "| A B C |", "A B C", true},
		{"round ended by a repeat", "| A B C A", "A B C", true},
		{"subscribed mid-round, repeat", "B C A B", "B C A", true},
		{"subscribed mid-round, pause", "B C | A B C |", "A B C", true},
		{"subscribed mid-round, pause then repeat", "C | A B C A", "A B C", true},
		{"one network", "| A | A |", "A", true},
		{"no network yet", "| | |", "", false},
		{"cut short before any pause", "B C", "B C", false},
		{"cut short after a mid-round pause", "C | A", "A C", false},
		{"list changed between rounds", "| A B | A B C |", "A B", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &roundCollector{}
			var got Networks
			done := false
			for _, tok := range strings.Fields(tt.in) {
				if tok == "|" {
					done = r.pause()
				} else {
					done = r.add([]byte(tok))
				}
				if done {
					got = r.round()
					break
				}
			}
			if !done {
				got = r.partial()
			}
			var names []string
			for _, s := range got.SSIDs {
				names = append(names, string(s))
			}
			if s := strings.Join(names, " "); s != tt.want || got.Complete != tt.complete {
				t.Errorf("got %q complete=%v, want %q complete=%v", s, got.Complete, tt.want, tt.complete)
			}
		})
	}
}

func TestIsAddressAndLabel(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{{"00:AA:01:00:00:00", true}, {"00:aa:01:00:00:0f", true}, {"00:AA:01:00:00", false},
		{"00-AA-01-00-00-00", false}, {"Bluenet Test", false}, {"", false},
		{"00:AA:01:00:00:0G", false}, {"00:AA:01:00:00:000", false}, {"0:AA:01:00:00:000", false}} {
		if IsAddress(tt.s) != tt.want {
			t.Errorf("IsAddress(%q) = %v", tt.s, !tt.want)
		}
	}
	for _, tt := range []struct {
		d    Device
		want string
	}{
		{Device{Address: "00:AA:01:00:00:00", Alias: "Kitchen", Name: "bluenet"}, "Kitchen"},
		{Device{Address: "00:AA:01:00:00:00", Alias: "00-AA-01-00-00-00", Name: "pi"}, "pi"},
		{Device{Address: "00:AA:01:00:00:00", Alias: "00-AA-01-00-00-00"}, "00:AA:01:00:00:00"},
	} {
		if got := tt.d.Label(); got != tt.want {
			t.Errorf("%+v.Label() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestJoinErrorText(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &JoinError{SSID: []byte{0xff, 'x'}, Code: bluenet.ResultWrongPassword, Text: "wrong password"})
	if !errors.Is(err, ErrJoinFailed) {
		t.Errorf("JoinError does not match ErrJoinFailed")
	}
	if want := `client: joining "\xffx" failed: wrong password`; !strings.Contains(err.Error(), want) {
		t.Errorf("Error() = %q, want it to contain %q", err.Error(), want)
	}
}

func TestDeviceFromAdvertisement(t *testing.T) {
	tests := []struct {
		a    central.Advertisement
		want Device
	}{
		{central.Advertisement{Address: "A", Alias: "x", RSSI: -60}, Device{Address: "A", Alias: "x", RSSI: -60, Seen: true}},
		{central.Advertisement{Address: "A", RSSI: 127}, Device{Address: "A", Seen: true}},
		{central.Advertisement{Address: "A"}, Device{Address: "A"}},
		{central.Advertisement{Address: "A", Connected: true}, Device{Address: "A", Connected: true, Seen: true}},
	}
	for _, tt := range tests {
		if got := device(tt.a); got != tt.want {
			t.Errorf("device(%+v) = %+v, want %+v", tt.a, got, tt.want)
		}
	}
}
