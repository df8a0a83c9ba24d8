package main

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bluenet-project/bluenet/doctor"
	"github.com/bluenet-project/bluenet/internal/config"
)

// errDoctorFailed is returned when a check failed (exit 1); the report says
// which.
var errDoctorFailed = errors.New("doctor: some checks failed")

func newDoctorCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the daemon, and say how to fix what is missing",
		Long: `doctor checks bluetoothd and the Bluetooth adapter (present, powered, not
blocked by rfkill, a free LE advertising slot), NetworkManager and the Wi-Fi
device (managed, radio on), the regulatory country, the polkit rule that lets
the service user "bluenet" use NetworkManager, and the configuration file.
It exits 0 when nothing failed (warnings allowed), 1 otherwise.`,
		Args: cobra.NoArgs,
		// A broken configuration file is one of the things doctor reports,
		// so it must not stop doctor from running.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			_ = applyConfig(cmd, g.config)
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := dbus.ConnectSystemBus()
			if err != nil {
				return fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
			}
			defer conn.Close()
			explicit := cmd.Flags().Changed("config")
			r, err := doctor.Run(cmd.Context(), doctor.Config{
				Conn:           conn,
				Adapter:        g.bluetooth,
				Interface:      g.wlan,
				ConfigFile:     g.config,
				ValidateConfig: func() ([]string, error) { return validateConfig(g.config, explicit) },
			})
			if err != nil {
				return err
			}
			if asJSON {
				err = r.WriteJSON(cmd.OutOrStdout())
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if !r.OK {
				return errDoctorFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// validateConfig parses file as the daemon would and returns warnings for
// keys no option reads. A missing file is fine (fs.ErrNotExist) unless it
// was named with --config.
func validateConfig(file string, explicit bool) ([]string, error) {
	conf, err := config.Read(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && explicit {
			return nil, fmt.Errorf("%s does not exist", file)
		}
		return nil, err
	}
	root := newRootCmd()
	flags := map[string]*pflag.Flag{}
	collect := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			for _, k := range f.Annotations[envAnnotation] {
				flags[k] = f
			}
		})
	}
	collect(root.PersistentFlags())
	for _, c := range root.Commands() {
		collect(c.Flags())
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var warnings []string
	for _, k := range keys {
		f, ok := flags[k]
		if !ok {
			warnings = append(warnings, "unknown key "+k)
			continue
		}
		if err := f.Value.Set(conf[k]); err != nil {
			return nil, fmt.Errorf("%s: invalid value %q for %s: %v", file, conf[k], k, err)
		}
	}
	return warnings, nil
}
