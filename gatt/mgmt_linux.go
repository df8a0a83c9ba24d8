package gatt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// hciDevNone binds a management socket to no controller in particular.
const hciDevNone = 0xffff

// mgmtSocket is a socket on the kernel's management channel.
type mgmtSocket struct{ fd int }

func openMgmt() (*mgmtSocket, error) {
	fd, err := unix.Socket(unix.AF_BLUETOOTH, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.BTPROTO_HCI)
	if err != nil {
		return nil, fmt.Errorf("gatt: management socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrHCI{Dev: hciDevNone, Channel: unix.HCI_CHANNEL_CONTROL}); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: bind management socket: %v", ErrPermissionDenied, err)
		}
		return nil, fmt.Errorf("gatt: bind management socket: %w", err)
	}
	return &mgmtSocket{fd: fd}, nil
}

func (m *mgmtSocket) close() { unix.Close(m.fd) }

// do sends a command and waits for its reply, at most until ctx is done or
// 5 s have passed. A status other than success is a mgmtError.
func (m *mgmtSocket) do(ctx context.Context, op, index uint16, params ...byte) ([]byte, error) {
	if _, err := unix.Write(m.fd, mgmtCommand(op, index, params)); err != nil {
		return nil, fmt.Errorf("gatt: management command %#04x: %w", op, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 1024)
	for {
		wait := time.Until(deadline)
		if wait <= 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("gatt: management command %#04x: no reply", op)
		}
		fds := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(wait, 200*time.Millisecond)/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("gatt: management socket: %w", err)
		}
		r, err := unix.Read(m.fd, buf)
		if err != nil {
			return nil, fmt.Errorf("gatt: management socket: %w", err)
		}
		if status, params, ok := mgmtReply(buf[:r], op, index); ok {
			if status != mgmtStatusSuccess {
				return nil, mgmtError{op, status}
			}
			return append([]byte(nil), params...), nil
		}
	}
}

// withController opens a management socket and runs f with it and the
// index of the controller named name ("hci0").
func withController(name string, f func(m *mgmtSocket, idx uint16) error) error {
	idx, err := controllerIndex(name)
	if err != nil {
		return err
	}
	m, err := openMgmt()
	if err != nil {
		return err
	}
	defer m.close()
	return f(m, idx)
}

// BREDR reports whether BR/EDR is enabled on the adapter; false for an
// LE-only controller. It reads the kernel's management interface.
func (a *Adapter) BREDR(ctx context.Context) (on bool, err error) {
	err = withController(a.Name(), func(m *mgmtSocket, idx uint16) error {
		info, err := m.do(ctx, mgmtOpReadInfo, idx)
		if err != nil {
			return err
		}
		_, cur, err := mgmtSettings(info)
		on = cur&mgmtSettingBREDR != 0
		return err
	})
	return on, err
}

// SetBREDR switches BR/EDR (classic Bluetooth) on or off on a dual-mode
// adapter, as `btmgmt bredr off` does: BlueZ has no D-Bus API for it, so it
// goes through the kernel's management socket, which needs CAP_NET_ADMIN
// (else the error matches ErrPermissionDenied). The kernel only accepts the
// change while the controller is powered off, so a powered adapter is
// powered off and on again around it. Switching off an LE-only controller
// does nothing; switching it on fails with ErrNotSupported.
func (a *Adapter) SetBREDR(ctx context.Context, on bool) error {
	return withController(a.Name(), func(m *mgmtSocket, idx uint16) error {
		return a.setBREDR(ctx, m, idx, on)
	})
}

func (a *Adapter) setBREDR(ctx context.Context, m *mgmtSocket, idx uint16, on bool) error {
	info, err := m.do(ctx, mgmtOpReadInfo, idx)
	if err != nil {
		return err
	}
	sup, cur, err := mgmtSettings(info)
	if err != nil {
		return err
	}
	switch {
	case sup&mgmtSettingBREDR == 0 && on:
		return fmt.Errorf("gatt: %s is an LE-only controller: %w", a.Name(), ErrNotSupported)
	case sup&mgmtSettingBREDR == 0, (cur&mgmtSettingBREDR != 0) == on:
		return nil
	}
	val := byte(0)
	if on {
		val = 1
	}
	powered := cur&mgmtSettingPowered != 0
	if powered {
		if _, err := m.do(ctx, mgmtOpSetPowered, idx, 0); err != nil {
			return fmt.Errorf("gatt: power off %s to switch BR/EDR: %w", a.Name(), err)
		}
	}
	_, err = m.do(ctx, mgmtOpSetBREDR, idx, val)
	if powered {
		// Power on again even when the switch failed.
		if _, perr := m.do(context.WithoutCancel(ctx), mgmtOpSetPowered, idx, 1); perr != nil && err == nil {
			err = fmt.Errorf("gatt: power %s on again: %w", a.Name(), perr)
		}
	}
	if err != nil {
		return fmt.Errorf("gatt: switch BR/EDR on %s: %w", a.Name(), err)
	}
	return nil
}

// disconnectNow drops the LE link to a device at once through the
// management interface (needs CAP_NET_ADMIN). bluetoothd's
// Device1.Disconnect waits 2 s before it does the same.
func disconnectNow(ctx context.Context, adapter, addr, addrType string) error {
	params, err := mgmtAddress(addr, addrType)
	if err != nil {
		return err
	}
	return withController(adapter, func(m *mgmtSocket, idx uint16) error {
		_, err := m.do(ctx, mgmtOpDisconnect, idx, params...)
		return err
	})
}
