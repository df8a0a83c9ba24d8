package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/wifi"
)

// parse runs the command line up to the point where a command would run and
// returns the parsed options.
func parse(t *testing.T, args ...string) (*globals, *startOpts, error) {
	t.Helper()
	var g *globals
	var o *startOpts
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "start" {
			c.RunE = func(cmd *cobra.Command, _ []string) error { return nil }
		}
	}
	// Reach into the closures through the flags.
	root.SetArgs(args)
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	err := root.Execute()
	g = &globals{}
	g.wlan, _ = root.PersistentFlags().GetString("wlan")
	g.bluetooth, _ = root.PersistentFlags().GetString("bluetooth")
	g.verbose, _ = root.PersistentFlags().GetCount("verbose")
	start, _, _ := root.Find([]string{"start"})
	o = &startOpts{}
	o.hostname, _ = start.Flags().GetString("hostname")
	o.alias, _ = start.Flags().GetString("alias")
	o.autoAdvertise, _ = start.Flags().GetBool("auto-advertise")
	o.rpc, _ = start.Flags().GetString("rpc")
	return g, o, err
}

func TestStartCommandLine(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noConf := []string{"--config", empty}
	conf := filepath.Join(t.TempDir(), "bluenet.conf")
	if err := os.WriteFile(conf, []byte("# comment\nBLUENET_ALIAS = \"From File\"\nBLUENET_HOSTNAME=file.host\nBLUENET_WLAN=wlan9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wlan     string
		host     string
		alias    string
		auto     bool
		verbose  int
		wantErr  bool
		rpc      string
		noConfig bool
	}{
		{name: "original", args: []string{"-w", "wlan1", "-b", "hci0", "start", "-h", "pi.local", "-a", "Pi", "--auto-advertise", "-vv"},
			wlan: "wlan1", host: "pi.local", alias: "Pi", auto: true, verbose: 2, rpc: "127.0.0.1:6459", noConfig: true},
		{name: "long flags", args: []string{"--wlan", "wlan2", "start", "--hostname", "x", "--alias", "y", "--rpc", "off"},
			wlan: "wlan2", host: "x", alias: "y", rpc: "off", noConfig: true},
		{name: "defaults", args: []string{"start"}, wlan: "wlan0", rpc: "127.0.0.1:6459", noConfig: true},
		{name: "file", args: []string{"--config", conf, "start"}, wlan: "wlan9", host: "file.host", alias: "From File", rpc: "127.0.0.1:6459"},
		{name: "env beats file", env: map[string]string{"BLUENET_ALIAS": "From Env", "BLUENET_VERBOSE": "1"},
			args: []string{"--config", conf, "start"}, wlan: "wlan9", host: "file.host", alias: "From Env", verbose: 1, rpc: "127.0.0.1:6459"},
		{name: "flag beats env", env: map[string]string{"BLUENET_ALIAS": "From Env", "BLUENET_AUTO_ADVERTISE": "true"},
			args: []string{"--config", conf, "start", "-a", "From Flag"}, wlan: "wlan9", host: "file.host", alias: "From Flag", auto: true, rpc: "127.0.0.1:6459"},
		{name: "bad env", env: map[string]string{"BLUENET_AUTO_ADVERTISE": "maybe"}, args: []string{"start"}, wantErr: true, noConfig: true},
		{name: "unknown flag", args: []string{"start", "--nope"}, wantErr: true, noConfig: true},
		{name: "missing named config", args: []string{"--config", "/nonexistent/bluenet.conf", "start"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.noConfig {
				args = append(append([]string{}, noConf...), args...)
			}
			g, o, err := parse(t, args...)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				if code := exitCode(err); code != exitUsage {
					t.Errorf("exit code %d, want %d", code, exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.wlan != tt.wlan || o.hostname != tt.host || o.alias != tt.alias || o.autoAdvertise != tt.auto ||
				g.verbose != tt.verbose || o.rpc != tt.rpc {
				t.Errorf("got wlan=%q host=%q alias=%q auto=%v v=%d rpc=%q", g.wlan, o.hostname, o.alias, o.autoAdvertise, g.verbose, o.rpc)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"start", "--help"}, {"join", "--help"}, {"status", "--help"}, {"version"}} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if out.Len() == 0 {
			t.Errorf("%q printed nothing", args)
		}
		if args[0] == "start" && !strings.Contains(out.String(), "-h, --hostname") {
			t.Errorf("start --help does not show -h as the host name:\n%s", out.String())
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usagef("bad"), exitUsage},
		{&wifi.JoinError{Reason: wifi.ReasonWrongPassword}, exitWrongPassword},
		{fmt.Errorf("x: %w", wifi.ErrNotFound), exitNotFound},
		{wifi.ErrTimeout, exitTimeout},
		{wifi.ErrDHCPFailed, exitDHCPFailed},
		{wifi.ErrBusy, exitBusy},
		{wifi.ErrUnavailable, exitUnavailable},
		{fmt.Errorf("%w: no bus", errUnavailable), exitUnavailable},
		{wifi.ErrInvalid, exitInvalidInput},
		{errors.New("other"), exitFailure},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestJoinSecretSources(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"stdin", []string{"-s", "x"}, "piped-pass\n", "piped-pass"},
		{"stdin dash", []string{"-s", "x", "--password-file", "-"}, "dash-pass\r\n", "dash-pass"},
		{"file", []string{"-s", "x", "--password-file", pwFile}, "", "from-file-pw"},
		{"flag", []string{"-s", "x", "-p", "flag-pass"}, "", "flag-pass"},
		{"open", []string{"-s", "x", "--open"}, "ignored", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			cmd := newJoinCmdWith(func(_ *cobra.Command, _ []byte, cred wifi.Credentials, _ *joinOpts) error {
				got = cred.Secret
				return nil
			})
			cmd.SetIn(strings.NewReader(tt.stdin))
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
		})
	}
}
