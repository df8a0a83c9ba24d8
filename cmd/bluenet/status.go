package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/internal/statusfile"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// statusReport is what `bluenet status` prints.
type statusReport struct {
	Daemon string `json:"daemon"` // "running" or "stopped"
	PID    int    `json:"pid,omitempty"`
	daemon.Status
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	var file string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the Wi-Fi connection state (and the daemon's, when it runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := readStatus(cmd, g, file)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return printStatus(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&file, "status-file", statusfile.DefaultPath(), "the running daemon's status file")
	bindEnv(cmd.Flags(), "status-file", "BLUENET_STATUS_FILE")
	return cmd
}

// readStatus asks the running daemon, or NetworkManager when none runs.
func readStatus(cmd *cobra.Command, g *globals, file string) (statusReport, error) {
	var r statusReport
	pid, _, err := statusfile.Read(file, &r.Status)
	if err == nil {
		r.Daemon, r.PID = "running", pid
		return r, nil
	}
	if !errors.Is(err, statusfile.ErrNotRunning) {
		return r, err
	}
	r = statusReport{Daemon: "stopped", Status: daemon.Status{Centrals: []string{}}}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return r, fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
	}
	defer conn.Close()
	backend, err := nm.New(cmd.Context(), nm.Config{Conn: conn, Interface: g.wlan})
	if err != nil {
		return r, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer backend.Close()
	st := backend.State()
	r.State, r.SSID = st.Kind.String(), string(st.SSID)
	if st.IPv4.IsValid() {
		r.IPv4 = st.IPv4.String()
	}
	return r, nil
}

func printStatus(w io.Writer, r statusReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "state: %s\n", r.State)
	if r.SSID != "" {
		fmt.Fprintf(&b, "ssid: %q\n", r.SSID)
	}
	if r.IPv4 != "" {
		fmt.Fprintf(&b, "ipv4: %s\n", r.IPv4)
	}
	if r.Daemon == "running" {
		fmt.Fprintf(&b, "daemon: running (pid %d) on %s\n", r.PID, r.Adapter)
		fmt.Fprintf(&b, "advertising: %v\n", r.Advertising)
		fmt.Fprintf(&b, "centrals: %d %s\n", len(r.Centrals), strings.Join(r.Centrals, " "))
		fmt.Fprintf(&b, "hostname: %s\n", r.Hostname)
		fmt.Fprintf(&b, "last join: %s\n", r.LastResult)
		if len(r.Protocols) > 0 {
			fmt.Fprintf(&b, "protocols: %s\n", strings.Join(r.Protocols, ", "))
		}
		if r.Setup != "" {
			line := "setup window: " + r.Setup
			if r.SetupUntil != "" {
				line += " until " + r.SetupUntil
			}
			if r.SetupOpensAt != "" {
				line += ", opens at " + r.SetupOpensAt
			}
			fmt.Fprintln(&b, line)
		}
		if r.Pairing != "" {
			fmt.Fprintf(&b, "pairing: %s\n", r.Pairing)
		}
	} else {
		fmt.Fprintf(&b, "daemon: stopped\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
