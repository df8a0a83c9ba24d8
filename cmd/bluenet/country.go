package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/wifi/regdom"
)

func newCountryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "country [XX]",
		Short: "Show or set the Wi-Fi country (regulatory domain)",
		Long: `Without an argument, print the Wi-Fi regulatory domain the kernel uses ("00":
no country set) and the bands the radio of the --wlan interface supports.
With a two-letter ISO 3166-1 country code, set it (over nl80211, as
'iw reg set' does; needs CAP_NET_ADMIN and wireless-regdb) and wait until the
kernel reports it. Many radios keep 5 GHz channels off until a country is set.
The setting lasts until reboot: give it to 'bluenet start --country' or
'bluenet join --country' to apply it each time.`,
		Example: `  bluenet country
  bluenet country DE`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			if len(args) == 1 {
				if err := setCountry(ctx, args[0]); err != nil {
					return err
				}
			}
			st, err := regdom.Check(ctx, g.wlan)
			if st.Country == "" {
				return fmt.Errorf("%w: %v", errUnavailable, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "country: %s\n", st.Country)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "bands:   unknown (%v)\n", err)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "bands:   %v (%s)\n", st.Bands, g.wlan)
			if st.NeedsCountry() {
				fmt.Fprintln(cmd.OutOrStdout(), "warning: no country set; 5 GHz networks may stay invisible")
			}
			return nil
		},
	}
}

// setCountry sets the regulatory domain; a bad code is a usage error.
func setCountry(ctx context.Context, code string) error {
	if _, err := regdom.NormalizeCountry(code); err != nil {
		return usageError{err}
	}
	c, err := regdom.Dial()
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer c.Close()
	if err := c.SetCountry(ctx, code); err != nil {
		if errors.Is(err, regdom.ErrInvalid) {
			return usageError{err}
		}
		return err
	}
	return nil
}
