package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		content  string // "" with noFile: no file
		noFile   bool
		explicit bool
		warnings []string
		err      string // substring; "notexist" for fs.ErrNotExist
	}{
		{name: "valid", content: "BLUENET_WLAN=wlan1\nBLUENET_JOIN_TIMEOUT=30s\nBLUENET_AUTO_ADVERTISE=true\n"},
		{name: "unknown key", content: "BLUENET_WLAM=wlan1\nBLUENET_RPC=off\n", warnings: []string{"unknown key BLUENET_WLAM"}},
		{name: "bad duration", content: "BLUENET_JOIN_TIMEOUT=soon\n", err: `invalid value "soon" for BLUENET_JOIN_TIMEOUT`},
		{name: "bad bool", content: "BLUENET_KEEP_BREDR=maybe\n", err: "BLUENET_KEEP_BREDR"},
		{name: "syntax", content: "# ok\nwlan0\n", err: ":2: want KEY=value"},
		{name: "missing default file", noFile: true, err: "notexist"},
		{name: "missing named file", noFile: true, explicit: true, err: "does not exist"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.Repeat("x", i+1)+".conf")
			if !tc.noFile {
				if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, err := validateConfig(file, tc.explicit)
			switch {
			case tc.err == "notexist":
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("err = %v, want fs.ErrNotExist", err)
				}
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				if tc.explicit && errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a missing --config file must fail the check, got %v", err)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
			if !reflect.DeepEqual(w, tc.warnings) {
				t.Errorf("warnings = %q, want %q", w, tc.warnings)
			}
		})
	}
}

// TestDoctorIgnoresBrokenConfig: doctor reports a broken configuration
// instead of refusing to run (it fails later, reaching the bus, here).
func TestDoctorIgnoresBrokenConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(conf, []byte("not a key value line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "none"))
	root := newRootCmd()
	root.SetArgs([]string{"--config", conf, "doctor"})
	err := root.Execute()
	if exitCode(err) == exitUsage {
		t.Fatalf("doctor stopped on the configuration: %v", err)
	}
	if !errors.Is(err, errUnavailable) {
		t.Fatalf("err = %v, want the system bus unavailable", err)
	}
}
