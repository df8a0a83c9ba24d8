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
	"github.com/bluenet-project/bluenet/protocol/improv"
)

type networksOpts struct {
	timeout     time.Duration
	scanTimeout time.Duration
	json        bool
	protocol    client.Protocol
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
		Short: "Show the Wi-Fi networks a Bluenet or Improv device sees, and its state",
		Long: `Connect to a device (DEVICE is its address, or its name as bluenet scan shows
it) and print the Wi-Fi networks it sees and its state.

Over the Bluenet profile: one full round of its Available Networks
notifications, its connection state, host name and version. Over Improv (a
device that offers only Improv, or --protocol improv): its Improv state and
capabilities, its device info (firmware, version, hardware, name) and its
scan with signal strength (dBm) and security.`,
		Example: `  bluenet networks 00:AA:01:00:00:00
  bluenet -b hci1 networks "Bluenet Test" --json
  bluenet networks esp-plug --protocol improv
  bluenet networks --saved`,
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
	cmd.Flags().Var(protocolFlag{&o.protocol}, "protocol", "protocol: auto (Bluenet if the device offers it, else Improv), bluenet or improv")
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

	// Protocol is "bluenet" or "improv"; the fields below are Improv's.
	Protocol     string        `json:"protocol"`
	Capabilities string        `json:"capabilities,omitempty"`
	DeviceInfo   *deviceInfo   `json:"device_info,omitempty"`
	Scan         []networkInfo `json:"scan,omitempty"`
}

// deviceInfo is an Improv device's info.
type deviceInfo struct {
	Firmware string `json:"firmware"`
	Version  string `json:"version"`
	Hardware string `json:"hardware"`
	Name     string `json:"name"`
}

// networkInfo is one network of an Improv scan.
type networkInfo struct {
	SSID string `json:"ssid"`
	RSSI int    `json:"rssi"`
	Auth string `json:"auth"`
}

func runNetworks(cmd *cobra.Command, g *globals, device string, o networksOpts) error {
	ctx := cmd.Context()
	l, closeAll, err := dial(cmd, g, device, o.scanTimeout, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	proto, err := l.Choose(o.protocol)
	if err != nil {
		return clientError(ctx, err)
	}
	if proto == client.ProtocolImprov {
		return runImprovNetworks(cmd, l, o)
	}
	s, err := l.Bluenet()
	if err != nil {
		return clientError(ctx, err)
	}
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
		Networks: []string{}, Complete: nets.Complete, Protocol: string(client.ProtocolBluenet)}
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

// runImprovNetworks is bluenet networks over Improv: state, capabilities,
// device info (when offered) and the scan (when offered).
func runImprovNetworks(cmd *cobra.Command, l *client.Link, o networksOpts) error {
	ctx := cmd.Context()
	s, err := l.Improv(ctx)
	if err != nil {
		return clientError(ctx, err)
	}
	defer s.Close()
	nctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	st, err := s.State(nctx)
	if err != nil {
		return clientError(ctx, err)
	}
	caps := s.Capabilities()
	r := networksReport{Address: l.Device().Address, Name: l.Device().Label(), State: st.String(),
		Networks: []string{}, Protocol: string(client.ProtocolImprov), Capabilities: caps.String()}
	if caps.Has(improv.CapabilityDeviceInfo) {
		d, err := s.DeviceInfo(nctx)
		if err != nil {
			return clientError(ctx, err)
		}
		r.DeviceInfo = &deviceInfo{Firmware: d.FirmwareName, Version: d.FirmwareVersion, Hardware: d.Hardware, Name: d.DeviceName}
		r.Version = d.FirmwareVersion
	}
	if caps.Has(improv.CapabilityScan) {
		nets, err := s.Networks(nctx)
		if err != nil {
			return clientError(ctx, err)
		}
		r.Complete = true
		r.Scan = []networkInfo{}
		for _, n := range nets {
			r.Networks = append(r.Networks, n.SSID)
			r.Scan = append(r.Scan, networkInfo{SSID: n.SSID, RSSI: n.RSSI, Auth: string(n.Auth)})
		}
	}
	if o.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printImprovNetworks(cmd.OutOrStdout(), r)
}

func printImprovNetworks(w io.Writer, r networksReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "device:       %s %s\n", r.Address, r.Name)
	fmt.Fprintf(&b, "protocol:     improv\n")
	fmt.Fprintf(&b, "state:        %s\n", r.State)
	fmt.Fprintf(&b, "capabilities: %s\n", r.Capabilities)
	if d := r.DeviceInfo; d != nil {
		fmt.Fprintf(&b, "firmware:     %s %s\n", d.Firmware, d.Version)
		fmt.Fprintf(&b, "hardware:     %s\n", d.Hardware)
		fmt.Fprintf(&b, "name:         %s\n", d.Name)
	}
	switch {
	case r.Scan == nil:
		b.WriteString("networks:     the device does not offer a scan\n")
	case len(r.Scan) == 0:
		b.WriteString("networks:     none\n")
	default:
		b.WriteString("networks:\n")
		fmt.Fprintf(&b, "  %4s  %-9s  %s\n", "RSSI", "SECURITY", "SSID")
	}
	for _, n := range r.Scan {
		fmt.Fprintf(&b, "  %4d  %-9s  %s\n", n.RSSI, n.Auth, bluenet.QuoteSSID([]byte(n.SSID)))
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
