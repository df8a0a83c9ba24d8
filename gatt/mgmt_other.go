//go:build !linux

package gatt

import (
	"context"
	"fmt"
	"runtime"
)

// BREDR is only implemented on Linux.
func (a *Adapter) BREDR(ctx context.Context) (bool, error) {
	return false, fmt.Errorf("gatt: BR/EDR control is not implemented on %s", runtime.GOOS)
}

// SetBREDR is only implemented on Linux.
func (a *Adapter) SetBREDR(ctx context.Context, on bool) error {
	return fmt.Errorf("gatt: BR/EDR control is not implemented on %s", runtime.GOOS)
}

func disconnectNow(ctx context.Context, adapter, addr, addrType string) error {
	return ErrNotSupported
}
