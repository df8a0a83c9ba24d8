package daemon

import (
	"context"
	"time"
)

// onNetworksSubscribe starts the Available Networks cycle when a central
// subscribes and stops it when the last one leaves.
func (d *daemon) onNetworksSubscribe(subscribed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !subscribed {
		if d.cycleStop != nil {
			d.cycleStop()
			d.cycleStop = nil
			d.log.Debug("available networks: nobody subscribed, cycle stopped")
		}
		return
	}
	if d.cycleStop != nil {
		return // already running for an earlier subscriber
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cycleStop = cancel
	go d.cycle(ctx)
}

// cycle sends every known SSID once, NotifyGap apart, pauses CyclePause and
// starts again, until ctx is done. An empty list waits for the next scan.
func (d *daemon) cycle(ctx context.Context) {
	scanCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := d.cfg.WiFi.RequestScan(scanCtx); err != nil {
		d.log.Debug("request scan", "err", err)
	}
	cancel()
	d.log.Debug("available networks: cycle started")
	gap := time.NewTimer(0)
	defer gap.Stop()
	wait := func(dur time.Duration, changed <-chan struct{}) bool {
		gap.Reset(dur)
		select {
		case <-ctx.Done():
			return false
		case <-gap.C:
		case <-changed:
			if !gap.Stop() {
				<-gap.C
			}
		}
		return true
	}
	<-gap.C
	for {
		d.mu.Lock()
		list, changed := NetworkList(d.aps), d.apsChanged
		d.mu.Unlock()
		if len(list) == 0 {
			if !wait(d.cfg.CyclePause, changed) {
				return
			}
			continue
		}
		for i, ssid := range list {
			if ctx.Err() != nil {
				return
			}
			d.notify(d.networks, ssid)
			if i < len(list)-1 && !wait(d.cfg.NotifyGap, nil) {
				return
			}
		}
		if !wait(d.cfg.CyclePause, nil) {
			return
		}
	}
}
