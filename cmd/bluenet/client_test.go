package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
	"github.com/bluenet-project/bluenet/wifi"
)

func TestProvisionCommandLine(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := "00:AA:01:00:00:00"
	tests := []struct {
		name     string
		args     []string
		stdin    string
		device   string
		ssid     string
		password string
		timeout  time.Duration
		protocol client.Protocol
		wantCode int // exit code when the command line is refused; 0 when it is accepted
	}{
		{name: "stdin", args: []string{dev, "--ssid", "HomeNet"}, stdin: "piped-pass\n",
			device: dev, ssid: "HomeNet", password: "piped-pass", timeout: 2 * time.Minute},
		{name: "short flag, name as device", args: []string{"Bluenet Test", "-s", "HomeNet"}, stdin: "piped-pass\r\n",
			device: "Bluenet Test", ssid: "HomeNet", password: "piped-pass", timeout: 2 * time.Minute},
		{name: "password file", args: []string{dev, "-s", "HomeNet", "--password-file", pwFile, "--timeout", "30s"},
			device: dev, ssid: "HomeNet", password: "from-file-pw", timeout: 30 * time.Second},
		{name: "password file dash", args: []string{dev, "-s", "x", "--password-file", "-"}, stdin: "dash-pass-1\n",
			device: dev, ssid: "x", password: "dash-pass-1", timeout: 2 * time.Minute},
		{name: "open", args: []string{dev, "-s", "cafe", "--open"}, stdin: "ignored-pass",
			device: dev, ssid: "cafe", timeout: 2 * time.Minute},
		{name: "empty stdin is open", args: []string{dev, "-s", "cafe"}, device: dev, ssid: "cafe", timeout: 2 * time.Minute},
		{name: "32-byte SSID", args: []string{dev, "-s", strings.Repeat("s", 32), "--open"},
			device: dev, ssid: strings.Repeat("s", 32), timeout: 2 * time.Minute},
		{name: "no device", args: []string{"-s", "x", "--open"}, wantCode: exitUsage},
		{name: "no device, no ssid", args: nil, wantCode: exitUsage},
		{name: "two devices", args: []string{dev, dev, "-s", "x", "--open"}, wantCode: exitUsage},
		{name: "empty device", args: []string{"", "-s", "x", "--open"}, wantCode: exitUsage},
		{name: "no ssid", args: []string{dev, "--open"}, wantCode: exitUsage},
		{name: "empty ssid", args: []string{dev, "-s", "", "--open"}, wantCode: exitInvalidInput},
		{name: "33-byte SSID", args: []string{dev, "-s", strings.Repeat("s", 33), "--open"}, wantCode: exitInvalidInput},
		{name: "short password", args: []string{dev, "-s", "x", "--password-file", shortFile}, wantCode: exitInvalidInput},
		{name: "missing password file", args: []string{dev, "-s", "x", "--password-file", filepath.Join(dir, "nope")}, wantCode: exitUsage},
		{name: "file and open", args: []string{dev, "-s", "x", "--password-file", pwFile, "--open"}, wantCode: exitUsage},
		{name: "zero timeout", args: []string{dev, "-s", "x", "--open", "--timeout", "0s"}, wantCode: exitUsage},
		{name: "bad timeout", args: []string{dev, "-s", "x", "--open", "--timeout", "soon"}, wantCode: exitUsage},
		{name: "password on the command line is not offered", args: []string{dev, "-s", "x", "-p", "secret-pass"}, wantCode: exitUsage},
		{name: "protocol improv", args: []string{dev, "-s", "HomeNet", "--open", "--protocol", "improv"},
			device: dev, ssid: "HomeNet", timeout: 2 * time.Minute, protocol: client.ProtocolImprov},
		{name: "protocol bluenet", args: []string{dev, "-s", "HomeNet", "--open", "--protocol", "bluenet"},
			device: dev, ssid: "HomeNet", timeout: 2 * time.Minute, protocol: client.ProtocolBluenet},
		{name: "protocol auto", args: []string{dev, "-s", "HomeNet", "--open", "--protocol", "auto"},
			device: dev, ssid: "HomeNet", timeout: 2 * time.Minute, protocol: client.ProtocolAuto},
		{name: "unknown protocol", args: []string{dev, "-s", "HomeNet", "--open", "--protocol", "wps"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *provisionRequest
			cmd := newProvisionCmdWith(func(_ *cobra.Command, r provisionRequest) error { got = &r; return nil })
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
			cmd.SetIn(strings.NewReader(tt.stdin))
			cmd.SetOut(new(bytes.Buffer))
			var stderr bytes.Buffer
			cmd.SetErr(&stderr)
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantCode != 0 {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				if code := exitCode(err); code != tt.wantCode {
					t.Errorf("exit code %d (%v), want %d", code, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.device != tt.device || string(got.ssid) != tt.ssid || got.password != tt.password || got.opts.timeout != tt.timeout ||
				got.opts.protocol != tt.protocol {
				t.Errorf("got device=%q ssid=%q password of %d bytes, timeout %v", got.device, got.ssid, len(got.password), got.opts.timeout)
			}
			if tt.password != "" && strings.Contains(stderr.String(), tt.password) {
				t.Errorf("the password was printed")
			}
		})
	}
}

func TestScanAndNetworksCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, scan *scanOpts, nets *networksOpts, device string)
	}{
		{name: "scan defaults", args: []string{"scan"}, check: func(t *testing.T, o *scanOpts, _ *networksOpts, _ string) {
			if o.timeout != 10*time.Second || o.json {
				t.Errorf("%+v", *o)
			}
		}},
		{name: "scan json", args: []string{"-b", "hci1", "scan", "--timeout", "3s", "--json"}, check: func(t *testing.T, o *scanOpts, _ *networksOpts, _ string) {
			if o.timeout != 3*time.Second || !o.json {
				t.Errorf("%+v", *o)
			}
		}},
		{name: "scan negative timeout", args: []string{"scan", "--timeout", "-1s"}, wantCode: exitUsage},
		{name: "scan extra argument", args: []string{"scan", "now"}, wantCode: exitUsage},
		{name: "networks", args: []string{"networks", "00:AA:01:00:00:00"}, check: func(t *testing.T, _ *scanOpts, o *networksOpts, dev string) {
			if dev != "00:AA:01:00:00:00" || o.timeout != 30*time.Second || o.scanTimeout != client.DefaultScanTimeout {
				t.Errorf("%q %+v", dev, *o)
			}
		}},
		{name: "networks options", args: []string{"networks", "Kitchen", "--timeout", "1m", "--scan-timeout", "5s", "--json"},
			check: func(t *testing.T, _ *scanOpts, o *networksOpts, dev string) {
				if dev != "Kitchen" || o.timeout != time.Minute || o.scanTimeout != 5*time.Second || !o.json {
					t.Errorf("%q %+v", dev, *o)
				}
			}},
		{name: "networks without device", args: []string{"networks"}, wantCode: exitUsage},
		{name: "networks improv", args: []string{"networks", "esp-plug", "--protocol", "improv"},
			check: func(t *testing.T, _ *scanOpts, o *networksOpts, dev string) {
				if dev != "esp-plug" || o.protocol != client.ProtocolImprov {
					t.Errorf("%q %+v", dev, *o)
				}
			}},
		{name: "networks bad protocol", args: []string{"networks", "x", "--protocol", "zigbee"}, wantCode: exitUsage},
		{name: "identify", args: []string{"identify", "esp-plug", "--scan-timeout", "3s"}},
		{name: "identify without device", args: []string{"identify"}, wantCode: exitUsage},
		{name: "identify empty device", args: []string{"identify", ""}, wantCode: exitUsage},
		{name: "networks zero scan timeout", args: []string{"networks", "x", "--scan-timeout", "0"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var so *scanOpts
			var no *networksOpts
			var dev string
			root := newRootCmd()
			for _, c := range root.Commands() {
				switch c.Name() {
				case "scan":
					root.RemoveCommand(c)
					root.AddCommand(newScanCmdWith(func(_ *cobra.Command, o scanOpts) error { so = &o; return nil }))
				case "networks":
					root.RemoveCommand(c)
					root.AddCommand(newNetworksCmdWith(func(_ *cobra.Command, d string, o networksOpts) error { dev, no = d, &o; return nil }))
				case "identify":
					root.RemoveCommand(c)
					root.AddCommand(newIdentifyCmdWith(func(_ *cobra.Command, d string, o identifyOpts) error {
						if d != "esp-plug" || o.scanTimeout != 3*time.Second {
							t.Errorf("identify %q %+v", d, o)
						}
						return nil
					}))
				}
			}
			empty := filepath.Join(t.TempDir(), "empty.conf")
			if err := os.WriteFile(empty, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			root.SetArgs(append([]string{"--config", empty}, tt.args...))
			root.SetOut(new(bytes.Buffer))
			root.SetErr(new(bytes.Buffer))
			err := root.ExecuteContext(context.Background())
			if tt.wantCode != 0 {
				if code := exitCode(err); err == nil || code != tt.wantCode {
					t.Fatalf("err %v, exit code %d, want %d", err, exitCode(err), tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, so, no, dev)
			}
		})
	}
}

func TestClientExitCodes(t *testing.T) {
	join := func(c bluenet.ResultCode) error {
		return fmt.Errorf("x: %w", &client.JoinError{SSID: []byte("n"), Reason: client.ReasonOf(c), Code: c, Text: c.String()})
	}
	improvJoin := func(c improv.ErrorCode) error {
		return &client.JoinError{SSID: []byte("n"), Reason: wifi.ReasonFailed, Code: bluenet.ResultFailed, ImprovError: c, Text: c.String()}
	}
	tests := []struct {
		err  error
		want int
		msg  string // part of the message
	}{
		{join(bluenet.ResultWrongPassword), exitWrongPassword, `could not join "n": wrong password`},
		{join(bluenet.ResultNotFound), exitNotFound, "network not found"},
		{join(bluenet.ResultTimeout), exitTimeout, "timed out"},
		{join(bluenet.ResultDHCPFailed), exitDHCPFailed, "DHCP"},
		{join(bluenet.ResultBusy), exitBusy, "busy"},
		{join(bluenet.ResultInvalidInput), exitInvalidInput, "invalid input"},
		{join(bluenet.ResultFailed), exitFailure, "failed"},
		{improvJoin(improv.ErrorUnableToConnect), exitFailure, "unable to connect"},
		{&client.JoinError{SSID: []byte("n"), Reason: wifi.ReasonInvalid, Text: "invalid RPC packet"}, exitInvalidInput, "invalid RPC"},
		{fmt.Errorf("%w: 00:AA:01:00:00:00", client.ErrNotImprov), exitFailure, "not an Improv device"},
		{fmt.Errorf("%w: identify", client.ErrNotSupported), exitFailure, "not supported"},
		{&client.ImprovError{Command: improv.CommandHostname, Code: improv.ErrorBadHostname}, exitFailure, "bad hostname"},
		{fmt.Errorf("%w: the device did not join", client.ErrTimeout), exitTimeout, "timed out"},
		{fmt.Errorf("%w: 00:AA:01:00:00:00 not found", client.ErrUnreachable), exitUnreachable, "not found"},
		{fmt.Errorf("%w: SSID is 33 bytes", wifi.ErrInvalid), exitInvalidInput, "invalid input: SSID is 33 bytes"},
		{fmt.Errorf("client: %w", central.ErrNoAdapter), exitUnavailable, "no Bluetooth adapter"},
		{fmt.Errorf("%w: 00:AA:01:00:00:00", client.ErrNotBluenet), exitFailure, "not a Bluenet device"},
	}
	for _, tt := range tests {
		err := clientError(context.Background(), tt.err)
		if got := exitCode(err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("message %q does not contain %q", err.Error(), tt.msg)
		}
		if strings.HasPrefix(err.Error(), "client: ") {
			t.Errorf("message %q starts with the package name", err.Error())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := clientError(ctx, fmt.Errorf("wait: %w", context.Canceled)); err.Error() != "interrupted" {
		t.Errorf("Ctrl-C: %q, want interrupted", err.Error())
	}
	if !errors.Is(clientError(ctx, context.Canceled), context.Canceled) {
		t.Errorf("clientError loses the wrapped error")
	}
}

func TestPrintDevices(t *testing.T) {
	devs := []client.Device{
		{Address: "00:AA:01:00:00:04", Alias: "Old"},
		{Address: "00:AA:01:00:00:02", Alias: "Far", RSSI: -80, Seen: true},
		{Address: "00:AA:01:00:00:01", Alias: "Near", RSSI: -40, Seen: true},
		{Address: "00:AA:01:00:00:03", Alias: "00-AA-01-00-00-03", RSSI: 0, Connected: true, Seen: true, Bluenet: true},
		{Address: "00:AA:01:00:00:05", Alias: "esp-plug", RSSI: -50, Seen: true, Improv: true,
			ImprovState: improv.StateAuthorizationRequired, ImprovCapabilities: improv.CapabilityIdentify},
		{Address: "00:AA:01:00:00:06", Alias: "Both", RSSI: -60, Seen: true, Bluenet: true, Improv: true,
			ImprovState: improv.StateAuthorized},
		{Address: "00:AA:01:00:00:07", Alias: "Old Improv", RSSI: -70, Seen: true, Improv: true},
	}
	var b bytes.Buffer
	if err := printDevices(&b, devs, false); err != nil {
		t.Fatal(err)
	}
	want := "ADDRESS             RSSI  PROTOCOL        IMPROV STATE            NAME\n" +
		"00:AA:01:00:00:01    -40  ?               -                       Near\n" +
		"00:AA:01:00:00:05    -50  improv          authorization required  esp-plug\n" +
		"00:AA:01:00:00:06    -60  bluenet+improv  authorized              Both\n" +
		"00:AA:01:00:00:07    -70  improv          ?                       Old Improv\n" +
		"00:AA:01:00:00:02    -80  ?               -                       Far\n" +
		"00:AA:01:00:00:03      ?  bluenet         -                       00:AA:01:00:00:03 (connected)\n" +
		"00:AA:01:00:00:04      -  ?               -                       Old (known, not seen in this scan)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := printDevices(&b, nil, true); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty JSON = %q, %v", b.String(), err)
	}
}

// TestOneExitCodeMapping: a join that fails for a reason exits the same
// way whether this machine joined (bluenet join) or a device reported it
// (bluenet provision, over Bluenet or Improv).
func TestOneExitCodeMapping(t *testing.T) {
	want := map[wifi.Reason]int{
		wifi.ReasonWrongPassword: exitWrongPassword, wifi.ReasonNotFound: exitNotFound, wifi.ReasonTimeout: exitTimeout,
		wifi.ReasonDHCPFailed: exitDHCPFailed, wifi.ReasonBusy: exitBusy, wifi.ReasonUnavailable: exitUnavailable,
		wifi.ReasonInvalid: exitInvalidInput, wifi.ReasonFailed: exitFailure, wifi.ReasonCanceled: exitFailure,
	}
	for r, code := range want {
		local := exitCode(&wifi.JoinError{SSID: []byte("n"), Reason: r})
		remote := exitCode(fmt.Errorf("provision: %w", &client.JoinError{SSID: []byte("n"), Reason: r, Text: r.String()}))
		if local != code || remote != code {
			t.Errorf("%v: join exits %d, provision %d, want %d", r, local, remote, code)
		}
	}
}

func TestPrintImprovNetworks(t *testing.T) {
	r := networksReport{Address: "00:AA:01:00:00:05", Name: "esp-plug", State: "authorized", Capabilities: "identify,device-info,scan",
		DeviceInfo: &deviceInfo{Firmware: "ESPHome", Version: "2024.1.0", Hardware: "esp32-c3", Name: "Plug"},
		Scan:       []networkInfo{{SSID: "HomeNet", RSSI: -40, Auth: "WPA2"}, {SSID: "Caf\xe9", RSSI: -71, Auth: "NO"}}}
	var b bytes.Buffer
	if err := printImprovNetworks(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "device:       00:AA:01:00:00:05 esp-plug\n" +
		"protocol:     improv\n" +
		"state:        authorized\n" +
		"capabilities: identify,device-info,scan\n" +
		"firmware:     ESPHome 2024.1.0\n" +
		"hardware:     esp32-c3\n" +
		"name:         Plug\n" +
		"networks:\n" +
		"  RSSI  SECURITY   SSID\n" +
		"   -40  WPA2       \"HomeNet\"\n" +
		"   -71  NO         \"Caf\\xe9\"\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	r.Scan, r.DeviceInfo = nil, nil
	if err := printImprovNetworks(&b, r); err != nil || !strings.Contains(b.String(), "does not offer a scan") {
		t.Errorf("no scan: %q %v", b.String(), err)
	}
}
