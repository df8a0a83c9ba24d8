// Command bench measures Bluenet: it builds the daemon stripped for four
// architectures (binary size), boots the test VM once to run the
// benchmarks of test/e2e (BenchmarkBluenet* and the gatt library's
// BenchmarkGATT*), prints a table of medians and spread, and writes every
// sample as JSON for comparison between commits.
//
//	go run ./test/bench [-o bench.json] [-base old.json] [-trials 5] [-idle 1m] [-session 10m]
//
// Run it from the repository (./scripts/bench installs the VM's packages
// first). The VM needs QEMU and the kernel that test/vm/setup-host.sh
// installs.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/bluenet-project/bluenet/internal/vmtest"
)

// Metric is one measurement with its samples and statistics.
type Metric struct {
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	N        int       `json:"n"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	P90      float64   `json:"p90"`
	P99      float64   `json:"p99"`
	Baseline string    `json:"baseline,omitempty"` // key of the metric it is compared with
	Ratio    float64   `json:"ratio,omitempty"`    // Median / baseline's Median
	Note     string    `json:"note,omitempty"`
	Samples  []float64 `json:"samples"`
}

// Report is the JSON document.
type Report struct {
	Schema   int               `json:"schema"`
	Date     time.Time         `json:"date"`
	Commit   string            `json:"commit"`
	Seconds  float64           `json:"seconds"`
	Machine  map[string]string `json:"machine"`
	Metrics  []Metric          `json:"metrics"`
	Command  string            `json:"command"`
	Failures []string          `json:"failures,omitempty"`
}

func main() {
	out := flag.String("o", "bench.json", "write the report as JSON to this file")
	base := flag.String("base", "", "an earlier report (JSON) to compare medians with")
	trials := flag.Int("trials", 5, "trials per measurement in the VM")
	idle := flag.Duration("idle", time.Minute, "idle window for CPU, wake-ups and memory")
	session := flag.Duration("session", 10*time.Minute, "length of the phone session that samples memory")
	reads := flag.Int("reads", 200, "GATT reads per characteristic")
	benchRe := flag.String("bench", ".", "which benchmarks of test/e2e to run (go test -bench)")
	sizes := flag.Bool("sizes", true, "measure the binary sizes")
	dir := flag.String("C", "", "the repository (default: the one holding the working directory)")
	flag.Parse()
	root, err := moduleRoot(*dir)
	if err == nil {
		err = run(root, *out, *base, *trials, *reads, *idle, *session, *benchRe, *sizes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(root, out, basePath string, trials, reads int, idle, session time.Duration, benchRe string, withSizes bool) error {
	start := time.Now()
	var base *Report
	if basePath != "" {
		b, err := os.ReadFile(basePath)
		if err != nil {
			return err
		}
		base = &Report{}
		if err := json.Unmarshal(b, base); err != nil {
			return fmt.Errorf("%s: %w", basePath, err)
		}
	}
	rep := &Report{Schema: 1, Date: start.UTC().Round(time.Second), Commit: commit(root), Machine: machine()}

	// The cross builds for the sizes run at the lowest CPU priority while
	// the VM runs (a cold cache takes minutes per architecture on a small
	// machine); they only get the CPU time the VM leaves idle.
	type sizeResult struct {
		ms  []Metric
		err error
	}
	sizesDone := make(chan sizeResult, 1)
	if withSizes {
		go func() {
			ms, err := binarySizes(root)
			sizesDone <- sizeResult{ms, err}
		}()
	} else {
		close(sizesDone)
	}

	args := []string{"test", "-tags", "vm", "-count=1", "-run", "^$", "-bench", benchRe, "-benchtime", "1x",
		"-timeout", (20*time.Minute + session).String(), "./test/e2e", "-args",
		"-bluenet.trials=" + strconv.Itoa(trials), "-bluenet.reads=" + strconv.Itoa(reads), "-bluenet.idle=" + idle.String(), "-bluenet.session=" + session.String()}
	rep.Command = "go " + strings.Join(args, " ")
	fmt.Println("==", rep.Command)
	metrics, guest, runErr := runVM(root, args)
	if r, ok := <-sizesDone; ok {
		if r.err != nil {
			return r.err
		}
		fmt.Println("== binary size of ./cmd/bluenet (CGO_ENABLED=0, -trimpath -ldflags '-s -w'), built on the host")
		for _, m := range r.ms {
			fmt.Printf("   %-40s %s\n", m.Name, m.Note)
		}
		rep.Metrics = append(rep.Metrics, r.ms...)
	}
	rep.Metrics = append(rep.Metrics, metrics...)
	for k, v := range guest {
		rep.Machine[k] = v
	}
	rep.Seconds = math.Round(time.Since(start).Seconds())
	finish(rep)
	if runErr != nil {
		rep.Failures = append(rep.Failures, runErr.Error())
	}
	fmt.Println()
	printTable(os.Stdout, rep, base)
	if runErr != nil {
		return fmt.Errorf("the VM run failed (%v); report not written", runErr)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nbench: wrote %s in %.0fs\n", out, rep.Seconds)
	return nil
}

// binarySizes builds ./cmd/bluenet for each target and returns its size.
func binarySizes(root string) ([]Metric, error) {
	dir, err := os.MkdirTemp("", "bluenet-size-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	targets := []struct{ name, arch, arm string }{
		{"amd64", "amd64", ""}, {"arm64", "arm64", ""}, {"armv7", "arm", "7"}, {"riscv64", "riscv64", ""},
	}
	var ms []Metric
	for _, t := range targets {
		bin := filepath.Join(dir, "bluenet-"+t.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/bluenet")
		if p, err := exec.LookPath("chrt"); err == nil { // SCHED_IDLE: only CPU time nobody else wants
			cmd = exec.Command(p, append([]string{"--idle", "0", "nice", "-n", "19"}, cmd.Args...)...)
		}
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.arch, "GOARM="+t.arm)
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build for %s: %v\n%s", t.name, err, o)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{Key: "size_" + t.name, Name: "bluenet binary, linux/" + t.name + " stripped",
			Unit: "MiB", Samples: []float64{math.Round(float64(fi.Size())/(1<<20)*100) / 100},
			Note: strconv.FormatInt(fi.Size(), 10) + " bytes"})
	}
	return ms, nil
}

// runVM runs go test with args, echoing its output, and collects the BENCH
// lines, the GATT library's benchmark metrics and facts about the guest.
func runVM(root string, args []string) ([]Metric, map[string]string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	var ms []Metric
	guest := map[string]string{}
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "BENCH "); ok {
			var m Metric
			if err := json.Unmarshal([]byte(rest), &m); err != nil {
				fmt.Fprintf(os.Stderr, "bench: bad BENCH line: %v\n", err)
				continue
			}
			ms = append(ms, m)
			fmt.Printf("BENCH %s: %d samples\n", m.Key, len(m.Samples))
			continue
		}
		fmt.Println(line)
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			guest["guest_cpu"] = v
		}
		ms = append(ms, goBenchLine(line)...)
	}
	_, _ = io.Copy(io.Discard, pipe)
	err = cmd.Wait()
	return ms, guest, err
}

// goBenchLine turns the metrics of a standard benchmark line of the gatt
// library's benchmarks (BenchmarkGATT*) into metrics with one sample.
func goBenchLine(line string) []Metric {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkGATT") {
		return nil
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return nil
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		name = name[:i]
	}
	var ms []Metric
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		unit := f[i+1]
		if err != nil || unit == "ns/op" || strings.HasSuffix(unit, "/op") {
			continue
		}
		m := Metric{Key: strings.ToLower(name) + "_" + strings.NewReplacer("-", "_", "/", "_per_").Replace(unit),
			Name: "gatt library (" + name + "): " + unit, Unit: unit, Samples: []float64{v}}
		switch {
		case strings.HasSuffix(unit, "-ms"):
			m.Unit = "ms"
			m.Name = "gatt library server, " + name + " " + strings.TrimSuffix(unit, "-ms")
		}
		ms = append(ms, m)
	}
	return ms
}

// finish computes the statistics and the ratios to the baselines.
func finish(rep *Report) {
	byKey := map[string]*Metric{}
	for i := range rep.Metrics {
		m := &rep.Metrics[i]
		s := slices.Clone(m.Samples)
		slices.Sort(s)
		m.N = len(s)
		if m.N == 0 {
			continue
		}
		m.Median = round(median(s))
		m.Min, m.Max = round(s[0]), round(s[len(s)-1])
		m.P90, m.P99 = round(percentile(s, 0.9)), round(percentile(s, 0.99))
		byKey[m.Key] = m
	}
	// The gatt library's read and notification benchmarks are baselines for
	// the daemon's.
	for key, base := range map[string]string{"read_state": "gattread_p50_ms", "join_own_notify": "gattnotify_latency_p50_ms"} {
		if m, ok := byKey[key]; ok && byKey[base] != nil && m.Baseline == "" {
			m.Baseline = base
		}
	}
	for i := range rep.Metrics {
		m := &rep.Metrics[i]
		if b, ok := byKey[m.Baseline]; ok && b.Median != 0 {
			m.Ratio = round(m.Median / b.Median)
		}
	}
}

// median of sorted s.
func median(s []float64) float64 {
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile of sorted s.
func percentile(s []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func round(v float64) float64 {
	switch a := math.Abs(v); {
	case a >= 100:
		return math.Round(v)
	case a >= 10:
		return math.Round(v*10) / 10
	}
	return math.Round(v*100) / 100
}

func printTable(w io.Writer, rep *Report, base *Report) {
	old := map[string]Metric{}
	if base != nil {
		for _, m := range base.Metrics {
			old[m.Key] = m
		}
	}
	fmt.Fprintf(w, "Bluenet benchmarks — commit %s, %s, %.0f s\n", rep.Commit, rep.Date.Format(time.RFC3339), rep.Seconds)
	for _, k := range []string{"host_cpu", "host_cores", "host_mem", "guest_cpu", "qemu", "bluez", "networkmanager"} {
		if v := rep.Machine[k]; v != "" {
			fmt.Fprintf(w, "  %-15s %s\n", k, v)
		}
	}
	width := len("metric")
	for _, m := range rep.Metrics {
		width = max(width, utf8.RuneCountInString(m.Name))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := pad("metric") + "\tunit\tn\tmedian\tmin\tmax\tp90\tp99\tvs baseline\t"
	if base != nil {
		head += "vs " + shortCommit(base.Commit) + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, m := range rep.Metrics {
		p99 := "-"
		if m.N >= 100 {
			p99 = fmtNum(m.P99)
		}
		vs := "-"
		if m.Ratio != 0 {
			vs = fmt.Sprintf("%.2f× %s", m.Ratio, m.Baseline)
		}
		row := fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t", pad(m.Name), m.Unit, m.N, fmtNum(m.Median),
			fmtNum(m.Min), fmtNum(m.Max), fmtNum(m.P90), p99, vs)
		if base != nil {
			if o, ok := old[m.Key]; ok && o.Median != 0 {
				row += fmt.Sprintf("%+.0f%%\t", (m.Median/o.Median-1)*100)
			} else {
				row += "-\t"
			}
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAILED:", f)
	}
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// moduleRoot returns dir, or the directory above the working directory
// that holds go.mod.
func moduleRoot(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	return vmtest.ModuleRoot()
}

func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "-dirty"
	}
	return c
}

// machine describes the host and the software the VM runs (the guest's
// root file system is the host's).
func machine() map[string]string {
	m := map[string]string{"host_cores": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m["host_cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m["host_mem"] = fmt.Sprintf("%d MiB", kb/1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["host_kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m["host_os"] = strings.Trim(v, `"`)
			}
		}
	}
	first := func(key string, name string, args ...string) {
		out, _ := exec.Command(name, args...).CombinedOutput()
		if l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); l != "" {
			m[key] = l
		}
	}
	first("qemu", "qemu-system-x86_64", "--version")
	first("bluez", "/usr/libexec/bluetooth/bluetoothd", "--version")
	first("networkmanager", "NetworkManager", "--version")
	first("hostapd", "hostapd", "-v")
	if ks, _ := filepath.Glob("/var/cache/bluenet-vm/boot/vmlinuz-*"); len(ks) > 0 {
		m["guest_kernel"] = strings.TrimPrefix(filepath.Base(ks[0]), "vmlinuz-")
	}
	return m
}
