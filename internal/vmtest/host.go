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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/logbuf"
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

// vmsEnv names the environment variable that spreads a run's tests over
// several VMs booted side by side (default 1). Most of a test's time is
// spent waiting for the radios and daemons, so on a 2-core machine two VMs
// take about half the wall time of one.
const vmsEnv = "BLUENET_VMS"

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
	start := time.Now()
	args := guestArgs(os.Args[1:])
	shards := [][]string{args}
	if n, _ := strconv.Atoi(os.Getenv(vmsEnv)); n > 1 {
		names, err := listTests(args)
		if err != nil {
			return fail("%v", err)
		}
		shards = shardArgs(args, names, n)
	}
	shares := make([]string, len(shards))
	for i := range shards {
		if shares[i], err = os.MkdirTemp("", "bluenet-vm-"); err != nil {
			return fail("%v", err)
		}
		bin := filepath.Join(shares[i], "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			return fail("%v", err)
		}
		if i == 0 {
			err = build(root, bin)
		} else {
			err = copyDir(filepath.Join(shares[0], "bin"), bin)
		}
		if err != nil {
			return fail("%v", err)
		}
		if i == 0 {
			if err := copyFile(os.Args[0], filepath.Join(bin, "e2e.test")); err != nil {
				return fail("copy test binary: %v", err)
			}
		}
	}
	fmt.Printf("vmtest: built binaries in %.1fs; booting %d VM(s) (logs: %s)\n",
		time.Since(start).Seconds(), len(shards), strings.Join(shares, " "))

	// The first VM's console streams; the others' are printed whole when
	// they end, so that no two tests' lines interleave.
	codes := make([]int, len(shards))
	outs := make([]logbuf.Buffer, len(shards)) // console and run-vm.sh messages come on two goroutines
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w io.Writer = os.Stdout
			if i > 0 {
				w = &outs[i]
			}
			codes[i] = runVM(root, shares[i], shards[i], w)
		}()
	}
	wg.Wait()
	code := 0
	for i := range shards {
		if i > 0 {
			fmt.Printf("vmtest: --- console of VM %d of %d (%s):\n", i+1, len(shards), runFlag(shards[i]))
			_, _ = io.WriteString(os.Stdout, outs[i].String())
		}
		if codes[i] != 0 {
			fmt.Printf("vmtest: VM %d of %d exited with status %d; guest logs kept in %s/logs\n",
				i+1, len(shards), codes[i], shares[i])
			if code == 0 {
				code = codes[i]
			}
			continue
		}
		_ = os.RemoveAll(shares[i])
	}
	if code == 0 {
		fmt.Printf("vmtest: VM(s) passed in %.1fs\n", time.Since(start).Seconds())
	} else {
		fmt.Printf("vmtest: failed after %.1fs\n", time.Since(start).Seconds())
	}
	return code
}

// runVM boots one VM that runs the test binary in share with args, copies
// its console to w and returns the guest's exit status (1 if it could not
// run).
func runVM(root, share string, args []string, w io.Writer) int {
	start := time.Now()
	cmdArgs := append([]string{filepath.Join(root, "test/vm/run-vm.sh"),
		filepath.Join(root, "test/vm/guest-gotest.sh"), "/vmshare/bin/e2e.test"}, args...)
	cmd := exec.Command("bash", cmdArgs...)
	cmd.Env = append(os.Environ(), "VM_SHARE="+share, "KDIR="+kernelDir(),
		"VM_TIMEOUT="+strconv.Itoa(vmTimeout(args)))
	cmd.Stderr = w
	if w == os.Stdout {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(w, "vmtest: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(w, "vmtest: start VM: %v\n", err)
		return 1
	}
	copyLines(w, out)
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = 1
	}
	fmt.Fprintf(w, "vmtest: VM exited with status %d after %.1fs\n", code, time.Since(start).Seconds())
	return code
}

// listTests asks the test binary itself (in guest mode, which only lists)
// for the top-level tests that args select.
func listTests(args []string) ([]string, error) {
	run := "."
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-test.run="); ok {
			run = v
		}
	}
	cmd := exec.Command(os.Args[0], "-test.list="+run)
	cmd.Env = append(os.Environ(), guestEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list tests: %v", err)
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	return names, nil
}

// shardArgs spreads the tests over n VMs, in turn, keeping their order
// within each VM. It keeps one VM when args run benchmarks (they compare
// figures measured in one VM), name subtests, or select fewer than two
// tests.
func shardArgs(args, names []string, n int) [][]string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-test.bench="); ok && v != "" {
			return [][]string{args}
		}
		if v, ok := strings.CutPrefix(a, "-test.run="); ok && strings.Contains(v, "/") {
			return [][]string{args}
		}
	}
	n = min(n, len(names))
	if n < 2 {
		return [][]string{args}
	}
	groups := make([][]string, n)
	for i, name := range names {
		groups[i%n] = append(groups[i%n], regexp.QuoteMeta(name))
	}
	var rest []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-test.run=") {
			rest = append(rest, a)
		}
	}
	shards := make([][]string, n)
	for i, g := range groups {
		shards[i] = append(slices.Clone(rest), "-test.run=^("+strings.Join(g, "|")+")$")
	}
	return shards
}

// runFlag returns the -test.run flag among args, for messages.
func runFlag(args []string) string {
	for _, a := range args {
		if strings.HasPrefix(a, "-test.run=") {
			return a
		}
	}
	return "all tests"
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

// copyDir copies the regular files of src into dst.
func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
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
