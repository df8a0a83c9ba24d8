package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bluenet-project/bluenet/internal/config"
)

// defaultConfigFile is read when it exists; a missing file is not an error.
const defaultConfigFile = "/etc/bluenet/bluenet.conf"

// envAnnotation names the environment variable (and configuration key) of a
// flag.
const envAnnotation = "bluenet_env"

// bindEnv gives flag name the environment variable and configuration key
// key. Precedence: command-line flag, then environment, then configuration
// file, then the flag's default.
func bindEnv(fs *pflag.FlagSet, name, key string) {
	_ = fs.SetAnnotation(name, envAnnotation, []string{key})
}

// applyConfig fills the flags of cmd that were not given on the command line
// from the environment and the configuration file.
func applyConfig(cmd *cobra.Command, file string) error {
	conf, err := config.Read(file)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && !cmd.Flags().Changed("config")) {
		return usageError{err}
	}
	var ferr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		keys := f.Annotations[envAnnotation]
		if len(keys) == 0 || f.Changed || ferr != nil {
			return
		}
		v, ok := os.LookupEnv(keys[0])
		src := "environment variable " + keys[0]
		if !ok {
			v, ok = conf[keys[0]]
			src = file + ": " + keys[0]
		}
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			ferr = usagef("%s: invalid value %q for --%s: %v", src, v, f.Name, err)
		}
	})
	return ferr
}
