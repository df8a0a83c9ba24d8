package gatttest_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestMain skips the package, Example included, where no dbus-daemon is
// installed, as gatttest.NewBus skips a test; it says so.
func TestMain(m *testing.M) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		fmt.Println("gatttest: SKIP: dbus-daemon not installed (apt-get install dbus)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
