package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/internal/control"
)

// newAllowCmd is `bluenet allow [DURATION]`: open the running daemon's setup
// window, through its local control socket (root or the control group only).
func newAllowCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "allow [DURATION]",
		Short: "Let a phone set this device's Wi-Fi up now (opens the setup window)",
		Long: `allow opens the running daemon's setup window, as pressing the device's button
does: provisioning writes are accepted (Improv shows Authorized) for DURATION
(for example 90s or 5m; default: the daemon's --authorized-for, 1 minute),
restarted after a failed attempt. It talks to the daemon through a local Unix
socket that only root (and the daemon's control group, if configured) may use.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("allow takes at most one argument, the duration")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var d time.Duration
			if len(args) == 1 {
				var err error
				if d, err = parseAllowDuration(args[0]); err != nil {
					return usageError{err}
				}
			}
			until, err := control.Allow(cmd.Context(), path, d)
			if err != nil {
				return err
			}
			if until.IsZero() {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), "setup window open")
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "setup window open until %s (%s from now)\n",
				until.Local().Format("15:04:05"), time.Until(until).Round(time.Second))
			return err
		},
	}
	cmd.Flags().StringVar(&path, "control", control.DefaultPath(), "the running daemon's control socket")
	bindEnv(cmd.Flags(), "control", "BLUENET_CONTROL")
	return cmd
}

// parseAllowDuration accepts a Go duration ("90s", "5m") or whole seconds
// ("90"), from 1 second to control.MaxDuration.
func parseAllowDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("bad duration %q (for example 90s, 5m)", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d < time.Second || d > control.MaxDuration {
		return 0, fmt.Errorf("duration %q out of range (1s to %v)", s, control.MaxDuration)
	}
	return d, nil
}
