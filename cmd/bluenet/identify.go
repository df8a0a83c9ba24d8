package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/client"
)

type identifyOpts struct {
	scanTimeout time.Duration
}

func newIdentifyCmd(g *globals) *cobra.Command {
	return newIdentifyCmdWith(func(cmd *cobra.Command, device string, o identifyOpts) error {
		return runIdentify(cmd, g, device, o)
	})
}

func newIdentifyCmdWith(run func(*cobra.Command, string, identifyOpts) error) *cobra.Command {
	var o identifyOpts
	cmd := &cobra.Command{
		Use:   "identify DEVICE",
		Short: "Ask an Improv device to show itself (blink, beep)",
		Long: `Connect to an Improv device (DEVICE is its address, or its name as bluenet scan
shows it) and send it Improv's Identify command: the device shows itself, for
example by blinking an LED, so that you know which one is which. A device
whose Improv capabilities leave Identify out is refused (exit status 1).`,
		Example: `  bluenet identify esp-plug
  bluenet -b hci1 identify 00:AA:01:00:00:00`,
		Args: exactArgs(1, "DEVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return usagef("DEVICE is empty")
			}
			if err := positiveDuration("scan-timeout", o.scanTimeout); err != nil {
				return err
			}
			return run(cmd, args[0], o)
		},
	}
	cmd.Flags().DurationVar(&o.scanTimeout, "scan-timeout", client.DefaultScanTimeout, "how long to look for the device")
	return cmd
}

func runIdentify(cmd *cobra.Command, g *globals, device string, o identifyOpts) error {
	ctx := cmd.Context()
	l, closeAll, err := dial(cmd, g, device, o.scanTimeout, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	s, err := l.Improv(ctx)
	if err != nil {
		return clientError(ctx, err)
	}
	defer s.Close()
	if err := s.Identify(ctx); err != nil {
		return clientError(ctx, err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "asked %s %s to identify itself\n", l.Device().Address, l.Device().Label())
	return err
}
