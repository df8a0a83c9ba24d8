package devicetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

// Improv is a small Improv Wi-Fi device, a GATT application written with
// packages gatt and protocol/improv: enough of the spec to drive a client's
// flows, on the fake (NewImprov) or on a real bluetoothd (ServeImprov). It
// joins no network. Its exported fields may be set before the first command
// arrives.
type Improv struct {
	srv *gatt.Server
	adv gatt.Advertisement

	// Password is the one that joins; any other fails with error 0x03.
	Password string
	// Delay is how long the device stays Provisioning; 50 ms when zero.
	Delay time.Duration
	// URL is the redirect URL of the Wi-Fi settings result; "" sends a
	// result without strings.
	URL string
	// NoResult: Provisioned without an RPC result.
	NoResult bool
	// PerNetworkScan answers a scan as Improv via serial does: a result per
	// network, then an empty one.
	PerNetworkScan bool
	Networks       []improv.Network
	Info           improv.DeviceInfo

	mu         sync.Mutex
	state      improv.State
	errc       improv.ErrorCode
	caps       improv.Capabilities
	asm        map[string]*improv.Assembler // per central
	hostname   string
	name       string
	identified int
	writeTypes []string
	ssid       string
}

// Improv UUIDs.
var (
	imService      = gatt.MustParseUUID(improv.ServiceUUID)
	imState        = gatt.MustParseUUID(improv.StateUUID)
	imError        = gatt.MustParseUUID(improv.ErrorUUID)
	imRPCCommand   = gatt.MustParseUUID(improv.RPCCommandUUID)
	imRPCResult    = gatt.MustParseUUID(improv.RPCResultUUID)
	imCapabilities = gatt.MustParseUUID(improv.CapabilitiesUUID)
	imServiceData  = gatt.MustParseUUID(improv.ServiceDataUUID)
)

// NewImprov serves an Improv device advertising as name on the fake's
// hci0, in state with capabilities caps (advertised in its service data
// too), until the end of the test. It joins with "right-password", answers
// with the URL http://192.0.2.7/, is called esp-plug (host name) and Plug
// (device name), and reports itself as ESPHome 2024.1.0 on an esp32-c3.
func NewImprov(t testing.TB, f *Fake, name string, state improv.State, caps improv.Capabilities) *Improv {
	t.Helper()
	return ServeImprov(t, gatt.Config{Conn: f.Conn(t), Adapter: "hci0"}, name, state, caps)
}

// ServeImprov is NewImprov on any bluetoothd: cfg gives the connection, the
// adapter and optionally the path, logger and error callback; its Services
// and Advertisement are set here.
func ServeImprov(t testing.TB, cfg gatt.Config, name string, state improv.State, caps improv.Capabilities) *Improv {
	t.Helper()
	d := &Improv{state: state, caps: caps, Password: "right-password", URL: "http://192.0.2.7/",
		hostname: "esp-plug", name: "Plug", asm: map[string]*improv.Assembler{},
		Info: improv.DeviceInfo{FirmwareName: "ESPHome", FirmwareVersion: "2024.1.0", Hardware: "esp32-c3", DeviceName: "Plug"}}
	// Flags 3 + the 128-bit UUID 18 + service data 10 = 31 bytes: the name
	// goes in the scan response.
	d.adv = gatt.Advertisement{Type: gatt.AdvertisePeripheral, ServiceUUIDs: []gatt.UUID{imService},
		ServiceData: map[gatt.UUID][]byte{imServiceData: improv.EncodeServiceData(state, caps)}, LocalName: name}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	notify := gatt.FlagRead | gatt.FlagNotify
	cfg.Services = []gatt.Service{{UUID: imService, Primary: true, Characteristics: []gatt.Characteristic{
		{UUID: imState, Flags: notify, Value: []byte{byte(state)}},
		{UUID: imError, Flags: notify, Value: []byte{0}},
		{UUID: imRPCCommand, Flags: gatt.FlagWrite | gatt.FlagWriteWithoutResponse, OnWrite: d.write},
		{UUID: imRPCResult, Flags: notify, Value: []byte{}},
		{UUID: imCapabilities, Flags: gatt.FlagRead, Value: []byte{byte(caps)}},
	}}}
	cfg.Advertisement = &d.adv
	srv, err := gatt.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("devicetest: serve Improv: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	d.srv = srv
	return d
}

// State is the device's Improv state.
func (d *Improv) State() improv.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Identified is how many Identify commands the device got.
func (d *Improv) Identified() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.identified
}

// SSID is the SSID of the last Wi-Fi settings the device got.
func (d *Improv) SSID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssid
}

// WriteTypes lists every write to RPC Command: "request" (with response)
// or "command" (without).
func (d *Improv) WriteTypes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writeTypes)
}

// Authorize is the button press: the state becomes Authorized.
func (d *Improv) Authorize() { d.setState(improv.StateAuthorized) }

// setState notifies the new state and advertises it in the service data.
func (d *Improv) setState(s improv.State) {
	d.mu.Lock()
	d.state = s
	adv := d.adv
	adv.ServiceData = map[gatt.UUID][]byte{imServiceData: improv.EncodeServiceData(s, d.caps)}
	d.mu.Unlock()
	_ = d.srv.Characteristic(imState).Notify([]byte{byte(s)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.srv.Advertise(ctx, adv)
}

// setError notifies only changes, as ESPHome does.
func (d *Improv) setError(e improv.ErrorCode) {
	d.mu.Lock()
	changed := d.errc != e
	d.errc = e
	d.mu.Unlock()
	if changed {
		_ = d.srv.Characteristic(imError).Notify([]byte{byte(e)})
	}
}

func (d *Improv) result(b []byte) { _ = d.srv.Characteristic(imRPCResult).Notify(b) }

func (d *Improv) write(r *gatt.Request, _ []byte) error {
	d.mu.Lock()
	d.writeTypes = append(d.writeTypes, r.Type.String())
	a := d.asm[r.Address]
	if a == nil {
		a = &improv.Assembler{}
		d.asm[r.Address] = a
	}
	p, done, err := a.Write(int(r.Offset), r.Chunk)
	d.mu.Unlock()
	if err != nil {
		d.setError(improv.CodeOf(err))
		return nil
	}
	if done {
		go d.handle(p) // answer after the write returns, as a device does
	}
	return nil
}

func (d *Improv) handle(p improv.Packet) {
	d.setError(improv.ErrorNone)
	d.mu.Lock()
	state, password, url, noResult, delay := d.state, d.Password, d.URL, d.NoResult, d.Delay
	perNetwork, networks, info := d.PerNetworkScan, d.Networks, d.Info
	d.mu.Unlock()
	switch p.Command {
	case improv.CommandWiFiSettings:
		w, err := improv.ParseWiFiSettings(p.Data)
		if err != nil {
			d.setError(improv.ErrorInvalidRPC)
			return
		}
		if state != improv.StateAuthorized {
			d.setError(improv.ErrorNotAuthorized)
			return
		}
		d.mu.Lock()
		d.ssid = w.SSID
		d.mu.Unlock()
		d.setState(improv.StateProvisioning)
		if delay == 0 {
			delay = 50 * time.Millisecond
		}
		time.Sleep(delay)
		if w.Password != password {
			d.setError(improv.ErrorUnableToConnect)
			d.setState(improv.StateAuthorized)
			return
		}
		d.setState(improv.StateProvisioned)
		if !noResult {
			var b []byte
			if url != "" {
				b, _ = improv.EncodeResult(improv.CommandWiFiSettings, url)
			} else {
				b, _ = improv.EncodeResult(improv.CommandWiFiSettings)
			}
			d.result(b)
		}
	case improv.CommandIdentify:
		d.mu.Lock()
		d.identified++
		d.mu.Unlock()
	case improv.CommandDeviceInfo:
		d.result(improv.EncodeDeviceInfo(info))
	case improv.CommandScan:
		if !perNetwork {
			b, _ := improv.EncodeScanResult(networks)
			d.result(b)
			return
		}
		for _, n := range networks {
			b, _ := improv.EncodeResult(improv.CommandScan, n.SSID, fmt.Sprint(n.RSSI), string(n.Auth))
			d.result(b)
			time.Sleep(10 * time.Millisecond)
		}
		b, _ := improv.EncodeResult(improv.CommandScan)
		d.result(b)
	case improv.CommandHostname, improv.CommandDeviceName:
		name, set, _ := improv.ParseNameArgument(p.Data)
		d.mu.Lock()
		target := &d.hostname
		if p.Command == improv.CommandDeviceName {
			target = &d.name
		}
		if set && p.Command == improv.CommandHostname && !improv.ValidHostname(name) {
			d.mu.Unlock()
			d.setError(improv.ErrorBadHostname)
			return
		}
		if set {
			*target = name
		}
		name = *target
		d.mu.Unlock()
		b, _ := improv.EncodeResult(p.Command, name)
		d.result(b)
	default:
		d.setError(improv.ErrorUnknownRPC)
	}
}
