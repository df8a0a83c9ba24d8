// Package dbustest starts private D-Bus daemons for tests, in the manner of
// net/http/httptest: each test gets its own bus, torn down with t.Cleanup.
package dbustest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// ErrNoDaemon is returned by Start when no dbus-daemon binary is installed.
var ErrNoDaemon = errors.New("dbustest: dbus-daemon not installed (apt-get install dbus)")

// Bus is a private dbus-daemon.
type Bus struct {
	// Address is the bus address to pass to dbus.Connect.
	Address string

	stop func()
}

// New starts a private dbus-daemon that allows every peer to own any name
// and call anything, and stops it when the test ends. It skips the test when
// no dbus-daemon binary is installed.
func New(t testing.TB) *Bus {
	t.Helper()
	b, err := Start()
	if errors.Is(err, ErrNoDaemon) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Start starts a private dbus-daemon like New, for use outside a test
// (examples, TestMain). Close stops it.
func Start() (*Bus, error) {
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, ErrNoDaemon
	}
	// Not t.TempDir(): the socket path must be short (108 bytes) and free
	// of commas, which separate fields in a D-Bus address, and test names
	// may hold both.
	dir, err := os.MkdirTemp("", "dbustest")
	if err != nil {
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(config(dir)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--nofork", "--print-address=1", "--config-file="+conf)
	stop := func() {
		cancel()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: start dbus-daemon: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			stop()
			return nil, errors.New("dbustest: dbus-daemon printed no address")
		}
		return &Bus{Address: a, stop: stop}, nil
	case <-time.After(10 * time.Second):
		stop()
		return nil, errors.New("dbustest: dbus-daemon did not start within 10s")
	}
}

// Close stops the dbus-daemon; every connection to it ends.
func (b *Bus) Close() {
	if b.stop != nil {
		b.stop()
		b.stop = nil
	}
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
