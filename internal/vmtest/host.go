// Package vmtest runs Go end-to-end tests inside a QEMU virtual machine that
// has real Bluetooth LE controllers (btvirt), real Wi-Fi radios
// (mac80211_hwsim), bluetoothd, NetworkManager and hostapd.
//
// A test package opts in with a TestMain that calls [Main]. On the host, Main
// builds the module's commands, boots one VM with test/vm/run-vm.sh and runs
// the same test binary inside it with the same -test.* flags; inside the VM
// it runs the tests. The guest helpers ([SystemBus], [Bin], [Sh], [StartAP],
// [DumpLogsOnFailure]) only work inside the VM.
//
// When the VM cannot be booted (QEMU or the kernel missing), Main fails the
// package with a message saying how to install them: asking for the VM suite
// and getting no VM is an error, not a skip.
package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const guestEnv = "BLUENET_VM_GUEST"

// InGuest reports whether the code runs inside the test VM.
func InGuest() bool { return os.Getenv(guestEnv) == "1" }

// Main runs the tests of a package: inside the VM directly, on the host by
// booting a VM that runs them. It does not return.
func Main(m *testing.M) {
	if InGuest() {
		os.Exit(m.Run())
	}
	os.Exit(runHost())
}

// kernelDir is where test/vm/setup-host.sh unpacks the guest kernel.
func kernelDir() string {
	if d := os.Getenv("KDIR"); d != "" {
		return d
	}
	return "/var/cache/bluenet-vm"
}

func runHost() int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "vmtest: FAIL: "+format+"\n", a...)
		return 1
	}
	root, err := ModuleRoot()
	if err != nil {
		return fail("%v", err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return fail("qemu-system-x86_64 is not installed; run: sudo %s", filepath.Join(root, "test/vm/setup-host.sh"))
	}
	if m, _ := filepath.Glob(filepath.Join(kernelDir(), "boot", "vmlinuz-*")); len(m) == 0 {
		return fail("no guest kernel in %s; run: sudo %s", kernelDir(), filepath.Join(root, "test/vm/setup-host.sh"))
	}
	share, err := os.MkdirTemp("", "bluenet-vm-")
	if err != nil {
		return fail("%v", err)
	}
	bin := filepath.Join(share, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fail("%v", err)
	}
	start := time.Now()
	if err := build(root, bin); err != nil {
		return fail("%v", err)
	}
	if err := copyFile(os.Args[0], filepath.Join(bin, "e2e.test")); err != nil {
		return fail("copy test binary: %v", err)
	}
	fmt.Printf("vmtest: built binaries in %.1fs; booting VM (logs: %s)\n", time.Since(start).Seconds(), share)

	args := append([]string{filepath.Join(root, "test/vm/run-vm.sh"),
		filepath.Join(root, "test/vm/guest-gotest.sh"), "/vmshare/bin/e2e.test"}, guestArgs(os.Args[1:])...)
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), "VM_SHARE="+share, "KDIR="+kernelDir(),
		"VM_TIMEOUT="+strconv.Itoa(vmTimeout(os.Args[1:])))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail("%v", err)
	}
	if err := cmd.Start(); err != nil {
		return fail("start VM: %v", err)
	}
	copyLines(os.Stdout, out)
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if err != nil || code != 0 {
		fmt.Printf("vmtest: VM exited with status %d after %.1fs; guest logs kept in %s/logs\n",
			code, time.Since(start).Seconds(), share)
		if code == 0 {
			code = 1
		}
		return code
	}
	fmt.Printf("vmtest: VM passed in %.1fs\n", time.Since(start).Seconds())
	_ = os.RemoveAll(share)
	return 0
}

// ModuleRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// build compiles every command and example of the module into dir, statically.
func build(root, dir string) error {
	pkgs := []string{"./cmd/..."}
	if _, err := os.Stat(filepath.Join(root, "examples")); err == nil {
		pkgs = append(pkgs, "./examples/...")
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// guestArgs keeps the -test.* flags that mean the same inside the VM and
// drops those that name host files.
func guestArgs(args []string) []string {
	drop := []string{"testlogfile", "gocoverdir", "coverprofile", "cpuprofile", "memprofile",
		"blockprofile", "mutexprofile", "trace", "outputdir"}
	var keep []string
next:
	for _, a := range args {
		for _, d := range drop {
			if strings.HasPrefix(a, "-test."+d+"=") {
				continue next
			}
		}
		keep = append(keep, a)
	}
	return keep
}

// vmTimeout gives the VM the test binary's -test.timeout plus time to boot,
// or 20 minutes.
func vmTimeout(args []string) int {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-test.timeout="); ok {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				return int(d.Seconds()) + 120
			}
		}
	}
	return 1200
}

// copyLines copies the guest console to w, turning CRLF into LF.
func copyLines(w io.Writer, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		_, _ = w.Write(append(line, '\n'))
	}
	_, _ = io.Copy(w, r)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
