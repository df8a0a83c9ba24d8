//go:build vm

// Package e2e holds the end-to-end tests that run inside the QEMU test VM
// against real bluetoothd, NetworkManager and hostapd:
//
//	go test -tags vm -count=1 ./test/e2e
//
// One VM is booted per run; see internal/vmtest.
package e2e

import (
	"testing"

	"github.com/bluenet-project/bluenet/internal/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }
