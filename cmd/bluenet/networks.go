package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

type networksOpts struct {
	timeout     time.Duration
	scanTimeout time.Duration
	json        bool
	saved       bool
}

func newNetworksCmd(g *globals) *cobra.Command {
	return newNetworksCmdWith(func(cmd *cobra.Command, device string, o networksOpts) error {
		if o.saved {
			return runSaved(cmd, g, o.json)
		}
		return runNetworks(cmd, g, device, o)
	})
}

func newNetworksCmdWith(run func(*cobra.Command, string, networksOpts) error) *cobra.Command {
	var o networksOpts
	cmd := &cobra.Command{
		Use:   "networks DEVICE",
		Short: "Show the Wi-Fi networks a Bluenet device sees, and its state",
		Long: `Connect to a Bluenet device (DEVICE is its address, or its name as bluenet scan
shows it) and print the Wi-Fi networks it sees (one full round of its Available
Networks notifications), its connection state, host name and version.`,
		Example: `  bluenet networks 00:AA:01:00:00:00
  bluenet -b hci1 networks "Bluenet Test" --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.saved {
				return exactArgs(0, "no DEVICE with --saved (it lists this machine's saved networks)")(cmd, args)
			}
			return exactArgs(1, "DEVICE")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.saved {
				return run(cmd, "", o)
			}
			if err := positiveDuration("timeout", o.timeout); err != nil {
				return err
			}
			if err := positiveDuration("scan-timeout", o.scanTimeout); err != nil {
				return err
			}
			return run(cmd, args[0], o)
		},
	}
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for a full round of networks")
	cmd.Flags().DurationVar(&o.scanTimeout, "scan-timeout", client.DefaultScanTimeout, "how long to look for the device")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&o.saved, "saved", false, "list this machine's saved Wi-Fi networks instead (same as bluenet saved)")
	return cmd
}

// networksReport is what bluenet networks prints.
type networksReport struct {
	Address    string   `json:"address"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	SSID       string   `json:"ssid,omitempty"`
	Hostname   string   `json:"hostname"`
	Version    string   `json:"version"`
	LastResult string   `json:"last_result,omitempty"`
	Networks   []string `json:"networks"`
	Complete   bool     `json:"complete"`
}

func runNetworks(cmd *cobra.Command, g *globals, device string, o networksOpts) error {
	ctx := cmd.Context()
	s, closeAll, err := connect(cmd, g, device, o.scanTimeout)
	if err != nil {
		return err
	}
	defer closeAll()
	info, err := s.Info(ctx)
	if err != nil {
		return clientError(ctx, err)
	}
	nctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nets, err := s.Networks(nctx)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return clientError(ctx, err)
	}
	r := networksReport{Address: s.Device().Address, Name: s.Device().Label(), State: info.State.Kind.String(),
		SSID: string(info.State.SSID), Hostname: info.Hostname, Version: info.Version,
		Networks: []string{}, Complete: nets.Complete}
	if info.LastResult != nil {
		r.LastResult = info.LastResult.String()
	}
	for _, n := range nets.SSIDs {
		r.Networks = append(r.Networks, string(n))
	}
	if o.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printNetworks(cmd.OutOrStdout(), r, info, nets, o.timeout)
}

func printNetworks(w io.Writer, r networksReport, info client.Info, nets client.Networks, timeout time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "device:    %s %s\n", r.Address, r.Name)
	fmt.Fprintf(&b, "state:     %s\n", info.State)
	fmt.Fprintf(&b, "host name: %s\n", r.Hostname)
	if r.Version != "" {
		fmt.Fprintf(&b, "version:   %s\n", r.Version)
	}
	if r.LastResult != "" {
		fmt.Fprintf(&b, "last join: %s\n", r.LastResult)
	}
	switch {
	case len(nets.SSIDs) == 0:
		fmt.Fprintf(&b, "networks:  none reported within %v\n", timeout)
	case !nets.Complete:
		fmt.Fprintf(&b, "networks (partial, no full round within %v):\n", timeout)
	default:
		b.WriteString("networks:\n")
	}
	for _, n := range nets.SSIDs {
		fmt.Fprintf(&b, "  %s\n", bluenet.QuoteSSID(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// exactArgs is cobra.ExactArgs with a usage error (exit code 2) that says
// what is wanted.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d arguments: %q", what, len(args), args)
		}
		return nil
	}
}

// contextWithTimeout bounds the command's context.
func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}
