//go:build vm

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/att"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

var (
	pairSvc    = gatt.MustParseUUID("5a1e0201-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	pairPlain  = gatt.MustParseUUID("5a1e0202-7b3c-4d6e-9f10-2a3b4c5d6e7f")
	pairSecret = gatt.MustParseUUID("5a1e0203-7b3c-4d6e-9f10-2a3b4c5d6e7f")
)

// linux/bluetooth.h
const (
	btSecurity       = 4 // BT_SECURITY socket option (SOL_BLUETOOTH)
	btSecurityLow    = 1
	btSecurityMedium = 2 // encryption, no MITM protection: Just Works will do
)

// startBtmon records HCI traffic of every controller into
// $L/<test>.btsnoop (written unbuffered, so nothing is lost when it is
// killed) until the test ends, and returns a function that decodes the
// record so far as btmon's text.
func startBtmon(t *testing.T) func() string {
	t.Helper()
	p := filepath.Join(vmtest.LogDir(), t.Name()+".btsnoop")
	cmd := exec.Command("btmon", "-w", p)
	if err := cmd.Start(); err != nil {
		t.Fatalf("btmon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Keep a text copy with the guest logs.
		out, _ := exec.Command("btmon", "-r", p, "--no-pager").CombinedOutput()
		_ = os.WriteFile(filepath.Join(vmtest.LogDir(), t.Name()+"-btmon.log"), out, 0o644)
	})
	time.Sleep(time.Second) // let it open the monitor channel
	return func() string {
		out, _ := exec.Command("btmon", "-r", p, "--no-pager").CombinedOutput()
		return string(out)
	}
}

// dialSecurity is att.Dial with the L2CAP socket's security level set
// before it connects: at btSecurityMedium the kernel encrypts the link
// (pairing first when there is no key) before the ATT channel is ready.
func dialSecurity(ctx context.Context, local, remote string, level byte) (*att.Conn, error) {
	la, ra := mustAddr(local), mustAddr(remote)
	fd, err := unix.Socket(unix.AF_BLUETOOTH, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.BTPROTO_L2CAP)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrL2{CID: 4, Addr: la, AddrType: 1}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.SetsockoptString(fd, unix.SOL_BLUETOOTH, btSecurity, string([]byte{level, 0})); err != nil {
		return nil, fmt.Errorf("BT_SECURITY: %w", err)
	}
	err = unix.Connect(fd, &unix.SockaddrL2{CID: 4, Addr: ra, AddrType: 1})
	for err == unix.EINPROGRESS {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, perr := unix.Poll(fds, 100); perr == unix.EINTR || n == 0 {
			continue
		} else if perr != nil {
			return nil, perr
		}
		soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil {
			return nil, gerr
		}
		if soerr != 0 {
			return nil, fmt.Errorf("connect: %w", unix.Errno(soerr))
		}
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	ok = true
	return att.NewConn(os.NewFile(uintptr(fd), "att-secure")), nil
}

// dialRetry dials (with dialSecurity at level, or att.Dial when level is
// 0), retrying a few times: on the loaded bed a connect right after the
// previous link went down is sometimes refused or times out while the
// peripheral's advertising is not yet back.
func dialRetry(ctx context.Context, t testing.TB, level byte) (*att.Conn, error) {
	t.Helper()
	var err error
	for i := 0; i < 4; i++ {
		waitLinkSettled(t, 5*time.Second)
		var c *att.Conn
		if level == 0 {
			c, err = att.Dial(ctx, vmtest.CentralAddress, vmtest.PeripheralAddress)
		} else {
			c, err = dialSecurity(ctx, vmtest.CentralAddress, vmtest.PeripheralAddress, level)
		}
		if err == nil {
			return c, nil
		}
		if vmtest.UnstickCentral(t) {
			continue
		}
		if !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.EHOSTUNREACH) && !errors.Is(err, unix.ETIMEDOUT) && !errors.Is(err, unix.EBUSY) {
			return nil, err
		}
		t.Logf("dial (try %d): %v; again in 2 s", i+1, err)
		time.Sleep(2 * time.Second)
	}
	return nil, err
}

// peripheralLink returns hcitool's line for the central's (hci1) link to
// the peripheral, "" when there is none.
func peripheralLink() (string, error) {
	out, err := vmtest.ShErr("hcitool -i " + vmtest.CentralAdapter + " con")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, vmtest.PeripheralAddress) {
			return strings.TrimSpace(l), nil
		}
	}
	return "", nil
}

// waitLinkGone waits until the central's controller has no link to the
// peripheral, and logs it if the link stays. The kernel drops an LE link 2 s
// after its last socket closed (HCI_DISCONN_TIMEOUT); a dial at that moment
// meets the link going down and fails with "connection reset by peer".
func waitLinkGone(t testing.TB, within time.Duration) {
	t.Helper()
	if !waitFor(within, func() bool { l, err := peripheralLink(); return err == nil && l == "" }) {
		t.Logf("%s still has a link to %s after %v", vmtest.CentralAdapter, vmtest.PeripheralAddress, within)
	}
}

// waitLinkSettled waits until the central's controller has no link to the
// peripheral or a connected one (hcitool's state 1), not one being set up
// or torn down: a new connection started while the kernel is still taking
// down the last one to the same peer can stay in BT_CONNECT for good (Debian's
// 6.1 kernel; seen when a kernel ATT dial followed BlueZ's Disconnect at once,
// see vmtest.UnstickCentral).
func waitLinkSettled(t testing.TB, within time.Duration) {
	t.Helper()
	var last string
	if !waitFor(within, func() bool {
		var err error
		last, err = peripheralLink()
		return err == nil && (last == "" || strings.Contains(last, " state 1 "))
	}) {
		t.Logf("%s's link to %s not settled after %v: %s", vmtest.CentralAdapter, vmtest.PeripheralAddress, within, last)
	}
}

func mustAddr(s string) [6]byte {
	var a [6]byte
	var b [6]int
	if _, err := fmt.Sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]); err != nil {
		panic(err)
	}
	for i := range b {
		a[i] = byte(b[i]) // as written: unix.SockaddrL2 reverses it into bdaddr_t
	}
	return a
}

func devicePath(hci, addr string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/bluez/" + hci + "/dev_" + strings.ReplaceAll(addr, ":", "_"))
}

func deviceProp(bus *dbus.Conn, p dbus.ObjectPath, name string) (any, error) {
	v, err := bus.Object("org.bluez", p).GetProperty("org.bluez.Device1." + name)
	if err != nil {
		return nil, err
	}
	return v.Value(), nil
}

func removeDevice(bus *dbus.Conn, hci, addr string) {
	_ = bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+hci)).Call("org.bluez.Adapter1.RemoveDevice", 0, devicePath(hci, addr)).Err
}

// TestPairingJustWorks: a characteristic with encrypt-write refuses an
// unencrypted write with ATT 0x0F (Insufficient Encryption); a pairing the
// agent rejects (setup window closed) leaves the link unencrypted; one it
// accepts (Just Works, NoInputNoOutput) encrypts the link, as btmon shows,
// and the write goes through; removing the device leaves no bond.
func TestPairingJustWorks(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd", "btmon")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	btmon := startBtmon(t)
	bus := vmtest.SystemBus(t)
	removeDevice(bus, vmtest.PeripheralAdapter, vmtest.CentralAddress)
	removeDevice(bus, vmtest.CentralAdapter, vmtest.PeripheralAddress)
	for _, h := range []string{vmtest.PeripheralAdapter, vmtest.CentralAdapter} {
		if err := bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+h)).Call("org.freedesktop.DBus.Properties.Set", 0,
			"org.bluez.Adapter1", "Pairable", dbus.MakeVariant(true)).Err; err != nil {
			t.Fatalf("%s Pairable: %v", h, err)
		}
	}

	var mu sync.Mutex
	allow := false
	var asked []gatt.AuthRequest
	agent, err := gatt.RegisterAgent(ctx, vmtest.SystemBus(t), gatt.AgentConfig{
		Capability: gatt.NoInputNoOutput,
		Default:    true,
		Authorize: func(_ context.Context, r gatt.AuthRequest) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, r)
			if !allow {
				return errors.New("setup window closed")
			}
			return nil
		},
		Logger: debugLog(t, "agent"),
	})
	if err != nil {
		t.Fatalf("RegisterAgent: %v", err)
	}
	defer agent.Close(context.Background())

	writes := pairingServer(t, ctx, "/org/bluenet/pairing", gatt.FlagEncryptWrite)

	findSecret := func(c *att.Conn) uint16 {
		t.Helper()
		chars, err := c.Characteristics(ctx)
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		ch, ok := att.Find(chars, pairSecret[:])
		if !ok {
			t.Fatalf("no encrypt-write characteristic among %+v", chars)
		}
		return ch.ValueHandle
	}
	waitDown := func() {
		t.Helper()
		p := devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress)
		q := devicePath(vmtest.CentralAdapter, vmtest.PeripheralAddress)
		for i := 0; i < 100; i++ {
			v1, err1 := deviceProp(bus, p, "Connected")
			v2, err2 := deviceProp(bus, q, "Connected")
			if (err1 != nil || v1 == false) && (err2 != nil || v2 == false) {
				time.Sleep(time.Second) // and let advertising come back
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("link still up after 10 s")
	}

	// 1. Unpaired, unencrypted: 0x0F.
	c, err := dialRetry(ctx, t, 0)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	h := findSecret(c)
	err = c.Write(ctx, h, []byte("secret-1"))
	var ae *att.Error
	if !errors.As(err, &ae) || ae.Code != 0x0f {
		t.Fatalf("unencrypted write to encrypt-write: %v, want ATT error 0x0f", err)
	}
	t.Logf("unencrypted write refused: %v", err)
	c.Close()
	waitDown()

	// 2. Pairing while the agent refuses: no encryption, the write fails.
	// The kernel pairs in the background once connected; wait until the
	// agent has been asked before writing.
	start := time.Now()
	c, err = dialRetry(ctx, t, btSecurityMedium)
	if err == nil {
		for i := 0; i < 200; i++ {
			mu.Lock()
			n := len(asked)
			mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		werr := c.Write(ctx, findSecretOrZero(ctx, c), []byte("secret-2"))
		c.Close()
		if werr == nil {
			logEvidence(t, btmon())
			t.Fatalf("write succeeded although the agent refused pairing")
		}
		t.Logf("refused pairing: write failed: %v", werr)
	} else {
		t.Logf("refused pairing: connect failed after %.1fs: %v", time.Since(start).Seconds(), err)
	}
	waitDown()
	mu.Lock()
	refused := append([]gatt.AuthRequest(nil), asked...)
	asked = nil
	allow = true
	mu.Unlock()
	if len(refused) == 0 {
		t.Errorf("the agent was not asked while refusing")
	}
	select {
	case v := <-writes:
		t.Fatalf("the server got %q without pairing", v)
	default:
	}
	if v, _ := deviceProp(bus, devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress), "Paired"); v == true {
		logEvidence(t, btmon())
		t.Fatalf("paired although the agent refused")
	}

	// 3. Pairing accepted: encrypted, the write goes through.
	start = time.Now()
	c, err = dialRetry(ctx, t, btSecurityMedium)
	if err != nil {
		t.Fatalf("dial with security medium: %v\n%s", err, tail(btmon(), 80))
	}
	h = findSecret(c)
	if err := writeWhenPaired(ctx, c, h, []byte("secret-3")); err != nil {
		t.Fatalf("write after pairing: %v\n%s", err, tail(btmon(), 80))
	}
	if v := recv(t, writes, "the write"); string(v) != "secret-3" {
		t.Fatalf("server got %q", v)
	}
	t.Logf("paired (Just Works) and wrote in %.2fs", time.Since(start).Seconds())
	mu.Lock()
	t.Logf("agent was asked: %+v (refused earlier: %+v)", asked, refused)
	if len(asked) == 0 {
		t.Errorf("the agent was not asked before the pairing")
	}
	mu.Unlock()
	paired, _ := deviceProp(bus, devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress), "Paired")
	t.Logf("hci0's view of the central: Paired=%v", paired)
	log := btmonWait(btmon, "LE Start Encrypt", "Encryption Change", "Encryption: Enabled", "No MITM, SC")
	for _, want := range []string{"LE Start Encrypt", "Encryption Change", "Encryption: Enabled", "No MITM, SC"} {
		if !strings.Contains(log, want) {
			t.Errorf("btmon shows no %q", want)
		}
	}
	logEvidence(t, log)
	c.Close()
	waitDown()

	// 4. Remove the bond on both sides: nothing left.
	removeDevice(bus, vmtest.PeripheralAdapter, vmtest.CentralAddress)
	removeDevice(bus, vmtest.CentralAdapter, vmtest.PeripheralAddress)
	if _, err := deviceProp(bus, devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress), "Paired"); err == nil {
		t.Errorf("the central's device object is still on hci0 after RemoveDevice")
	}
	// bluetoothd keeps keys in /var/lib/bluetooth/ADAPTER/PEER/info; the
	// cache/ folder holds only names.
	for _, f := range []string{
		"/var/lib/bluetooth/" + vmtest.PeripheralAddress + "/" + vmtest.CentralAddress + "/info",
		"/var/lib/bluetooth/" + vmtest.CentralAddress + "/" + vmtest.PeripheralAddress + "/info",
	} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("bond left after RemoveDevice: %s", f)
		}
	}
}

// findSecretOrZero finds the characteristic's value handle, or returns 0
// (an invalid handle) when discovery fails on a link that is going away.
func findSecretOrZero(ctx context.Context, c *att.Conn) uint16 {
	chars, err := c.Characteristics(ctx)
	if err != nil {
		return 0
	}
	ch, _ := att.Find(chars, pairSecret[:])
	return ch.ValueHandle
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestPairingPasskey: passkey entry with LE Secure Connections. The
// device's agent is DisplayOnly and shows the 6-digit code (DisplayPasskey);
// the central (hci1, whose IO capability is set to KeyboardOnly with
// btmgmt, since both adapters share one bluetoothd and one default agent)
// types it (RequestPasskey, answered by the same agent with the code it
// was shown). A secure-write characteristic (SC + MITM) refuses the write
// before pairing and accepts it after.
func TestPairingPasskey(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluetoothd", "btmon")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	btmon := startBtmon(t)
	bus := vmtest.SystemBus(t)
	removeDevice(bus, vmtest.PeripheralAdapter, vmtest.CentralAddress)
	removeDevice(bus, vmtest.CentralAdapter, vmtest.PeripheralAddress)
	for _, h := range []string{vmtest.PeripheralAdapter, vmtest.CentralAdapter} {
		if err := bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+h)).Call("org.freedesktop.DBus.Properties.Set", 0,
			"org.bluez.Adapter1", "Pairable", dbus.MakeVariant(true)).Err; err != nil {
			t.Fatalf("%s Pairable: %v", h, err)
		}
	}
	shown := make(chan uint32, 4)
	var mu sync.Mutex
	var asked []gatt.AuthRequest
	agent, err := gatt.RegisterAgent(ctx, vmtest.SystemBus(t), gatt.AgentConfig{
		Capability: gatt.DisplayOnly,
		Default:    true,
		Authorize: func(_ context.Context, r gatt.AuthRequest) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, r)
			return nil
		},
		DisplayPasskey: func(r gatt.AuthRequest) {
			if r.Entered == 0 {
				shown <- r.Passkey
			}
		},
		RequestPasskey: func(ctx context.Context, r gatt.AuthRequest) (uint32, error) {
			select {
			case pk := <-shown:
				return pk, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		},
		Logger: debugLog(t, "agent"),
	})
	if err != nil {
		t.Fatalf("RegisterAgent: %v", err)
	}
	defer agent.Close(context.Background())
	// The central types: KeyboardOnly (2) on hci1 only.
	vmtest.Sh(t, `script -qc "btmgmt --index 1 io-cap 2" /dev/null`)

	writes := pairingServer(t, ctx, "/org/bluenet/pairing2", gatt.FlagSecureWrite)

	c, err := dialRetry(ctx, t, 0)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	h := findSecretOrZero(ctx, c)
	err = c.Write(ctx, h, []byte("pk-1"))
	var ae *att.Error
	if !errors.As(err, &ae) || ae.Code != 0x05 {
		t.Errorf("unpaired write to secure-write: %v, want ATT error 0x05 (Insufficient Authentication)", err)
	}
	t.Logf("unpaired write refused: %v", err)
	c.Close()
	waitLinkGone(t, 10*time.Second)

	start := time.Now()
	c, err = dialRetry(ctx, t, 4) // BT_SECURITY_FIPS: SC + MITM
	if err != nil {
		mu.Lock()
		t.Logf("agent was asked: %+v", asked)
		mu.Unlock()
		logEvidence(t, btmon())
		t.Fatalf("dial with security FIPS: %v", err)
	}
	defer c.Close()
	if err := writeWhenPaired(ctx, c, findSecretOrZero(ctx, c), []byte("pk-2")); err != nil {
		mu.Lock()
		t.Logf("agent was asked: %+v", asked)
		mu.Unlock()
		logEvidence(t, btmon())
		t.Fatalf("write after passkey pairing: %v", err)
	}
	if v := recv(t, writes, "the write"); string(v) != "pk-2" {
		t.Fatalf("server got %q", v)
	}
	t.Logf("paired with a passkey and wrote in %.2fs", time.Since(start).Seconds())
	mu.Lock()
	t.Logf("agent was asked: %+v", asked)
	kinds := map[gatt.AuthKind]bool{}
	for _, r := range asked {
		kinds[r.Kind] = true
	}
	mu.Unlock()
	if !kinds[gatt.AuthDisplay] || !kinds[gatt.AuthPasskey] {
		t.Errorf("agent calls %v, want a DisplayPasskey and a RequestPasskey", kinds)
	}
	// The write to the secure-write characteristic succeeding after the
	// unpaired one was refused (0x05) proves the link authenticated and
	// encrypted; btmon's record is evidence only (under load it has lost
	// the encryption events, as in TestDaemonPairingPasskey).
	log := btmonWait(btmon, "Encryption: Enabled", "MITM, SC")
	if !strings.Contains(log, "MITM, SC") {
		t.Errorf("btmon shows no pairing with \"MITM, SC\"")
	}
	t.Logf("btmon shows Encryption: Enabled %v", strings.Contains(log, "Encryption: Enabled"))
	logEvidence(t, log)
	c.Close()
	time.Sleep(time.Second)
	removeDevice(bus, vmtest.PeripheralAdapter, vmtest.CentralAddress)
	removeDevice(bus, vmtest.CentralAdapter, vmtest.PeripheralAddress)
	if _, err := deviceProp(bus, devicePath(vmtest.PeripheralAdapter, vmtest.CentralAddress), "Paired"); err == nil {
		t.Errorf("the central's device object is still on hci0 after RemoveDevice")
	}
}

// logEvidence logs btmon's lines about pairing and encryption, with the
// line that follows each (the value).
func logEvidence(t *testing.T, log string) {
	t.Helper()
	keys := []string{"Pairing Request", "Pairing Response", "Pairing Failed", "IO capability", "Authentication requirement",
		"Pairing Public Key", "Pairing Confirm", "Pairing DHKey Check", "LE Start Encrypt", "Encryption Change",
		"Encryption:", "Long Term Key", "Passkey", "User Confirmation", "Disconnect Complete", "Reason:"}
	for _, l := range strings.Split(log, "\n") {
		for _, k := range keys {
			if strings.Contains(l, k) {
				t.Logf("btmon: %s", strings.TrimSpace(l))
				break
			}
		}
	}
}

// pairingServer serves pairSvc on hci0 at path: pairPlain, readable by
// anyone, and pairSecret, writable with secret's flags (an encrypted or an
// authenticated link); what pairSecret is written comes on the channel.
func pairingServer(t *testing.T, ctx context.Context, path dbus.ObjectPath, secret gatt.Flags) <-chan []byte {
	t.Helper()
	writes := make(chan []byte, 8)
	vmtest.ForgetDevices(t)
	srv, err := gatt.Open(ctx, gatt.Config{
		Conn:    vmtest.SystemBus(t),
		Adapter: vmtest.PeripheralAdapter,
		Path:    path,
		Services: []gatt.Service{{UUID: pairSvc, Primary: true, Characteristics: []gatt.Characteristic{
			{UUID: pairPlain, Flags: gatt.FlagRead, Value: []byte("open")},
			{UUID: pairSecret, Flags: secret, OnWrite: func(_ *gatt.Request, v []byte) error {
				writes <- append([]byte(nil), v...)
				return nil
			}},
		}}},
		Advertisement: &gatt.Advertisement{ServiceUUIDs: []gatt.UUID{pairSvc}, LocalName: "pair-e2e"},
		OnError:       func(err error) { t.Logf("gatt: %v", err) },
		Logger:        debugLog(t, "gatt server"),
	})
	if err != nil {
		t.Fatalf("gatt.Open: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return writes
}

// writeWhenPaired writes value, retrying while the peer answers
// Insufficient Authentication or Encryption: the kernel pairs in the
// background while ATT already flows, and passkey entry takes 20 rounds
// (slow under TCG).
func writeWhenPaired(ctx context.Context, c *att.Conn, h uint16, value []byte) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.Write(ctx, h, value)
		var ae *att.Error
		if err == nil || !errors.As(err, &ae) || (ae.Code != 0x05 && ae.Code != 0x0f) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// btmonWait decodes btmon's record until it holds every string in want, or
// 10 s have passed (the monitor may lag a little behind the controllers).
func btmonWait(btmon func() string, want ...string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		log := btmon()
		all := true
		for _, w := range want {
			all = all && strings.Contains(log, w)
		}
		if all || time.Now().After(deadline) {
			return log
		}
		time.Sleep(500 * time.Millisecond)
	}
}
