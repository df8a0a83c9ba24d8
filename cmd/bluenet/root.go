package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// globals holds the flags shared by every command.
type globals struct {
	wlan      string
	bluetooth string
	verbose   int
	config    string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "bluenet",
		Short: "Set up the Wi-Fi of this device from a phone, over Bluetooth LE",
		Long: `bluenet publishes a Bluetooth LE GATT service through which a setup app lists the
Wi-Fi networks this device sees, sends an SSID and a password, and watches the
device come online. Wi-Fi is driven through NetworkManager; joining a new
network never destroys the one that works.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd, g.config)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.wlan, "wlan", "w", "wlan0", "Wi-Fi interface")
	pf.StringVarP(&g.bluetooth, "bluetooth", "b", "", "Bluetooth adapter (hciN or address; default: the first one)")
	pf.CountVarP(&g.verbose, "verbose", "v", "log more: -v info, -vv debug")
	pf.StringVar(&g.config, "config", defaultConfigFile, "configuration file (KEY=value lines, see README)")
	bindEnv(pf, "wlan", "BLUENET_WLAN")
	bindEnv(pf, "bluetooth", "BLUENET_BLUETOOTH")
	bindEnv(pf, "verbose", "BLUENET_VERBOSE")
	root.AddCommand(newStartCmd(g), newJoinCmd(g), newStatusCmd(g), newVersionCmd(),
		newScanCmd(g), newNetworksCmd(g), newProvisionCmd(g), newIdentifyCmd(g), newAllowCmd(),
		newSavedCmd(g), newForgetCmd(g), newCountryCmd(g), newDoctorCmd(g))
	return root
}

// logger logs to stderr: warnings only by default, -v info, -vv debug.
func (g *globals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose >= 2:
		level = slog.LevelDebug
	case g.verbose == 1:
		level = slog.LevelInfo
	}
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "bluenet", versionString())
			return err
		},
	}
}

// versionString is the version stamped by scripts/package (git describe),
// or, in a plain go build, "dev" with the commit Go recorded.
func versionString() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case rev == "":
		return version
	case modified:
		return version + " (" + rev + ", modified)"
	}
	return version + " (" + rev + ")"
}
