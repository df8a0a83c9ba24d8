package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestExampleConfig keeps packaging/bluenet.conf in step with the flags:
// every key in it names a flag's variable, and its example values parse.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../packaging/bluenet.conf")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#BLUENET_") {
			lines = append(lines, strings.TrimPrefix(l, "#"))
		}
	}
	root := newRootCmd()
	start, _, _ := root.Find([]string{"start"})
	known := map[string]bool{}
	for _, fs := range []*pflag.FlagSet{root.PersistentFlags(), start.Flags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			for _, k := range f.Annotations[envAnnotation] {
				known[k] = true
			}
		})
	}
	for _, l := range lines {
		k, _, _ := strings.Cut(l, "=")
		if !known[k] {
			t.Errorf("packaging/bluenet.conf: %s is not a known variable", k)
		}
	}
	if len(lines) != len(known) {
		t.Errorf("packaging/bluenet.conf documents %d variables, the flags have %d", len(lines), len(known))
	}
	conf := t.TempDir() + "/bluenet.conf"
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parse(t, "--config", conf, "start"); err != nil {
		t.Fatalf("example configuration: %v", err)
	}
}
