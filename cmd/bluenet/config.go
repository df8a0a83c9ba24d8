package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	conf, err := readConfig(file)
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

// readConfig parses KEY=value lines; blank lines and lines starting with #
// are ignored, and values may be quoted.
func readConfig(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	defer f.Close()
	conf := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("configuration %s:%d: want KEY=value", name, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		conf[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("configuration %s: %w", name, err)
	}
	return conf, nil
}
