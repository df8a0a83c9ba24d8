// Package dbustest starts private D-Bus daemons for tests, in the manner of
// net/http/httptest: each test gets its own bus, torn down with t.Cleanup.
package dbustest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Bus is a private dbus-daemon running for the duration of one test.
type Bus struct {
	// Address is the bus address to pass to dbus.Connect.
	Address string
}

// New starts a private dbus-daemon that allows every peer to own any name
// and call anything, and stops it when the test ends. It skips the test when
// no dbus-daemon binary is installed.
func New(t testing.TB) *Bus {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbustest: dbus-daemon not installed (apt-get install dbus)")
	}
	// Not t.TempDir(): the socket path must be short (108 bytes) and free
	// of commas, which separate fields in a D-Bus address, and test names
	// may hold both.
	dir, err := os.MkdirTemp("", "dbustest")
	if err != nil {
		t.Fatalf("dbustest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(config(dir)), 0o600); err != nil {
		t.Fatalf("dbustest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--nofork", "--print-address=1", "--config-file="+conf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("dbustest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("dbustest: start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatalf("dbustest: dbus-daemon printed no address")
		}
		return &Bus{Address: a}
	case <-time.After(10 * time.Second):
		t.Fatalf("dbustest: dbus-daemon did not start within 10s")
	}
	return nil
}

// Conn opens a new connection to the bus and closes it when the test ends.
func (b *Bus) Conn(t testing.TB) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(b.Address)
	if err != nil {
		t.Fatalf("dbustest: connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func config(dir string) string {
	return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=` + dir + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
}
