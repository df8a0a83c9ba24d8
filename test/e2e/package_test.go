//go:build vm

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/doctor"
	"github.com/bluenet-project/bluenet/internal/logbuf"
	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// debDir is where the host built the amd64 package (scripts/package) for
// TestPackage; the guest sees the host's files at the same paths (outside
// /tmp). It holds the .deb, or build.log when the build failed.
var debDir = flag.String("bluenet.deb", "", "folder with the bluenet .deb built on the host (set by TestMain)")

// buildPackage runs on the host before the VM boots: when the tests asked
// for could include TestPackage, it builds the amd64 .deb and passes its
// folder on to the guest's test binary.
func buildPackage() {
	pattern := ""
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-test.run="); ok {
			pattern = v
		}
	}
	if pattern != "" {
		top, _, _ := strings.Cut(pattern, "/")
		if re, err := regexp.Compile(top); err == nil && !re.MatchString("TestPackage") {
			return
		}
	}
	root, err := vmtest.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: package:", err)
		return
	}
	kdir := os.Getenv("KDIR")
	if kdir == "" {
		kdir = "/var/cache/bluenet-vm"
	}
	dir := filepath.Join(kdir, "e2e-deb")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: package:", err)
		return
	}
	start := time.Now()
	cmd := exec.Command(filepath.Join(root, "scripts/package"), "-o", dir, "amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.WriteFile(filepath.Join(dir, "build.log"), append(out, []byte(err.Error())...), 0o644)
	}
	fmt.Printf("e2e: scripts/package amd64 in %.1fs (%v)\n", time.Since(start).Seconds(), err)
	os.Args = append(os.Args, "-bluenet.deb="+dir)
}

// asBluenet runs a command as the unit would run the daemon: user and group
// bluenet with their groups, CAP_NET_ADMIN as the only (ambient) capability,
// no new privileges.
func asBluenet(args ...string) []string {
	return append([]string{"setpriv", "--reuid=bluenet", "--regid=bluenet", "--init-groups",
		"--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin",
		"--no-new-privs", "--"}, args...)
}

// runAs runs argv and returns stdout, stderr and the exit code.
func runAs(t *testing.T, argv ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%q: %v", argv, err)
	}
	t.Logf("%s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(argv, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// TestPackage installs the built .deb with dpkg -i, runs the daemon as the
// unit would (user bluenet, CAP_NET_ADMIN only) with polkitd running and
// NetworkManager asking it, provisions it with `bluenet provision` from
// hci1, and checks what `bluenet doctor` says before and after the polkit
// rule is removed; then an upgrade keeps the edited conffile and purge
// removes /etc/bluenet but not the Wi-Fi profile.
func TestPackage(t *testing.T) {
	vmtest.DumpLogsOnFailure(t, "bluenet-pkg", "bluetoothd", "NetworkManager", "polkitd", "hostapd-wlan1")
	vmtest.UnstickCentral(t)
	if *debDir == "" {
		t.Fatal("no -bluenet.deb folder: TestMain builds the package on the host")
	}
	debs, _ := filepath.Glob(filepath.Join(*debDir, "bluenet_*_amd64.deb"))
	if len(debs) != 1 {
		log, _ := os.ReadFile(filepath.Join(*debDir, "build.log"))
		t.Fatalf("no amd64 .deb in %s (scripts/package failed?):\n%s", *debDir, log)
	}
	deb := debs[0]

	// Install.
	// --no-triggers: man-db's trigger (interest-noawait, so bluenet is
	// installed without it) would rebuild the whole manual index, which
	// takes many minutes in this VM.
	out := vmtest.Sh(t, "timeout 240 dpkg -i --no-triggers "+deb+" 2>&1 && dpkg-query -W -f='${Status} ${Version}\\n' bluenet && id bluenet")
	if !strings.Contains(out, "install ok installed") || !strings.Contains(out, "uid=") {
		t.Fatalf("dpkg -i:\n%s", out)
	}
	t.Cleanup(func() { _, _ = vmtest.ShErr("timeout 240 dpkg --purge --no-triggers bluenet >/dev/null 2>&1") })
	for _, f := range []string{"/usr/bin/bluenet", "/lib/systemd/system/bluenet.service", "/etc/bluenet/bluenet.conf",
		"/usr/lib/sysusers.d/bluenet.conf", doctor.PolkitRule, "/usr/share/man/man1/bluenet.1.gz",
		"/usr/share/bash-completion/completions/bluenet", "/etc/systemd/system/multi-user.target.wants/bluenet.service"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	if groups := vmtest.Sh(t, "id -nG bluenet"); !strings.Contains(groups, "bluetooth") {
		t.Errorf("user bluenet is not in group bluetooth: %s", groups)
	}

	// polkitd, and NetworkManager asking it (the bed runs it with
	// auth-polkit=false).
	vmtest.Sh(t, `setpriv --reuid=polkitd --regid=polkitd --init-groups /usr/lib/polkit-1/polkitd --no-debug >>$L/polkitd.log 2>&1 &
		wait_for 30 "polkitd on the bus" busctl status org.freedesktop.PolicyKit1
		sed 's/^auth-polkit=false/auth-polkit=true/' /run/nm.conf > /run/nm-polkit.conf
		grep -q auth-polkit=true /run/nm-polkit.conf
		pkill -x NetworkManager; wait_for 20 "NetworkManager gone" sh -c '! pgrep -x NetworkManager'
		NetworkManager --config=/run/nm-polkit.conf --debug >>$L/NetworkManager.log 2>&1 &
		wait_for 60 "NM (polkit) manages wlan0" sh -c 'nmcli -t -f DEVICE,STATE dev | grep -q "^wlan0:disconnected"'`)
	t.Cleanup(func() {
		_, _ = vmtest.ShErr(`pkill -x NetworkManager; wait_for 20 "NetworkManager gone" sh -c '! pgrep -x NetworkManager'
			NetworkManager --config=/run/nm.conf --debug >>$L/NetworkManager.log 2>&1 &
			wait_for 60 "NM manages wlan0" sh -c 'nmcli -t -f DEVICE,STATE dev | grep -q "^wlan0:disconnected"'
			pkill -x polkitd`)
	})
	vmtest.ResetWiFi(t)
	vmtest.ForgetDevices(t)
	const psk = "pkg-pass-4242"
	vmtest.StartAP(t, vmtest.AP{Iface: "wlan1", SSID: "PkgNet", PSK: psk})
	vmtest.Sh(t, "nm_wait_ssid PkgNet 90")

	// The daemon as the unit runs it.
	vmtest.Sh(t, "install -d -o bluenet -g bluenet /run/bluenet")
	logPath := filepath.Join(vmtest.LogDir(), "bluenet-pkg.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	argv := asBluenet("/usr/bin/bluenet", "-w", "wlan0", "-b", vmtest.PeripheralAdapter, "start", "-vv",
		"-a", "Bluenet Pkg", "-h", "pkg-%IP", "--status-file", "/run/bluenet/status.json")
	d := &daemonProc{cmd: exec.Command(argv[0], argv[1:]...), log: logPath, statusFile: "/run/bluenet/status.json", done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); logf.Close(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	if !waitFor(60*time.Second, func() bool { s, ok := d.status(); return ok && s.Advertising }) {
		t.Fatalf("daemon (user bluenet) not advertising after 60s")
	}
	if u := vmtest.Sh(t, fmt.Sprintf("ps -o user= -p %d", d.cmd.Process.Pid)); strings.TrimSpace(u) != "bluenet" {
		t.Fatalf("daemon runs as %q, want bluenet", u)
	}
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "BR/EDR") {
		t.Logf("daemon log on BR/EDR: %s", grepLines(string(b), "BR/EDR"))
	}

	// doctor as the service user: everything it needs is granted.
	stdout, _, code := runAs(t, asBluenet("/usr/bin/bluenet", "-w", "wlan0", "-b", vmtest.PeripheralAdapter, "doctor")...)
	if code != 0 || !strings.Contains(stdout, "✓ polkit rule") {
		t.Errorf("doctor as bluenet with the rule: exit %d, want 0 and the polkit rule passed", code)
	}

	// Provision from hci1.
	start := time.Now()
	out, errOut, code := runBluenet(t, psk+"\n", "-b", vmtest.CentralAdapter, "provision", "Bluenet Pkg", "--ssid", "PkgNet")
	if code != 0 || !strings.Contains(out, `connected "PkgNet"`) || !strings.Contains(out, "host name: pkg-192.168.71.") {
		t.Fatalf("provision of the daemon running as bluenet: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("provision as bluenet: %.2fs", time.Since(start).Seconds())
	if s, _ := d.status(); s.State != "connected" || s.SSID != "PkgNet" {
		t.Errorf("daemon status after provision: %+v", s)
	}
	if strings.Contains(out+errOut, psk) {
		t.Errorf("provision printed the password")
	}

	// Remove the rule: doctor says exactly that, as the user and as root.
	vmtest.Sh(t, "rm "+doctor.PolkitRule+"; sleep 2") // polkitd reloads its rules on change
	stdout, _, code = runAs(t, asBluenet("/usr/bin/bluenet", "-w", "wlan0", "-b", vmtest.PeripheralAdapter, "doctor")...)
	if code != 1 || !strings.Contains(stdout, "✗ polkit rule") || !strings.Contains(stdout, doctor.PolkitRule+" is missing or wrong") ||
		!strings.Contains(stdout, "org.freedesktop.NetworkManager.network-control") || !strings.Contains(stdout, "--reinstall bluenet") {
		t.Errorf("doctor as bluenet without the rule: exit %d, want 1 naming the missing rule", code)
	}
	r, code := runDoctor(t)
	wantCheck(t, r, "polkit", doctor.Fail, doctor.PolkitRule+" is missing")
	if code != 1 {
		t.Errorf("doctor as root without the rule: exit %d, want 1", code)
	}
	// And NetworkManager itself refuses user bluenet now: the rule, and
	// nothing else, is what granted it.
	if _, _, code := runAs(t, asBluenet("nmcli", "dev", "wifi", "rescan")...); code == 0 {
		t.Errorf("NetworkManager let user bluenet scan without the polkit rule")
	}

	// Upgrade (the same package again): the edited conffile stays, the rule
	// comes back.
	vmtest.Sh(t, "echo BLUENET_ALIAS=Edited >> /etc/bluenet/bluenet.conf && timeout 240 dpkg -i --no-triggers "+deb+" </dev/null 2>&1")
	if b, _ := os.ReadFile("/etc/bluenet/bluenet.conf"); !strings.Contains(string(b), "BLUENET_ALIAS=Edited") {
		t.Errorf("reinstall replaced the edited conffile")
	}
	if _, err := os.Stat(doctor.PolkitRule); err != nil {
		t.Errorf("reinstall did not restore the rule: %v", err)
	}

	// Purge: configuration gone, the user's Wi-Fi profile kept.
	d.stop(t)
	out = vmtest.Sh(t, "timeout 240 dpkg --purge --no-triggers bluenet 2>&1; ls -d /etc/bluenet 2>&1; nmcli -t -f NAME,TYPE con show")
	if !strings.Contains(out, "No such file") {
		t.Errorf("purge left /etc/bluenet:\n%s", out)
	}
	if !strings.Contains(out, "802-11-wireless") {
		t.Errorf("purge removed the Wi-Fi profile:\n%s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
