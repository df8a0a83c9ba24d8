package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// onSSIDWrite keeps the SSID a central wants to join in its session. The
// value is what the gatt server assembled from the central's (long) write.
func (d *daemon) onSSIDWrite(r *gatt.Request, value []byte) error {
	if len(value) > 32 {
		d.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	if r.Offset == 0 && len(value) == 0 {
		d.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	r.Session.Store(ssidKey{}, append([]byte(nil), value...))
	d.log.Debug("SSID written", "ssid", string(value), "central", r.Address)
	return nil
}

// onCredentialsWrite checks the secret and starts the join with the SSID
// the same central wrote before. When the piece may be followed by more
// pieces of a long write, the join starts after JoinDelay unless another
// piece arrives first.
func (d *daemon) onCredentialsWrite(r *gatt.Request, value []byte) error {
	v, ok := r.Session.Load(ssidKey{})
	ssid, _ := v.([]byte)
	if !ok || wifi.ValidateSSID(ssid) != nil {
		d.setResult(bluenet.ResultInvalidInput)
		d.log.Info("credentials written before a valid SSID", "central", r.Address)
		return gatt.ErrNotPermitted
	}
	if len(value) > 64 {
		d.setResult(bluenet.ResultInvalidInput)
		return gatt.ErrInvalidValueLength
	}
	secret := string(value)
	// A prepared-write piece carries MTU-5 bytes; a shorter one is the last.
	more := r.MTU > 5 && len(r.Chunk) >= int(r.MTU)-5
	if !more {
		if err := wifi.ValidateSecret(secret); err != nil {
			d.setResult(bluenet.ResultInvalidInput)
			d.log.Info("credentials rejected", "central", r.Address, "reason", "invalid length or characters")
			return gatt.ErrInvalidValueLength
		}
	}
	delay := time.Duration(0)
	if more {
		delay = d.cfg.JoinDelay
	}
	d.scheduleJoin(r.Device, r.Address, ssid, secret, delay)
	return nil
}

// scheduleJoin (re)starts the central's join timer.
func (d *daemon) scheduleJoin(dev dbus.ObjectPath, addr string, ssid []byte, secret string, delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.joinTimers[dev]; t != nil {
		t.Stop()
	}
	d.joinTimers[dev] = time.AfterFunc(delay, func() {
		d.mu.Lock()
		delete(d.joinTimers, dev)
		d.mu.Unlock()
		if err := wifi.ValidateSecret(secret); err != nil {
			d.setResult(bluenet.ResultInvalidInput)
			d.log.Info("credentials rejected", "central", addr, "reason", "invalid length or characters")
			return
		}
		d.join(addr, ssid, secret)
	})
}

// join runs one join and reports its outcome in the Result characteristic.
func (d *daemon) join(addr string, ssid []byte, secret string) {
	d.log.Info("join requested", "ssid", string(ssid), "central", addr)
	d.setResult(bluenet.ResultInProgress)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	err := d.cfg.WiFi.Join(ctx, ssid, wifi.Passphrase(secret))
	code := resultOf(err)
	if errors.Is(err, wifi.ErrBusy) {
		// The running join keeps its own result; tell only this one off.
		d.log.Info("join refused: another join is running", "ssid", string(ssid))
		d.setResult(code)
		return
	}
	if err != nil {
		d.log.Warn("join failed", "ssid", string(ssid), "result", code.String(), "err", err,
			"seconds", time.Since(start).Seconds())
	} else {
		d.log.Info("joined", "ssid", string(ssid), "seconds", time.Since(start).Seconds())
	}
	d.setResult(code)
}

func (d *daemon) setResult(c bluenet.ResultCode) {
	d.mu.Lock()
	d.lastResult = c
	d.mu.Unlock()
	d.notify(d.result, bluenet.EncodeResult(c))
	d.publishStatus()
}
