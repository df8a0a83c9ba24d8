//go:build vm

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// TestAdapterBREDR switches BR/EDR off and on again on a dual-mode
// controller through the kernel's management socket, as the daemon does at
// start; the adapter must end up powered as before.
func TestAdapterBREDR(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd", "btvirt-dual")
	// One more virtual controller, this one dual-mode (BR/EDR + LE), on
	// its own air: the next free index after the bed's controllers.
	before, err := os.ReadDir("/sys/class/bluetooth")
	if err != nil {
		t.Fatal(err)
	}
	dual := fmt.Sprintf("hci%d", len(before))
	logf, err := os.Create(filepath.Join(vmtest.LogDir(), "btvirt-dual.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("btvirt", "-l1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	vmtest.Sh(t, `_dual() { [ -n "$(bt_addr `+dual+`)" ]; }; _on() { [ "$(bt_get `+dual+` Powered)" = true ]; }
		wait_for 20 "`+dual+` on D-Bus" _dual && bt_prop `+dual+` Powered boolean:true && wait_for 10 "`+dual+` powered" _on`)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := vmtest.SystemBus(t)
	a, err := gatt.OpenAdapter(ctx, conn, dual, 0)
	if err != nil {
		t.Fatal(err)
	}
	check := func(wantBREDR bool) {
		t.Helper()
		on, err := a.BREDR(ctx)
		if err != nil || on != wantBREDR {
			t.Fatalf("BREDR() = %v, %v; want %v", on, err, wantBREDR)
		}
		if !waitFor(10*time.Second, func() bool {
			v, err := a.Property(ctx, "Powered")
			p, _ := v.Value().(bool)
			return err == nil && p
		}) {
			t.Fatalf("%s not powered after switching BR/EDR", dual)
		}
	}
	check(true)
	if err := a.SetBREDR(ctx, false); err != nil {
		t.Fatalf("SetBREDR(false): %v", err)
	}
	check(false)
	if err := a.SetBREDR(ctx, false); err != nil {
		t.Fatalf("SetBREDR(false) again: %v", err)
	}
	if err := a.SetBREDR(ctx, true); err != nil {
		t.Fatalf("SetBREDR(true): %v", err)
	}
	check(true)

	// The LE-only controller under test: switching off is a no-op.
	le, err := gatt.OpenAdapter(ctx, conn, vmtest.PeripheralAdapter, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := le.SetBREDR(ctx, false); err != nil {
		t.Errorf("SetBREDR(false) on LE-only %s: %v", vmtest.PeripheralAdapter, err)
	}
}
