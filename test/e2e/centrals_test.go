//go:build vm

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/att"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

// TestFaultSeveralCentrals (RELIABILITY.md scenario 9, and the two recs
// of SECURITY.md): two centrals, hci1 and hci2, connected to the device at
// once with the kernel's ATT client, both subscribed to Available Networks
// and Connection State. Both get the network list; the first provisions;
// the second's write in the middle of that setup is refused as busy (ATT
// 0xFE) and changes nothing; both are told Connected; the join succeeds.
//
// The bed: btvirt tells both ends of a new LE link the central's handle,
// the first free one on the central's controller (RELIABILITY.md). A fresh
// hci2's first link would be numbered 42 like hci1's, and hci0's host would
// take the two links for one. A link from hci2 to hci3 first takes 42 on
// both, so hci2's link to hci0 is 43 on both ends.
func TestFaultSeveralCentrals(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet", "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ap := vmtest.AP{Iface: "wlan1", SSID: "ManyNet", PSK: "many-pass-1"}
	vmtest.StartAP(t, ap)
	vmtest.Sh(t, "nm_wait_ssid ManyNet 90")

	second := extraCentral(t, ctx)
	startDaemon(t, "-h", "many", "-a", "Bluenet Many")
	uuids := [][]byte{uuidBytes(bluenet.NetworksUUID), uuidBytes(bluenet.StateUUID),
		uuidBytes(bluenet.SSIDUUID), uuidBytes(bluenet.CredentialsUUID)}
	a, ha := dialKernel(t, ctx, uuids...)
	b, err := att.Dial(ctx, second, vmtest.PeripheralAddress)
	if err != nil {
		t.Fatalf("second central: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	chars, err := b.Characteristics(ctx)
	if err != nil {
		t.Fatalf("second central: discover: %v", err)
	}
	var hb []att.Characteristic
	for _, u := range uuids {
		c, ok := att.Find(chars, u)
		if !ok {
			t.Fatalf("second central: no characteristic % x", u)
		}
		hb = append(hb, c)
	}
	t.Logf("hci0's links: %s; hci2's: %s", strings.Join(strings.Fields(vmtest.Sh(t, "hcitool -i hci0 con")), " "),
		strings.Join(strings.Fields(vmtest.Sh(t, "hcitool -i hci2 con")), " "))

	recs := []*centralRec{newCentralRec("first", a, ha), newCentralRec("second", b, hb)}
	for _, p := range recs {
		// bluetoothd puts a characteristic's CCC descriptor right after
		// its value.
		for _, c := range p.chars[:2] {
			if err := p.conn.Write(ctx, c.ValueHandle+1, []byte{1, 0}); err != nil {
				t.Fatalf("%s: subscribe to 0x%04x: %v", p.name, c.ValueHandle, err)
			}
		}
	}
	for _, p := range recs {
		if !p.waitNetwork(60*time.Second, ap.SSID) {
			t.Fatalf("%s central: %s not among the networks notified: %q", p.name, ap.SSID, p.networkList())
		}
	}
	t.Logf("both centrals got the network list: first %q, second %q", recs[0].networkList(), recs[1].networkList())

	// The first provisions; the second tries in the middle of it.
	if err := a.Write(ctx, ha[2].ValueHandle, []byte(ap.SSID)); err != nil {
		t.Fatalf("first: write SSID: %v", err)
	}
	start := time.Now()
	if err := a.Write(ctx, ha[3].ValueHandle, []byte(ap.PSK)); err != nil {
		t.Fatalf("first: write credentials: %v", err)
	}
	err = b.Write(ctx, hb[2].ValueHandle, []byte("Intruder"))
	var ae *att.Error
	if !errors.As(err, &ae) || ae.Code != 0xfe {
		t.Errorf("second central's SSID write during the first's setup: %v, want ATT error 0xfe (busy)", err)
	}
	want := append([]byte{byte(bluenet.Connected)}, ap.SSID...)
	for _, p := range recs {
		if !p.waitState(90*time.Second, want) {
			t.Fatalf("%s central: no Connected %s notification; states %q", p.name, ap.SSID, p.stateList())
		}
		t.Logf("MEASURE scenario 9: credentials -> Connected at the %s central: %.2fs", p.name, p.sinceState(want, start).Seconds())
	}
	for _, p := range recs {
		for _, s := range p.stateList() {
			if bytes.Contains([]byte(s), []byte("Intruder")) {
				t.Errorf("%s central was told of the refused SSID: %q", p.name, s)
			}
		}
	}
	e := &wifiEnv{t: t, conn: vmtest.SystemBus(t)}
	if ssid := settled(t, e, 30*time.Second); ssid != ap.SSID {
		t.Fatalf("device on %q, want %q", ssid, ap.SSID)
	}
	// Both links still work.
	for _, p := range recs {
		if v, err := p.conn.Read(ctx, p.chars[1].ValueHandle); err != nil || !bytes.Equal(v, want) {
			t.Errorf("%s central reads State %q, %v; want Connected %s", p.name, v, err, ap.SSID)
		}
	}
}

// extraCentral powers hci2 and hci3 and links hci2 to hci3 until the test
// ends (see TestFaultSeveralCentrals), returning hci2's address.
func extraCentral(t *testing.T, ctx context.Context) string {
	t.Helper()
	for _, h := range []string{"hci2", "hci3"} {
		if _, err := os.Stat(filepath.Join("/sys/class/bluetooth", h)); err != nil {
			t.Fatalf("the bed has no %s (guest-env.sh starts btvirt with four controllers): %v", h, err)
		}
	}
	vmtest.Sh(t, `_on() { [ "$(bt_get hci2 Powered)" = true ] && [ "$(bt_get hci3 Powered)" = true ]; }
		bt_prop hci2 Powered boolean:true; bt_prop hci3 Powered boolean:true; wait_for 10 "hci2+hci3 powered" _on &&
		script -qc "btmgmt --index 3 add-adv -c -d 020106 1" /dev/null >>$L/btmgmt.log 2>&1`)
	t.Cleanup(func() {
		_, _ = vmtest.ShErr(`script -qc "btmgmt --index 3 rm-adv 1" /dev/null >>$L/btmgmt.log 2>&1
			bt_prop hci2 Powered boolean:false; bt_prop hci3 Powered boolean:false`)
	})
	addr2 := strings.TrimSpace(vmtest.Sh(t, "bt_addr hci2"))
	addr3 := strings.TrimSpace(vmtest.Sh(t, "bt_addr hci3"))
	var filler *att.Conn
	var err error
	for try := 0; try < 3; try++ {
		dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
		filler, err = att.Dial(dctx, addr2, addr3)
		dcancel()
		if err == nil {
			break
		}
		t.Logf("hci2 -> hci3 (try %d): %v", try+1, err)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("link hci2 -> hci3: %v", err)
	}
	t.Cleanup(func() { filler.Close() })
	return addr2
}

func uuidBytes(s string) []byte { u := gatt.MustParseUUID(s); return u[:] }

// centralRec records what one central is notified of: chars are Available
// Networks, Connection State, SSID and Credentials.
type centralRec struct {
	name  string
	conn  *att.Conn
	chars []att.Characteristic

	mu       sync.Mutex
	networks []string
	states   []stateAt
}

type stateAt struct {
	v  []byte
	at time.Time
}

func newCentralRec(name string, c *att.Conn, chars []att.Characteristic) *centralRec {
	p := &centralRec{name: name, conn: c, chars: chars}
	c.OnNotify(func(h uint16, v []byte) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch h {
		case chars[0].ValueHandle:
			p.networks = append(p.networks, string(v))
		case chars[1].ValueHandle:
			p.states = append(p.states, stateAt{append([]byte(nil), v...), time.Now()})
		}
	})
	return p
}

func (p *centralRec) networkList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.networks...)
}

func (p *centralRec) stateList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.states {
		out = append(out, string(s.v))
	}
	return out
}

func (p *centralRec) waitNetwork(limit time.Duration, ssid string) bool {
	return waitFor(limit, func() bool {
		for _, n := range p.networkList() {
			if n == ssid {
				return true
			}
		}
		return false
	})
}

func (p *centralRec) waitState(limit time.Duration, want []byte) bool {
	return waitFor(limit, func() bool { return p.hasState(want) })
}

func (p *centralRec) hasState(want []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.states {
		if bytes.Equal(s.v, want) {
			return true
		}
	}
	return false
}

// sinceState returns how long after start the first notification of want
// came, or 0 if none did.
func (p *centralRec) sinceState(want []byte, start time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.states {
		if bytes.Equal(s.v, want) {
			return s.at.Sub(start)
		}
	}
	return 0
}
