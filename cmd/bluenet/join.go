package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// errUnavailable marks failures to reach NetworkManager, the Wi-Fi device
// or bluetoothd.
var errUnavailable = errors.New("not available")

type joinOpts struct {
	ssid         string
	password     string
	passwordFile string
	open         bool
	remember     int
	country      string
	eap          eapOpts
}

func newJoinCmd(g *globals) *cobra.Command {
	return newJoinCmdWith(func(cmd *cobra.Command, ssid []byte, cred wifi.Credentials, o *joinOpts) error {
		return runJoin(cmd, g, ssid, cred, o)
	})
}

// newJoinCmdWith builds the join command around run, which gets the SSID and
// the credentials found from the flags or standard input.
func newJoinCmdWith(run func(cmd *cobra.Command, ssid []byte, cred wifi.Credentials, o *joinOpts) error) *cobra.Command {
	o := &joinOpts{}
	cmd := &cobra.Command{
		Use:   "join -s SSID [--password-file FILE | --open | -p PASSWORD] [--eap peap|ttls --identity NAME ...]",
		Short: "Join a Wi-Fi network now, keeping the current one if the join fails",
		Long: `Join a Wi-Fi network through NetworkManager, as a setup app would. The new
network replaces the 'bluenet' profile only once it is connected; on any
failure the previous connection is restored.

The password is read from --password-file (use - for standard input), or from
standard input when it is not a terminal. -p puts it on the command line,
where other users can see it with ps; it is kept for compatibility.

An enterprise (802.1X) network takes --eap peap or ttls, --identity and the
user's password (from the same sources). The server's certificate is checked
against --ca-cert FILE (PEM; NetworkManager keeps reading it from that path),
else against the system's CAs (narrow it with --domain); --no-ca-check turns
the check off and is logged as a warning on every join.

The network that was current before is kept as a saved profile (at most
--remember of them, newest preferred), so the device goes back to it by itself
when the new network is out of reach; see bluenet saved and bluenet forget.`,
		Example: `  printf '%s' 'correct horse' | bluenet join -s home
  bluenet join -s home --password-file /run/secrets/wifi
  bluenet join -s cafe --open
  bluenet join -s office --eap peap --identity alice --password-file pw --ca-cert /etc/bluenet/office-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.open && o.eap.method != "" {
				return usagef("--eap and --open exclude each other")
			}
			secret, err := o.secret(cmd)
			if err != nil {
				return err
			}
			cred, err := o.eap.credentials(cmd, secret)
			if err != nil {
				return err
			}
			return run(cmd, []byte(o.ssid), cred, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ssid, "ssid", "s", "", "network name")
	f.StringVarP(&o.password, "password", "p", "", "password (visible to other users; prefer --password-file)")
	f.StringVar(&o.passwordFile, "password-file", "", "read the password from this file (- for standard input)")
	f.BoolVar(&o.open, "open", false, "the network is open (no password)")
	f.IntVar(&o.remember, "remember", nm.DefaultRemember, "how many earlier networks to keep as saved profiles (0: none)")
	f.StringVar(&o.country, "country", "", "set the Wi-Fi country (ISO 3166-1 alpha-2, e.g. DE) before joining")
	o.eap.addFlags(f)
	_ = cmd.MarkFlagRequired("ssid")
	cmd.MarkFlagsMutuallyExclusive("password", "password-file", "open")
	return cmd
}

// secret finds the password from the flags or standard input.
func (o *joinOpts) secret(cmd *cobra.Command) (string, error) {
	if cmd.Flags().Changed("password") {
		return o.password, nil
	}
	return secretFrom(cmd, o.open, o.passwordFile, func(*os.File) (string, error) {
		return "", usagef("no password: give --password-file FILE, pipe it on standard input, or --open")
	})
}

// secretFrom finds a password: none for an open network, else from file
// ("-" is standard input), else from standard input, or, when that is a
// terminal, from onTerminal.
func secretFrom(cmd *cobra.Command, open bool, file string, onTerminal func(*os.File) (string, error)) (string, error) {
	switch {
	case open:
		return "", nil
	case file == "-":
		return readSecret(cmd.InOrStdin())
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", usagef("password file: %v", err)
		}
		defer f.Close()
		return readSecret(f)
	}
	if in, ok := cmd.InOrStdin().(*os.File); ok && isTerminal(in) {
		return onTerminal(in)
	}
	return readSecret(cmd.InOrStdin())
}

// readSecret reads the first line; a trailing newline is not part of it.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSecretCtx is readSecret that gives up when ctx ends (the reading
// goroutine is left to the process's exit).
func readSecretCtx(ctx context.Context, r io.Reader) (string, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() { s, err := readSecret(r); ch <- line{s, err} }()
	select {
	case l := <-ch:
		return l.s, l.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runJoin(cmd *cobra.Command, g *globals, ssid []byte, cred wifi.Credentials, o *joinOpts) error {
	if err := wifi.ValidateSSID(ssid); err != nil {
		return err
	}
	if err := cred.Validate(); err != nil {
		return err
	}
	if o.remember < 0 {
		return usagef("--remember must be 0 or more")
	}
	if o.country != "" {
		if err := setCountry(cmd.Context(), o.country); err != nil {
			return err
		}
	}
	remember := o.remember
	if remember == 0 {
		remember = -1 // nm.Config: negative keeps none
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
	}
	defer conn.Close()
	ctx := cmd.Context()
	backend, err := nm.New(ctx, nm.Config{Conn: conn, Logger: g.logger(nil).With("component", "wifi"), Interface: g.wlan,
		Remember: remember})
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer backend.Close()
	fmt.Fprintf(cmd.OutOrStdout(), "joining %q on %s...\n", ssid, g.wlan)
	if err := backend.Join(ctx, ssid, cred); err != nil {
		return err
	}
	st := backend.State()
	fmt.Fprintf(cmd.OutOrStdout(), "connected to %q, address %s\n", st.SSID, st.IPv4)
	return nil
}
