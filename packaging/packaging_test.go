// Package packaging holds the tests of the Debian packaging: the systemd
// unit (systemd-analyze verify and security), the polkit rule, and the
// packages scripts/package builds (contents, versions, architectures,
// lintian).
package packaging

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bluenet-project/bluenet/doctor"
)

// maxExposure is the highest `systemd-analyze security` exposure score the
// unit may have (README: 1.6 with systemd 252).
const maxExposure = 2.0

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/test installs it): %v", tool, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// unitCopy writes the unit with ExecStart pointing at an executable that
// exists here (systemd-analyze checks it).
func unitCopy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("bluenet.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "bluenet")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "bluenet.service")
	s := strings.Replace(string(b), "ExecStart=/usr/bin/bluenet", "ExecStart="+exe, 1)
	if err := os.WriteFile(unit, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

func TestUnitVerify(t *testing.T) {
	need(t, "systemd-analyze")
	out := run(t, "systemd-analyze", "verify", "--man=no", unitCopy(t))
	if strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify complains:\n%s", out)
	}
}

// TestUnitSecurity records the exposure score and checks the settings that
// make the service unprivileged.
func TestUnitSecurity(t *testing.T) {
	need(t, "systemd-analyze")
	out := run(t, "systemd-analyze", "security", "--offline=yes", "--no-pager", unitCopy(t))
	m := regexp.MustCompile(`Overall exposure level for bluenet\.service: ([0-9.]+) (\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security: exposure %.1f %s", score, m[2])
	if score > maxExposure {
		t.Errorf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
	}
	b, _ := os.ReadFile("bluenet.service")
	unit := string(b)
	for _, want := range []string{"User=bluenet", "AmbientCapabilities=CAP_NET_ADMIN\n", "CapabilityBoundingSet=CAP_NET_ADMIN\n",
		"NoNewPrivileges=yes", "AF_BLUETOOTH", "Type=notify"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	for _, bad := range []string{"\nPrivateNetwork=", "\nPrivateUsers="} {
		if strings.Contains(unit, bad) {
			t.Errorf("unit sets %s, which breaks AF_BLUETOOTH or the capability", strings.TrimSpace(bad))
		}
	}
}

// TestUnitMemory: the unit keeps the Go runtime off transparent huge pages
// from the start (see the unit's comment).
func TestUnitMemory(t *testing.T) {
	b, err := os.ReadFile("bluenet.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nEnvironment=GODEBUG=disablethp=1\n") {
		t.Error("unit does not set Environment=GODEBUG=disablethp=1")
	}
}

// TestPolkitRule: the rule names user bluenet and exactly the actions that
// doctor checks.
func TestPolkitRule(t *testing.T) {
	b, err := os.ReadFile("bluenet.rules")
	if err != nil {
		t.Fatal(err)
	}
	rule := string(b)
	if !strings.Contains(rule, `subject.user !== "bluenet"`) {
		t.Errorf("the rule does not match on subject.user")
	}
	got := regexp.MustCompile(`action\.id === "([^"]+)"`).FindAllStringSubmatch(rule, -1)
	var ids []string
	for _, g := range got {
		ids = append(ids, g[1])
	}
	if strings.Join(ids, " ") != strings.Join(doctor.PolkitActions, " ") {
		t.Errorf("rule grants %q, doctor checks %q", ids, doctor.PolkitActions)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildOut  []byte
	buildErr  error
	// buildStamp is the version scripts/package stamped (taken just before
	// it ran).
	buildStamp string
)

// debs builds the four packages once per test binary.
func debs(t *testing.T) map[string]string {
	t.Helper()
	need(t, "dpkg-deb")
	buildOnce.Do(func() {
		buildStamp = stamp(t)
		buildDir, buildErr = os.MkdirTemp("", "bluenet-deb")
		if buildErr != nil {
			return
		}
		buildOut, buildErr = exec.Command("../scripts/package", "-o", buildDir).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("scripts/package: %v\n%s", buildErr, buildOut)
	}
	out := map[string]string{}
	for _, arch := range []string{"amd64", "arm64", "armhf", "riscv64"} {
		m, _ := filepath.Glob(filepath.Join(buildDir, "bluenet_*_"+arch+".deb"))
		if len(m) != 1 {
			t.Fatalf("scripts/package made %q for %s:\n%s", m, arch, buildOut)
		}
		out[arch] = m[0]
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// stamp is the version scripts/package stamps: git describe, or
// v0.0.0-N-gHASH in a repository without tags.
func stamp(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("git", "describe", "--tags", "--dirty").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	hash, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "v0.0.0" // not a git checkout
	}
	h := strings.TrimSpace(string(hash))
	n := strings.TrimSpace(run(t, "git", "rev-list", "--count", "HEAD"))
	dirty := ""
	if exec.Command("git", "diff", "--quiet", "HEAD").Run() != nil {
		dirty = "-dirty"
	}
	return "v0.0.0-" + n + "-g" + h + dirty
}

// extract unpacks a package's files into a temporary folder.
func extract(t *testing.T, deb string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, dir)
	return dir
}

func TestPackages(t *testing.T) {
	d := debs(t)
	describe := buildStamp
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM, "riscv64": elf.EM_RISCV}
	for arch, deb := range d {
		t.Run(arch, func(t *testing.T) {
			if v := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Architecture")); v != arch {
				t.Errorf("Architecture = %q", v)
			}
			dep := run(t, "dpkg-deb", "-f", deb, "Depends")
			for _, want := range []string{"bluez (>= 5.66)", "network-manager (>= 1.42)", "polkitd"} {
				if !strings.Contains(dep, want) {
					t.Errorf("Depends %q lacks %q", dep, want)
				}
			}
			ver := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version"))
			if !strings.HasSuffix(filepath.Base(deb), "_"+ver+"_"+arch+".deb") || !regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`).MatchString(ver) {
				t.Errorf("version %q, file %s", ver, filepath.Base(deb))
			}
			root := extract(t, deb)
			bin := filepath.Join(root, "usr/bin/bluenet")
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machines[arch] {
				t.Errorf("ELF machine %v, want %v", f.Machine, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("dynamically linked (PT_INTERP)")
				}
			}
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			if settings["CGO_ENABLED"] != "0" {
				t.Errorf("CGO_ENABLED=%q", settings["CGO_ENABLED"])
			}
			// -trimpath keeps -ldflags out of the build information: look
			// for the stamped version in the binary itself.
			if b, err := os.ReadFile(bin); err != nil || !bytes.Contains(b, []byte(describe)) {
				t.Errorf("the binary does not hold the version %s (%v)", describe, err)
			}
			for _, dep := range bi.Deps {
				if strings.Contains(dep.Path, "md2man") || strings.Contains(dep.Path, "nfpm") {
					t.Errorf("the packaged binary links %s", dep.Path)
				}
			}
			if arch == "armhf" {
				if settings["GOARM"] != "6" {
					t.Errorf("armhf GOARM=%q, want 6", settings["GOARM"])
				}
			}
		})
	}
}

// TestArmhfIsARMv6 checks what `readelf -A` says of the armhf binary.
func TestArmhfIsARMv6(t *testing.T) {
	need(t, "readelf")
	root := extract(t, debs(t)["armhf"])
	out := run(t, "readelf", "-A", filepath.Join(root, "usr/bin/bluenet"))
	if !strings.Contains(out, "Tag_CPU_arch: v6\n") {
		t.Errorf("readelf -A:\n%s\nwant Tag_CPU_arch: v6", out)
	}
}

// TestAmd64Contents checks the files, the conffile and the version the
// binary prints.
func TestAmd64Contents(t *testing.T) {
	deb := debs(t)["amd64"]
	list := run(t, "dpkg-deb", "-c", deb)
	for _, f := range []string{"./usr/bin/bluenet", "./lib/systemd/system/bluenet.service", "./etc/bluenet/bluenet.conf",
		"./usr/lib/sysusers.d/bluenet.conf", "." + doctor.PolkitRule, "./usr/share/man/man1/bluenet.1.gz",
		"./usr/share/man/man1/bluenet-doctor.1.gz", "./usr/share/bash-completion/completions/bluenet",
		"./usr/share/zsh/vendor-completions/_bluenet", "./usr/share/fish/vendor_completions.d/bluenet.fish",
		"./usr/share/doc/bluenet/copyright", "./usr/share/doc/bluenet/changelog.gz"} {
		if !regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(f) + `$`).MatchString(list) {
			t.Errorf("package lacks %s", f)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if !strings.Contains(l, " root/root ") {
			t.Errorf("not owned by root: %s", l)
		}
	}
	ctl := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/bluenet/bluenet.conf\n" {
		t.Errorf("conffiles = %q", b)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil || !bytes.Contains(b, []byte("deb-systemd-")) {
			t.Errorf("%s: %v, or does not use deb-systemd-helper/-invoke", s, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ctl, "postrm")); !bytes.Contains(b, []byte("rm -rf /etc/bluenet /var/lib/bluenet")) ||
		bytes.Contains(b, []byte("NetworkManager")) && bytes.Contains(b, []byte("system-connections")) {
		t.Errorf("postrm does not purge /etc/bluenet and /var/lib/bluenet only")
	}
	root := extract(t, deb)
	if out, want := run(t, filepath.Join(root, "usr/bin/bluenet"), "version"), "bluenet "+buildStamp+"\n"; out != want {
		t.Errorf("bluenet version = %q, want %q", out, want)
	}
	for _, c := range []string{"usr/share/bash-completion/completions/bluenet", "usr/share/fish/vendor_completions.d/bluenet.fish"} {
		b, _ := os.ReadFile(filepath.Join(root, c))
		if !bytes.Contains(b, []byte("doctor")) && !bytes.Contains(b, []byte("__complete")) {
			t.Errorf("%s does not look like a completion script", c)
		}
	}
}

// TestLintian: no errors on the amd64 package; warnings are logged.
func TestLintian(t *testing.T) {
	need(t, "lintian")
	deb := debs(t)["amd64"]
	out, _ := exec.Command("lintian", "--tag-display-limit", "0", "--show-overrides", deb).CombinedOutput()
	t.Logf("lintian:\n%s", out)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian error: %s", l)
		}
	}
}
