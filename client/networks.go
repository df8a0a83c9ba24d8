package client

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

// Networks is one round of a device's Available Networks notifications.
type Networks struct {
	// SSIDs in the order the device sent them (the Go daemon sends the
	// strongest first), each once.
	SSIDs [][]byte
	// Complete: a whole round was seen. False when the wait ended first;
	// SSIDs then holds what was seen.
	Complete bool
}

// Networks subscribes to Available Networks and collects one full round.
// The device sends every SSID it sees, one per notification, then pauses
// (3 s) and starts again; a round ends at the pause or when an SSID comes a
// second time. A subscription may start in the middle of a round: then the
// round after the next pause is the one collected. Networks returns when a
// round is complete or ctx is done (then with what it has, Complete false,
// and a nil error). A device that sees no networks sends nothing: the
// result is then empty and incomplete.
func (s *Session) Networks(ctx context.Context) (Networks, error) {
	vals, stop, err := s.subscribe(ctx, bluenet.NetworksUUID)
	if err != nil {
		return Networks{}, err
	}
	defer stop()
	r := &roundCollector{}
	gap := time.NewTimer(s.cl.cfg.CycleGap)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return r.partial(), nil
		case <-s.p.Done():
			return r.partial(), s.lostErr()
		case v, ok := <-vals:
			if !ok {
				return r.partial(), nil
			}
			s.cl.log.Debug("available network", "ssid", string(v))
			if r.add(v) {
				return r.round(), nil
			}
			gap.Reset(s.cl.cfg.CycleGap)
		case <-gap.C:
			if r.pause() {
				return r.round(), nil
			}
			gap.Reset(s.cl.cfg.CycleGap)
		}
	}
}

// roundCollector finds one round in a stream of Available Networks values.
// Feed it every SSID with add and every silence of CycleGap with pause.
type roundCollector struct {
	started bool     // a pause was seen: cur began with a round
	cur     [][]byte // SSIDs since the round began (or since subscribing)
	early   [][]byte // SSIDs before the first pause (a possibly partial round)
}

// add records an SSID; true when a round is complete (the SSID repeats).
func (r *roundCollector) add(ssid []byte) bool {
	if slices.ContainsFunc(r.cur, func(s []byte) bool { return bytes.Equal(s, ssid) }) {
		return true
	}
	r.cur = append(r.cur, slices.Clone(ssid))
	return false
}

// pause records a silence; true when it ends a round.
func (r *roundCollector) pause() bool {
	switch {
	case len(r.cur) == 0:
		r.started = true
		return false
	case r.started:
		return true
	}
	// The end of a round that began before we subscribed: the next one is
	// whole.
	r.started, r.early, r.cur = true, r.cur, nil
	return false
}

func (r *roundCollector) round() Networks { return Networks{SSIDs: r.cur, Complete: true} }

// partial is what was seen when the wait ended.
func (r *roundCollector) partial() Networks {
	out := slices.Clone(r.cur)
	for _, s := range r.early {
		if !slices.ContainsFunc(out, func(o []byte) bool { return bytes.Equal(o, s) }) {
			out = append(out, s)
		}
	}
	return Networks{SSIDs: out}
}
