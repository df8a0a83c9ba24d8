package nm_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bluenet-project/bluenet/internal/nmfake"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// TestRememberedNetworks: each join keeps the previous network as a
// remembered profile (autoconnect, priority below the current one, newest
// highest, secret kept), at most Config.Remember of them; re-joining a
// remembered network makes it current again; Forget removes one.
func TestRememberedNetworks(t *testing.T) {
	netC := nmfake.Network{SSID: []byte("C"), PSK: "password-c", IPv4: netip.MustParseAddr("192.168.73.126")}
	netD := nmfake.Network{SSID: []byte("D"), PSK: "password-d", IPv4: netip.MustParseAddr("192.168.74.126")}
	e := setup(t, nmfake.Config{}, nm.Config{Remember: 2}, netA, netB, netC, netD)
	ctx := ctxT(t)
	join := func(ssid string) {
		t.Helper()
		if err := e.c.Join(ctx, []byte(ssid), wifi.Passphrase("password-"+strings.ToLower(ssid))); err != nil {
			t.Fatalf("Join %s: %v", ssid, err)
		}
	}
	type row struct {
		ssid    string
		current bool
		prio    int32
	}
	check := func(want ...row) {
		t.Helper()
		l, err := e.c.Saved(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for _, s := range l {
			got = append(got, row{string(s.SSID), s.Current, s.Priority})
		}
		if len(got) != len(want) {
			t.Fatalf("saved %+v, want %+v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("saved %+v, want %+v", got, want)
			}
		}
		for _, p := range e.fake.Profiles() {
			if p.PSK != "password-"+strings.ToLower(string(p.SSID)) || !p.Autoconnect || p.Persist != "disk" {
				t.Errorf("profile %s: psk kept %v, autoconnect %v, persist %s", p.ID, p.PSK != "", p.Autoconnect, p.Persist)
			}
		}
	}

	join("A")
	check(row{"A", true, 0})
	join("B")
	check(row{"B", true, 0}, row{"A", false, -1})
	if ps := profilesNamed(e.fake, "bluenet-saved-A"); len(ps) != 1 {
		t.Errorf("no profile named bluenet-saved-A: %+v", e.fake.Profiles())
	}
	join("C")
	check(row{"C", true, 0}, row{"B", false, -1}, row{"A", false, -2})
	join("D") // A, the oldest, goes: Remember is 2
	check(row{"D", true, 0}, row{"C", false, -1}, row{"B", false, -2})
	join("B") // B's remembered profile goes; it is current again
	check(row{"B", true, 0}, row{"D", false, -1}, row{"C", false, -2})

	n, err := e.c.Forget(ctx, []byte("C"))
	if err != nil || n != 1 {
		t.Fatalf("Forget C: %d, %v", n, err)
	}
	check(row{"B", true, 0}, row{"D", false, -1})
	if n, err := e.c.Forget(ctx, []byte("nothing")); err != nil || n != 0 {
		t.Errorf("Forget of an unknown SSID: %d, %v", n, err)
	}
}
