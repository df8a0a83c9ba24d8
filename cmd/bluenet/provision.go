package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

type provisionOpts struct {
	ssid         string
	passwordFile string
	open         bool
	timeout      time.Duration
	scanTimeout  time.Duration
	protocol     client.Protocol
	eap          eapOpts
	passkey      string
	pair         bool
	// noResponse: Improv commands as the web page sends them (hidden flag,
	// for tests).
	noResponse bool
}

// provisionRequest is a checked provision command line.
type provisionRequest struct {
	device   string
	ssid     []byte
	password string
	cred     wifi.Credentials
	opts     provisionOpts
}

func newProvisionCmd(g *globals) *cobra.Command {
	return newProvisionCmdWith(func(cmd *cobra.Command, r provisionRequest) error { return runProvision(cmd, g, r) })
}

func newProvisionCmdWith(run func(*cobra.Command, provisionRequest) error) *cobra.Command {
	var o provisionOpts
	cmd := &cobra.Command{
		Use:   "provision DEVICE --ssid SSID [--password-file FILE | --open]",
		Short: "Make a Bluenet or Improv device join a Wi-Fi network (this machine as the phone)",
		Long: `Connect to a device (DEVICE is its address, or its name as bluenet scan shows
it), send it an SSID and a password, and follow it until it is connected to
that network; then print its host name (Bluenet) or the URL it points to
(Improv), if any.

A device that offers the Bluenet profile is provisioned over it; one that
offers only Improv Wi-Fi (ESPHome and other Improv devices) over Improv.
--protocol bluenet or --protocol improv chooses. An Improv device that
requires authorization is waited for: press its button.

The password is read from --password-file (- for standard input), or from
standard input; on a terminal it is asked for without echo. An empty password,
or --open, joins an open network. The password is never printed or logged.

A device started with --pairing asks for LE pairing first: Just Works needs
nothing (bluetoothd pairs by itself). A device that shows a 6-digit code
needs --pair: the code is then asked for on a terminal, or read as a line
from standard input when the password comes from a file; --passkey gives a
fixed code. A bond made for provisioning is removed afterwards.

Exit status: 0 connected; 3 wrong password; 4 network not found; 5 timeout;
6 DHCP failed; 7 busy; 9 invalid SSID or password; 10 device not found or
out of range; 1 any other failure (a device without Bluenet's Result
characteristic, and any Improv device, cannot say why a join failed).`,
		Example: `  bluenet provision 00:AA:01:00:00:00 --ssid HomeNet --password-file /run/secrets/wifi
  printf '%s\n' 'correct horse' | bluenet -b hci1 provision "Bluenet Test" -s HomeNet
  bluenet provision esp-plug --protocol improv -s HomeNet --password-file pw`,
		Args: exactArgs(1, "DEVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := o.request(cmd, args[0])
			if err != nil {
				return err
			}
			return run(cmd, r)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ssid, "ssid", "s", "", "network name")
	f.StringVar(&o.passwordFile, "password-file", "", "read the password from this file (- for standard input)")
	f.BoolVar(&o.open, "open", false, "the network is open (no password)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for the device to join")
	f.DurationVar(&o.scanTimeout, "scan-timeout", client.DefaultScanTimeout, "how long to look for the device")
	f.Var(protocolFlag{&o.protocol}, "protocol", "provisioning protocol: auto (Bluenet if the device offers it, else Improv), bluenet or improv")
	f.BoolVar(&o.pair, "pair", false, "pair right after connecting (a device that shows a passkey needs it; the code is asked for)")
	f.StringVar(&o.passkey, "passkey", "", "the 6-digit code of a device with a fixed passkey (implies --pair)")
	f.BoolVar(&o.noResponse, "improv-write-without-response", false, "send Improv commands in 20-byte writes without response, as the Improv web page does")
	_ = f.MarkHidden("improv-write-without-response")
	o.eap.addFlags(f)
	return cmd
}

// request checks the command line and reads the password.
func (o provisionOpts) request(cmd *cobra.Command, device string) (provisionRequest, error) {
	r := provisionRequest{device: device, ssid: []byte(o.ssid), opts: o}
	if device == "" {
		return r, usagef("DEVICE is empty")
	}
	// Checked here rather than with cobra's flag groups, whose errors are
	// not usage errors (exit code 2).
	if !cmd.Flags().Changed("ssid") {
		return r, usagef("--ssid is required")
	}
	if o.open && o.passwordFile != "" {
		return r, usagef("--open and --password-file exclude each other")
	}
	if err := wifi.ValidateSSID(r.ssid); err != nil {
		return r, clientError(cmd.Context(), err)
	}
	if o.passkey != "" {
		if _, err := parsePasskey(o.passkey); err != nil {
			return r, usagef("--passkey: %v", err)
		}
	}
	if err := positiveDuration("timeout", o.timeout); err != nil {
		return r, err
	}
	if err := positiveDuration("scan-timeout", o.scanTimeout); err != nil {
		return r, err
	}
	if o.open && o.eap.method != "" {
		return r, usagef("--eap and --open exclude each other")
	}
	if o.eap.method != "" && o.protocol == client.ProtocolImprov {
		return r, usagef("--eap: Improv cannot carry an enterprise login; use the Bluenet profile")
	}
	if o.eap.caCert != "" {
		return r, usagef("--ca-cert: over Bluetooth the device checks the server with its own system CAs; use --domain (or --no-ca-check)")
	}
	pw, err := o.password(cmd)
	if err != nil {
		return r, err
	}
	cred, err := o.eap.credentials(cmd, pw)
	if err != nil {
		return r, err
	}
	if err := cred.Validate(); err != nil {
		return r, clientError(cmd.Context(), err)
	}
	r.password, r.cred = pw, cred
	return r, nil
}

// password finds the password from the flags, standard input or the
// terminal.
func (o provisionOpts) password(cmd *cobra.Command) (string, error) {
	return secretFrom(cmd, o.open, o.passwordFile, func(in *os.File) (string, error) {
		return promptPassword(cmd.Context(), in, cmd.ErrOrStderr(), fmt.Sprintf("Password for %s (empty for an open network): ",
			bluenet.QuoteSSID([]byte(o.ssid))))
	})
}

// promptPassword reads a line from the terminal in with echo off. Ctrl-C
// restores the terminal.
func promptPassword(ctx context.Context, in *os.File, out io.Writer, prompt string) (string, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", usagef("no password: give --password-file FILE, pipe it on standard input, or --open")
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	restore := func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old); fmt.Fprintln(out) }
	fmt.Fprint(out, prompt)
	secret, err := readSecretCtx(ctx, in)
	restore()
	if err != nil && ctx.Err() != nil {
		return "", cliError{"interrupted", ctx.Err()}
	}
	return secret, err
}

func runProvision(cmd *cobra.Command, g *globals, r provisionRequest) error {
	ctx := cmd.Context()
	pr := newProgress(cmd.ErrOrStderr())
	defer pr.stop()
	pr.update("looking for " + r.device)
	l, closeAll, err := dial(cmd, g, r.device, r.opts.scanTimeout, func(c *client.Config) {
		c.ImprovWriteWithoutResponse = r.opts.noResponse
		stdinFree := r.opts.open || (r.opts.passwordFile != "" && r.opts.passwordFile != "-")
		c.Passkey = passkeySource(cmd, r.opts.passkey, stdinFree)
	})
	if err != nil {
		return err
	}
	defer closeAll()
	d := l.Device()
	proto, err := l.Choose(r.opts.protocol)
	if err != nil {
		return clientError(ctx, err)
	}
	if r.opts.pair || r.opts.passkey != "" {
		pr.update("pairing with " + d.Address)
		if err := l.Pair(ctx); err != nil {
			return clientError(ctx, err)
		}
	}
	pr.update(fmt.Sprintf("connected to %s %s (%s)", d.Address, d.Label(), proto))
	jctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	timedOut := func(err error) error {
		if errors.Is(err, client.ErrTimeout) {
			err = cliError{fmt.Sprintf("%s (after %v; raise --timeout?)", clientError(ctx, err), r.opts.timeout), err}
		}
		return clientError(ctx, err)
	}
	w := cmd.OutOrStdout()
	if proto == client.ProtocolImprov {
		if r.cred.EAP != nil {
			return usagef("--eap: %s speaks only Improv, which cannot carry an enterprise login", d.Label())
		}
		s, err := l.Improv(ctx)
		if err != nil {
			return clientError(ctx, err)
		}
		defer s.Close()
		out, err := s.Provision(jctx, r.ssid, r.password, pr.update)
		pr.stop()
		if err != nil {
			return timedOut(err)
		}
		fmt.Fprintf(w, "%s is %s on %s\n", d.Label(), out.State, bluenet.QuoteSSID(r.ssid))
		if out.RedirectURL != "" {
			fmt.Fprintf(w, "redirect URL: %s\n", out.RedirectURL)
		}
		return nil
	}
	s, err := l.Bluenet()
	if err != nil {
		return clientError(ctx, err)
	}
	if !s.HasResult() {
		pr.update("the device has no Result characteristic (original Bluenet): following its state only")
	}
	out, err := s.ProvisionWith(jctx, r.ssid, r.cred, pr.update)
	pr.stop()
	if err != nil {
		return timedOut(err)
	}
	fmt.Fprintf(w, "%s is %s\n", d.Label(), out.State)
	_, err = fmt.Fprintf(w, "host name: %s\n", out.Hostname)
	return err
}

// parsePasskey checks a 6-digit pairing passkey.
func parsePasskey(s string) (uint32, error) {
	if len(s) != 6 {
		return 0, fmt.Errorf("want 6 digits, got %d characters", len(s))
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("want 6 digits")
	}
	return uint32(n), nil
}

// passkeySource supplies the passkey a device shows: --passkey, a prompt
// when standard input is a terminal, or else a line read from standard
// input when the password did not come from it (stdinFree).
func passkeySource(cmd *cobra.Command, flag string, stdinFree bool) func(ctx context.Context, addr string) (uint32, error) {
	return func(ctx context.Context, addr string) (uint32, error) {
		if flag != "" {
			return parsePasskey(flag)
		}
		in := cmd.InOrStdin()
		f, isFile := in.(*os.File)
		terminal := false
		if isFile {
			_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
			terminal = err == nil
		}
		if !terminal && !stdinFree {
			return 0, errors.New("the device shows a passkey: give it with --passkey")
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "\nPasskey shown by %s: ", addr)
		s, err := readSecretCtx(ctx, in)
		if err != nil {
			return 0, err
		}
		return parsePasskey(strings.TrimSpace(s))
	}
}
