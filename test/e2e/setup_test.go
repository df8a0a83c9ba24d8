//go:build vm

package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// TestSetupWindow: a device that is online refuses provisioning from both
// protocols and stays on its network; `bluenet allow` opens the window and
// provisioning works; the window closes again by itself; and in auto mode
// it reopens once the network has been gone for --reopen-after.
func TestSetupWindow(t *testing.T) {
	homeAndCafe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// No boot window (the VM has just booted), so only "offline" opens it.
	d := startDaemon(t, "-a", "Setup Test", "--setup-window", "auto", "--window-time", "0", "--reopen-after", "8s", "--authorized-for", "45s")
	setupIs := func(prefix string, within time.Duration) {
		t.Helper()
		if !waitFor(within, func() bool { s, ok := d.status(); return ok && strings.HasPrefix(s.Setup, prefix) }) {
			s, _ := d.status()
			t.Fatalf("setup window %q, want %s…", s.Setup, prefix)
		}
	}
	setupIs("open (offline)", 10*time.Second)
	if code, out, _ := runJoin(t, homePSK, "-s", "HomeNet"); code != 0 {
		t.Fatalf("bluenet join HomeNet: exit %d\n%s", code, out)
	}
	setupIs("closed (online)", 30*time.Second)

	ph, _ := connectPhone(t, ctx)
	// Bluenet: Insufficient Authorization, Result "not authorized".
	err := ph.char(t, bluenet.SSIDUUID).Write(ctx, []byte("CafeNet"))
	if !errors.Is(err, central.ErrNotAuthorized) {
		t.Errorf("SSID write with the window closed: %v, want not authorized (ATT 0x08)", err)
	}
	if v, err := ph.char(t, bluenet.ResultUUID).Read(ctx); err != nil || len(v) == 0 || v[0] != byte(bluenet.ResultNotAuthorized) {
		t.Errorf("Result = %q, %v; want not authorized", v, err)
	}
	// Improv: Provisioned (online), error 0x04 for Wi-Fi settings.
	imp := func(uuid string) *central.Characteristic { return ph.char(t, uuid) }
	if v, err := imp(improv.StateUUID).Read(ctx); err != nil || !bytes.Equal(v, []byte{byte(improv.StateProvisioned)}) {
		t.Errorf("Improv state while closed and online = % x, %v", v, err)
	}
	if err := imp(improv.RPCCommandUUID).Write(ctx, improvPacket(t, improv.CommandWiFiSettings, "CafeNet", cafePSK)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool {
		v, err := imp(improv.ErrorUUID).Read(ctx)
		return err == nil && bytes.Equal(v, []byte{byte(improv.ErrorNotAuthorized)})
	}) {
		t.Errorf("Improv Wi-Fi settings with the window closed: no error 0x04")
	}
	time.Sleep(2 * time.Second)
	if s, _ := d.status(); s.SSID != "HomeNet" || s.State != "connected" {
		t.Fatalf("after refused writes the device is %+v, want still on HomeNet", s)
	}
	_ = ph.p.Disconnect(ctx)

	// The client says why, with exit code 11.
	_, stderr, code := runBluenet(t, cafePSK+"\n", "-b", vmtest.CentralAdapter, "provision", vmtest.PeripheralAddress,
		"--protocol", "bluenet", "--ssid", "CafeNet", "--password-file", "-")
	if code != 11 || !strings.Contains(stderr, "bluenet allow") {
		t.Errorf("provision with the window closed: exit %d, want 11 and a hint to run bluenet allow", code)
	}

	// bluenet allow opens it; a scanning phone sees Improv's state go from
	// Provisioned to Authorized in the advertisement; provisioning works.
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(t), Adapter: vmtest.CentralAdapter})
	if err != nil {
		t.Fatal(err)
	}
	advertisedState(t, ctx, c, improv.StateProvisioned, 20*time.Second)
	out, stderr, code := runBluenet(t, "", "allow", "45s")
	if code != 0 || !strings.Contains(out, "setup window open until") {
		t.Fatalf("bluenet allow: exit %d\n%s%s", code, out, stderr)
	}
	setupIs("open (authorized)", 5*time.Second)
	allowed := time.Now()
	advertisedState(t, ctx, c, improv.StateAuthorized, 20*time.Second)
	t.Logf("window open -> Authorized in the advertisement at the central: %.2fs", time.Since(allowed).Seconds())
	c.Close()
	_, _, code = runBluenet(t, cafePSK+"\n", "-b", vmtest.CentralAdapter, "provision", vmtest.PeripheralAddress,
		"--protocol", "bluenet", "--ssid", "CafeNet", "--password-file", "-")
	if code != 0 {
		t.Fatalf("provision after bluenet allow: exit %d", code)
	}
	if s, _ := d.status(); s.SSID != "CafeNet" {
		t.Errorf("after provisioning the device is %+v", s)
	}
	// It closes by itself when the authorization runs out.
	setupIs("closed (online)", 90*time.Second)

	// auto: the networks disappear (HomeNet too: it is remembered, and the
	// device would go back to it); the window reopens after --reopen-after.
	gone := time.Now()
	vmtest.Sh(t, "AP_IF=wlan2 ap_stop; AP_IF=wlan1 ap_stop")
	setupIs("open (offline)", 90*time.Second)
	t.Logf("network gone -> window open: %.1fs (reopen-after 8s)", time.Since(gone).Seconds())
	if time.Since(gone) < 8*time.Second {
		t.Errorf("the window reopened %.1fs after the network went, before --reopen-after", time.Since(gone).Seconds())
	}
}

// advertisedState scans until the device advertises Improv's state want in
// its service data, and fails the test after within.
func advertisedState(t *testing.T, ctx context.Context, c *central.Central, want improv.State, within time.Duration) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	sdUUID := central.MustParseUUID(improv.ServiceDataUUID)
	var last []byte
	err := c.Scan(sctx, central.ScanFilter{UUIDs: []central.UUID{central.MustParseUUID(improv.ServiceUUID)}}, func(a central.Advertisement) bool {
		last = a.ServiceData[sdUUID]
		return len(last) == 0 || improv.State(last[0]) != want
	})
	if err != nil {
		t.Fatalf("waiting for Improv state %v in the advertisement: %v (last service data % x)", want, err, last)
	}
}
