package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/client"
)

type scanOpts struct {
	timeout time.Duration
	json    bool
}

func newScanCmd(g *globals) *cobra.Command {
	return newScanCmdWith(func(cmd *cobra.Command, o scanOpts) error { return runScan(cmd, g, o) })
}

func newScanCmdWith(run func(*cobra.Command, scanOpts) error) *cobra.Command {
	var o scanOpts
	cmd := &cobra.Command{
		Use:   "scan [--timeout 10s] [--json]",
		Short: "List the Bluenet and Improv devices in range (this machine as the phone)",
		Long: `Scan for Bluetooth LE devices advertising the Bluenet service or the Improv
Wi-Fi service (ESPHome and other Improv devices too) and list their address,
signal strength (RSSI, dBm; ? when the controller gives none), protocols,
Improv state (from the Improv service data; ? when the device advertises
none) and name, strongest first. Devices this machine remembers from earlier
that did not advertise during the scan are listed last, marked as not seen.
Use -b to pick the adapter.`,
		Example: `  bluenet scan
  bluenet -b hci1 scan --timeout 5s --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := positiveDuration("timeout", o.timeout); err != nil {
				return err
			}
			return run(cmd, o)
		},
	}
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to scan")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runScan(cmd *cobra.Command, g *globals, o scanOpts) error {
	ctx, cancel := contextWithTimeout(cmd, o.timeout)
	defer cancel()
	cl, closeClient, err := openClient(ctx, g, 0)
	if err != nil {
		return err
	}
	defer closeClient()
	var mu sync.Mutex
	seen := map[string]client.Device{}
	err = cl.Scan(ctx, func(d client.Device) {
		mu.Lock()
		defer mu.Unlock()
		old, ok := seen[d.Address]
		if d.Seen && !old.Seen && !o.json {
			fmt.Fprintf(cmd.ErrOrStderr(), "found %s %s\n", d.Address, d.Label())
		}
		if ok && old.Seen && !d.Seen {
			return // the device stopped advertising: keep what was seen
		}
		seen[d.Address] = d
	})
	if err != nil {
		return clientError(cmd.Context(), err)
	}
	if cmd.Context().Err() != nil {
		return clientError(cmd.Context(), cmd.Context().Err())
	}
	mu.Lock()
	defer mu.Unlock()
	devs := make([]client.Device, 0, len(seen))
	for _, d := range seen {
		devs = append(devs, d)
	}
	return printDevices(cmd.OutOrStdout(), devs, o.json)
}

// printDevices prints the devices, strongest signal first.
func printDevices(w io.Writer, devs []client.Device, asJSON bool) error {
	if devs == nil {
		devs = []client.Device{}
	}
	rank := func(d client.Device) int { // unknown RSSI last, devices not seen after them
		switch {
		case !d.Seen:
			return -2000
		case d.RSSI == 0:
			return -1000
		}
		return int(d.RSSI)
	}
	slices.SortFunc(devs, func(a, b client.Device) int {
		if rank(a) != rank(b) {
			return rank(b) - rank(a)
		}
		return strings.Compare(a.Address, b.Address)
	})
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(devs)
	}
	var b strings.Builder
	if len(devs) == 0 {
		b.WriteString("no Bluenet or Improv device found\n")
	} else {
		fmt.Fprintf(&b, "%-17s  %5s  %-14s  %-22s  %s\n", "ADDRESS", "RSSI", "PROTOCOL", "IMPROV STATE", "NAME")
	}
	for _, d := range devs {
		rssi := "?"
		if d.RSSI != 0 {
			rssi = fmt.Sprint(d.RSSI)
		}
		name := d.Label()
		switch {
		case d.Connected:
			name += " (connected)"
		case !d.Seen:
			rssi = "-"
			name += " (known, not seen in this scan)"
		}
		proto := d.Protocols()
		if proto == "" {
			proto = "?"
		}
		state := "-"
		switch {
		case d.Improv && d.ImprovState.Valid():
			state = d.ImprovState.String()
		case d.Improv:
			state = "?"
		}
		fmt.Fprintf(&b, "%-17s  %5s  %-14s  %-22s  %s\n", d.Address, rssi, proto, state, name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
