package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// withBackend runs f with a NetworkManager backend on the chosen interface.
func withBackend(cmd *cobra.Command, g *globals, f func(ctx context.Context, b *nm.Client) error) error {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
	}
	defer conn.Close()
	ctx := cmd.Context()
	b, err := nm.New(ctx, nm.Config{Conn: conn, Logger: g.logger(nil).With("component", "wifi"), Interface: g.wlan})
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer b.Close()
	return f(ctx, b)
}

// savedEntry is one line of bluenet saved --json.
type savedEntry struct {
	SSID     string `json:"ssid"`
	Current  bool   `json:"current"`
	Priority int32  `json:"priority"`
	Security string `json:"security"`
	Profile  string `json:"profile"`
}

func newSavedCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "saved",
		Short: "List the Wi-Fi networks this device remembers",
		Long: `List the NetworkManager profiles bluenet owns on this device: the current one
(profile 'bluenet', from the last successful join) and the earlier networks it
remembers (profiles 'bluenet-saved-SSID', see join --remember), in the order
NetworkManager prefers them when it connects by itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSaved(cmd, g, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// runSaved prints the saved networks (bluenet saved, bluenet networks --saved).
func runSaved(cmd *cobra.Command, g *globals, asJSON bool) error {
	return withBackend(cmd, g, func(ctx context.Context, b *nm.Client) error {
		l, err := b.Saved(ctx)
		if err != nil {
			return fmt.Errorf("%w: %v", errUnavailable, err)
		}
		return printSaved(cmd.OutOrStdout(), l, asJSON)
	})
}

func printSaved(w io.Writer, l []nm.SavedNetwork, asJSON bool) error {
	entries := []savedEntry{}
	for _, s := range l {
		sec := s.KeyMgmt
		if sec == "" {
			sec = "open"
		}
		entries = append(entries, savedEntry{SSID: string(s.SSID), Current: s.Current, Priority: s.Priority,
			Security: sec, Profile: s.Name})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	var b strings.Builder
	if len(l) == 0 {
		b.WriteString("no saved networks\n")
	}
	for i, s := range l {
		what := "remembered"
		if s.Current {
			what = "current"
		}
		fmt.Fprintf(&b, "%-34s %-10s %-8s priority %d\n", bluenet.QuoteSSID(s.SSID), what, entries[i].Security, s.Priority)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func newForgetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forget SSID",
		Short: "Forget a saved Wi-Fi network (current or remembered)",
		Long: `Delete every profile bluenet owns for SSID, the current one or a remembered one.
Forgetting the network the device is on disconnects it. Exit code 4 when no
such network is saved.`,
		Example: `  bluenet forget "Cafe Wi-Fi"`,
		Args:    exactArgs(1, "SSID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ssid := []byte(args[0])
			if err := wifi.ValidateSSID(ssid); err != nil {
				return err
			}
			return withBackend(cmd, g, func(ctx context.Context, b *nm.Client) error {
				n, err := b.Forget(ctx, ssid)
				if err != nil {
					return fmt.Errorf("%w: %v", errUnavailable, err)
				}
				if n == 0 {
					return fmt.Errorf("no saved network %s: %w", bluenet.QuoteSSID(ssid), wifi.ErrNotFound)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "forgot %s (%d profile(s))\n", bluenet.QuoteSSID(ssid), n)
				return nil
			})
		},
	}
}
