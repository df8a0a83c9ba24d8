package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/internal/devicetest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/wifitest"
)

const allCaps = improv.CapabilityIdentify | improv.CapabilityDeviceInfo | improv.CapabilityScan | improv.CapabilityHostname

const improvAddr = gatttest.AdapterAddress

// newFakeImprov starts a fake BlueZ with one Improv device, esp-plug, at
// improvAddr, and returns a connection for the client.
func newFakeImprov(t *testing.T, state improv.State, caps improv.Capabilities) (*devicetest.Fake, *devicetest.Improv, *dbus.Conn) {
	f := devicetest.New(t)
	return f, devicetest.NewImprov(t, f, "esp-plug", state, caps), f.Conn(t)
}

// newTestClient opens a Client on the fake's central adapter with short
// timeouts.
func newTestClient(t *testing.T, conn *dbus.Conn, mod func(*Config)) *Client {
	cfg := Config{Conn: conn, Adapter: devicetest.CentralAdapter, ScanTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second,
		ResultGrace: 300 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connectImprov(t *testing.T, c *Client) *ImprovSession {
	t.Helper()
	s, err := c.ConnectImprov(testCtx(t), "esp-plug")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestImprovScanListsImprovOnlyDevice: the scan lists an Improv-only device
// and a Bluenet device, each as what it is, and not a device that
// advertises something else. The fake shows one device at a time, so each
// is scanned on its own fake.
func TestImprovScanListsImprovOnlyDevice(t *testing.T) {
	scan := func(t *testing.T, conn *dbus.Conn) map[string]Device {
		c := newTestClient(t, conn, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var mu sync.Mutex
		seen := map[string]Device{}
		if err := c.Scan(ctx, func(dev Device) { mu.Lock(); seen[dev.Address] = dev; mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Run("improv", func(t *testing.T) {
		_, _, conn := newFakeImprov(t, improv.StateAuthorized, allCaps)
		seen := scan(t, conn)
		imp, ok := seen[improvAddr]
		if len(seen) != 1 || !ok {
			t.Fatalf("scan found %+v, want the Improv device only", seen)
		}
		if !imp.Improv || imp.Bluenet || imp.Protocols() != "improv" || imp.ImprovState != improv.StateAuthorized ||
			imp.ImprovCapabilities != allCaps || !imp.Seen || imp.Label() != "esp-plug" {
			t.Errorf("Improv device = %+v", imp)
		}
	})
	t.Run("bluenet", func(t *testing.T) {
		f := devicetest.New(t)
		f.Daemon(t, daemon.Config{WiFi: wifitest.New(), Alias: "Kitchen", Protocols: []string{"bluenet"}})
		seen := scan(t, f.Conn(t))
		bn, ok := seen[gatttest.AdapterAddress]
		if len(seen) != 1 || !ok {
			t.Fatalf("scan found %+v, want the Bluenet device only", seen)
		}
		if !bn.Bluenet || bn.Improv || bn.Protocols() != "bluenet" || bn.ImprovState != 0 {
			t.Errorf("Bluenet device = %+v", bn)
		}
	})
	t.Run("other", func(t *testing.T) {
		// A device that advertises something else (a Battery Service).
		f := devicetest.New(t)
		battery := gatt.UUID16(0x180f)
		srv, err := gatt.Open(testCtx(t), gatt.Config{Conn: f.Conn(t), Adapter: "hci0",
			Services: []gatt.Service{{UUID: battery, Primary: true, Characteristics: []gatt.Characteristic{
				{UUID: gatt.UUID16(0x2a19), Flags: gatt.FlagRead, Value: []byte{99}}}}},
			Advertisement: &gatt.Advertisement{Type: gatt.AdvertisePeripheral, ServiceUUIDs: []gatt.UUID{battery}, LocalName: "Watch"}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if seen := scan(t, f.Conn(t)); len(seen) != 0 {
			t.Fatalf("scan found %+v, want nothing", seen)
		}
	})
}

func TestImprovDialChoose(t *testing.T) {
	_, _, conn := newFakeImprov(t, improv.StateAuthorized, allCaps)
	c := newTestClient(t, conn, nil)
	l, err := c.Dial(testCtx(t), improvAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Offers(ProtocolImprov) || l.Offers(ProtocolBluenet) {
		t.Fatalf("offers improv %v bluenet %v", l.Offers(ProtocolImprov), l.Offers(ProtocolBluenet))
	}
	if p, err := l.Choose(ProtocolAuto); err != nil || p != ProtocolImprov {
		t.Fatalf("auto: %v %v", p, err)
	}
	if _, err := l.Choose(ProtocolBluenet); !errors.Is(err, ErrNotBluenet) {
		t.Fatalf("bluenet: %v", err)
	}
	if _, err := l.Bluenet(); !errors.Is(err, ErrNotBluenet) {
		t.Fatalf("Bluenet(): %v", err)
	}
	if _, err := c.Connect(testCtx(t), improvAddr); !errors.Is(err, ErrNotBluenet) {
		t.Fatalf("Connect (Bluenet) to an Improv device: %v", err)
	}
}

func TestImprovInfoScanIdentify(t *testing.T) {
	_, d, conn := newFakeImprov(t, improv.StateAuthorized, allCaps)
	d.Networks = []improv.Network{
		{SSID: "Weak", RSSI: -80, Auth: improv.AuthWPA2},
		{SSID: "HomeNet", RSSI: -40, Auth: improv.AuthWPA3},
		{SSID: "Cafe", RSSI: -60, Auth: improv.AuthOpen},
	}
	s := connectImprov(t, newTestClient(t, conn, nil))
	ctx := testCtx(t)
	if s.Capabilities() != allCaps {
		t.Errorf("capabilities %v", s.Capabilities())
	}
	if st, err := s.State(ctx); err != nil || st != improv.StateAuthorized {
		t.Errorf("state %v %v", st, err)
	}
	info, err := s.DeviceInfo(ctx)
	if err != nil || info != d.Info {
		t.Fatalf("device info %+v %v", info, err)
	}
	nets, err := s.Networks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nets {
		got = append(got, n.SSID+" "+string(n.Auth))
	}
	if strings.Join(got, ",") != "HomeNet WPA3,Cafe NO,Weak WPA2" || nets[0].RSSI != -40 {
		t.Errorf("networks %+v", nets)
	}
	if err := s.Identify(ctx); err != nil {
		t.Fatal(err)
	}
	if n := d.Identified(); n != 1 {
		t.Errorf("identified %d times", d.Identified())
	}
	if h, err := s.Hostname(ctx, ""); err != nil || h != "esp-plug" {
		t.Errorf("hostname %q %v", h, err)
	}
	if h, err := s.Hostname(ctx, "kitchen-plug"); err != nil || h != "kitchen-plug" {
		t.Errorf("set hostname %q %v", h, err)
	}
	var ie *ImprovError
	if _, err := s.Hostname(ctx, "bad_name!"); !errors.As(err, &ie) || ie.Code != improv.ErrorBadHostname {
		t.Errorf("bad hostname: %v", err)
	}
	// The next command works again (the error is reset to 0 first).
	if n, err := s.DeviceName(ctx, "Kitchen Plug"); err != nil || n != "Kitchen Plug" {
		t.Errorf("device name %q %v", n, err)
	}
}

func TestImprovScanPerNetworkResults(t *testing.T) {
	// Improv via serial's way (a result per network, then an empty one) is
	// understood too.
	_, d, conn := newFakeImprov(t, improv.StateAuthorized, allCaps)
	d.PerNetworkScan = true
	d.Networks = []improv.Network{{SSID: "A", RSSI: -40, Auth: improv.AuthWPA2}, {SSID: "B", RSSI: -50, Auth: improv.AuthWEP}}
	s := connectImprov(t, newTestClient(t, conn, nil))
	nets, err := s.Networks(testCtx(t))
	if err != nil || len(nets) != 2 || nets[1].SSID != "B" || nets[1].Auth != improv.AuthWEP {
		t.Fatalf("%+v %v", nets, err)
	}
}

func TestImprovNotSupported(t *testing.T) {
	_, _, conn := newFakeImprov(t, improv.StateAuthorized, 0)
	s := connectImprov(t, newTestClient(t, conn, nil))
	ctx := testCtx(t)
	for name, f := range map[string]func() error{
		"identify":    func() error { return s.Identify(ctx) },
		"device info": func() error { _, err := s.DeviceInfo(ctx); return err },
		"scan":        func() error { _, err := s.Networks(ctx); return err },
		"hostname":    func() error { _, err := s.Hostname(ctx, ""); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestImprovProvision(t *testing.T) {
	tests := []struct {
		name       string
		state      improv.State
		password   string
		noResult   bool
		url        string
		noResponse bool // write without response, in 20-byte pieces
		authorize  bool // press the button after a while
		wantURL    string
		wantReason wifi.Reason // ReasonNone: success
		wantCode   improv.ErrorCode
	}{
		{name: "success with URL", state: improv.StateAuthorized, password: "right-password",
			url: "http://192.0.2.7/", wantURL: "http://192.0.2.7/"},
		{name: "success, empty result", state: improv.StateAuthorized, password: "right-password"},
		{name: "success, no result at all", state: improv.StateAuthorized, password: "right-password", noResult: true},
		{name: "wrong password", state: improv.StateAuthorized, password: "wrong-password",
			wantReason: wifi.ReasonFailed, wantCode: improv.ErrorUnableToConnect},
		{name: "write without response in pieces", state: improv.StateAuthorized, password: "right-password",
			noResponse: true, url: "http://x/", wantURL: "http://x/"},
		{name: "authorization required, then pressed", state: improv.StateAuthorizationRequired, password: "right-password",
			authorize: true, url: "http://x/", wantURL: "http://x/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d, conn := newFakeImprov(t, tt.state, allCaps)
			d.URL, d.NoResult = tt.url, tt.noResult
			c := newTestClient(t, conn, func(cfg *Config) { cfg.ImprovWriteWithoutResponse = tt.noResponse })
			s := connectImprov(t, c)
			if tt.authorize {
				time.AfterFunc(300*time.Millisecond, d.Authorize)
			}
			var lines []string
			ssid := "a-rather-long-network-name-32-by" // 32 bytes: the packet needs several pieces
			out, err := s.Provision(testCtx(t), []byte(ssid), tt.password, func(l string) { lines = append(lines, l) })
			for _, l := range lines {
				if strings.Contains(l, tt.password) {
					t.Errorf("progress shows the password: %q", l)
				}
			}
			if tt.wantReason != wifi.ReasonNone {
				var je *JoinError
				if !errors.As(err, &je) || je.Reason != tt.wantReason || je.ImprovError != tt.wantCode ||
					!errors.Is(err, ErrJoinFailed) || wifi.ReasonOf(err) != tt.wantReason {
					t.Fatalf("err = %v, want a JoinError %v / %v", err, tt.wantReason, tt.wantCode)
				}
				if strings.Contains(err.Error(), tt.password) {
					t.Errorf("error shows the password")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (progress %q)", err, lines)
			}
			if out.State != improv.StateProvisioned || out.RedirectURL != tt.wantURL {
				t.Errorf("outcome %+v", out)
			}
			if d.SSID() != ssid {
				t.Errorf("device got SSID %q", d.SSID())
			}
			want := "request"
			if tt.noResponse {
				want = "command"
			}
			wt := d.WriteTypes()
			for _, w := range wt {
				if w != want {
					t.Errorf("write types %q, want all %s", wt, want)
					break
				}
			}
			if tt.noResponse && len(wt) < 3 {
				t.Errorf("%d writes: the packet was not split", len(wt))
			}
		})
	}
}

func TestImprovProvisionTimeoutAndInvalid(t *testing.T) {
	_, _, conn := newFakeImprov(t, improv.StateAuthorizationRequired, allCaps)
	s := connectImprov(t, newTestClient(t, conn, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := s.Provision(ctx, []byte("HomeNet"), "right-password", nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("never authorized: %v", err)
	}
	if _, err := s.Provision(testCtx(t), nil, "right-password", nil); !errors.Is(err, wifi.ErrInvalid) {
		t.Fatalf("empty SSID: %v", err)
	}
	if _, err := s.Provision(testCtx(t), []byte("x"), "short", nil); !errors.Is(err, wifi.ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
}

func TestJoinErrorReason(t *testing.T) {
	for code, want := range map[bluenet.ResultCode]wifi.Reason{
		bluenet.ResultOK: wifi.ReasonNone, bluenet.ResultWrongPassword: wifi.ReasonWrongPassword,
		bluenet.ResultNotFound: wifi.ReasonNotFound, bluenet.ResultTimeout: wifi.ReasonTimeout,
		bluenet.ResultDHCPFailed: wifi.ReasonDHCPFailed, bluenet.ResultBusy: wifi.ReasonBusy,
		bluenet.ResultInvalidInput: wifi.ReasonInvalid, bluenet.ResultFailed: wifi.ReasonFailed,
		bluenet.ResultNotAuthorized: wifi.ReasonNotAuthorized,
	} {
		if got := ReasonOf(code); got != want {
			t.Errorf("ReasonOf(%v) = %v, want %v", code, got, want)
		}
		if want == wifi.ReasonNone {
			continue
		}
		err := error(bluenetJoinError([]byte("n"), code, code.String()))
		if wifi.ReasonOf(err) != want || !errors.Is(err, want.Err()) || !errors.Is(err, ErrJoinFailed) {
			t.Errorf("%v: wifi.ReasonOf = %v", code, wifi.ReasonOf(err))
		}
	}
	for code, want := range map[improv.ErrorCode]wifi.Reason{
		improv.ErrorUnableToConnect: wifi.ReasonFailed, improv.ErrorNotAuthorized: wifi.ReasonNotAuthorized,
		improv.ErrorInvalidRPC: wifi.ReasonInvalid, improv.ErrorUnknown: wifi.ReasonFailed,
	} {
		if got := wifi.ReasonOf(improvJoinError([]byte("n"), code)); got != want {
			t.Errorf("%v: %v, want %v", code, got, want)
		}
	}
}
