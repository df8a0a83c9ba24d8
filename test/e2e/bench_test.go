//go:build vm

package e2e

// Benchmarks of the bluenet daemon against the real bluetoothd,
// NetworkManager and hostapd of the VM. They do their own repeated trials
// (-bluenet.trials) and print every sample on a line
//
//	BENCH {"key":...,"name":...,"unit":...,"samples":[...],"baseline":...}
//
// that test/bench (the report: table, JSON, comparison with an earlier run)
// collects. Run them with ./scripts/bench, or by hand:
//
//	go test -tags vm -count=1 -run '^$' -bench . -benchtime 1x ./test/e2e
//
// Each benchmark runs its trials once, whatever b.N is: they take seconds,
// not nanoseconds, and their spread is what the report shows.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/protocol/improv"
)

var (
	benchTrials = flag.Int("bluenet.trials", 5, "trials per measurement in the Bluenet benchmarks")
	benchReads  = flag.Int("bluenet.reads", 200, "GATT reads per characteristic in BenchmarkBluenetRead")
	benchIdle   = flag.Duration("bluenet.idle", time.Minute, "idle window of BenchmarkBluenetIdle")
)

// benchResult is one measurement as printed on a BENCH line.
type benchResult struct {
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Samples  []float64 `json:"samples"`
	Baseline string    `json:"baseline,omitempty"` // key of the result to compare with
	Note     string    `json:"note,omitempty"`
}

// emit prints r for the report and its median as a Go benchmark metric.
func emit(b *testing.B, r benchResult) {
	b.Helper()
	if len(r.Samples) == 0 {
		b.Errorf("%s: no samples", r.Key)
		return
	}
	line, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("BENCH %s\n", line)
	s := slices.Clone(r.Samples)
	slices.Sort(s)
	b.ReportMetric(s[len(s)/2], strings.ReplaceAll(r.Key, "_", "-")+"-"+r.Unit)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchProc is a daemon (bluenet or examples/battery) whose log lines are
// time-stamped as they arrive.
type benchProc struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}

	mu      sync.Mutex
	lines   []logLine
	changed chan struct{} // closed and replaced on every new line
}

type logLine struct {
	at   time.Time
	text string
}

// startProc runs bin with args, copying its output to LogDir()/logName.log.
func startProc(b *testing.B, logName, bin string, args ...string) *benchProc {
	b.Helper()
	logf, err := os.OpenFile(filepath.Join(vmtest.LogDir(), logName+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	p := &benchProc{cmd: exec.Command(bin, args...), done: make(chan struct{}), changed: make(chan struct{})}
	// As packaging/bluenet.service runs the daemon (the baselines too).
	p.cmd.Env = append(os.Environ(), "GODEBUG=disablethp=1")
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			at := time.Now()
			_, _ = fmt.Fprintln(logf, sc.Text())
			p.mu.Lock()
			p.lines = append(p.lines, logLine{at, sc.Text()})
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		logf.Close()
		close(p.done)
	}()
	b.Cleanup(func() { p.stop(b) })
	return p
}

// waitLine returns when the first log line containing s arrived.
func (p *benchProc) waitLine(b *testing.B, s string, d time.Duration) time.Time {
	b.Helper()
	return p.waitLineAfter(b, time.Time{}, d, s)
}

// waitLineAfter returns when the first log line that arrived after t and
// contains every string of ss arrived.
func (p *benchProc) waitLineAfter(b *testing.B, t time.Time, d time.Duration, ss ...string) time.Time {
	b.Helper()
	timeout := time.After(d)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if l.at.After(t) && containsAll(l.text, ss) {
				p.mu.Unlock()
				return l.at
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			b.Fatalf("%s exited before logging %q", filepath.Base(p.cmd.Path), ss)
		case <-timeout:
			b.Fatalf("%s did not log %q within %v", filepath.Base(p.cmd.Path), ss, d)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (p *benchProc) pid() int { return p.cmd.Process.Pid }

func (p *benchProc) stop(b *testing.B) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		b.Errorf("%s did not stop within 10s of SIGINT", filepath.Base(p.cmd.Path))
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startBluenet runs the daemon on hci0 at -v and waits until it advertises.
// -v logs the Info lines the benchmarks time, the level examples/battery
// logs at; -vv would add the formatting and writing of every Debug line to
// what is measured (a device runs at the default, warnings only).
func startBluenet(b *testing.B) *benchProc {
	b.Helper()
	p := startProc(b, "bluenet", vmtest.Bin(b, "bluenet"), "-w", "wlan0", "-b", vmtest.PeripheralAdapter, "start",
		"-v", "-h", "bench-%IP", "-a", "Bluenet Bench", "--rpc", "off",
		"--status-file", filepath.Join(b.TempDir(), "status.json"))
	p.waitLine(b, `msg="advertising started"`, 60*time.Second)
	return p
}

// procStats is what /proc says about a process, summed over its threads.
type procStats struct {
	rssKiB    int
	cpuTicks  int // utime + stime, in clock ticks (USER_HZ, 100 on Linux)
	voluntary int // voluntary context switches: the thread slept and woke up
	involunt  int
	threads   int
}

func readProc(b testing.TB, pid int) procStats {
	b.Helper()
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	s.rssKiB = statusField(status, "VmRSS")
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ut, _ := strconv.Atoi(f[14-3])
	st, _ := strconv.Atoi(f[15-3])
	s.cpuTicks = ut + st
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		ts, err := os.ReadFile(t)
		if err != nil {
			continue // thread gone
		}
		s.voluntary += statusField(ts, "voluntary_ctxt_switches")
		s.involunt += statusField(ts, "nonvoluntary_ctxt_switches")
		s.threads++
	}
	return s
}

// statusField returns the first number of "name:" in a /proc status file.
func statusField(status []byte, name string) int {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return -1
}

// benchCentral is the phone: a central on hci1.
func benchCentral(b *testing.B, ctx context.Context) *central.Central {
	b.Helper()
	c, err := central.New(ctx, central.Config{Conn: vmtest.SystemBus(b), Adapter: vmtest.CentralAdapter})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// forgetPeripheral removes hci0's device object from the central's adapter,
// so that the next scan has to see a fresh advertisement.
func forgetPeripheral(conn *dbus.Conn, c *central.Central) {
	dev := dbus.ObjectPath(string(c.Adapter()) + "/dev_" + strings.ReplaceAll(vmtest.PeripheralAddress, ":", "_"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = conn.Object("org.bluez", c.Adapter()).CallWithContext(ctx, "org.bluez.Adapter1.RemoveDevice", 0, dev).Err
}

// discovering reports whether the central's adapter is scanning.
func discovering(conn *dbus.Conn, c *central.Central) bool {
	v, err := conn.Object("org.bluez", c.Adapter()).GetProperty("org.bluez.Adapter1.Discovering")
	on, _ := v.Value().(bool)
	return err == nil && on
}

// BenchmarkBluenetStart: daemon start → GATT application registered →
// advertisement registered → service UUID seen by a scanning central, and
// resident memory at that point. Baseline: examples/battery, a minimal gatt
// server (one service, advertised), started the same way, interleaved. A
// second baseline, examples/battery -extra 12, has as many D-Bus objects as
// the daemon's application (2 services, 13 characteristics and 1
// descriptor against 2 services and 14 characteristics): bluetoothd's share
// of a registration grows with them.
func BenchmarkBluenetStart(b *testing.B) {
	vmtest.DumpLogsOnFailure(b, "bluenet", "battery", "battery16", "bluetoothd")
	// 45 registrations of applications of up to 40 handles: bluetoothd
	// never hands a handle out twice while it runs, and once they pass 1023
	// BlueZ 5.66 stops updating its Database Hash (src/shared/gatt-db.c
	// hands writev one iovec per handle; Linux takes at most 1024), so a
	// central that cached the daemon's database in a later benchmark reads
	// the old hash, trusts its stale handles and gets Invalid Handle. A
	// fresh bluetoothd afterwards starts from handle 1 again.
	vmtest.RestoreBluetoothOnCleanup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := vmtest.SystemBus(b)
	c := benchCentral(b, ctx)
	type kind struct {
		key, bin, regLine, advLine, uuid string // key names the samples and the log
		args                             []string
	}
	kinds := []kind{
		{"bluenet", "bluenet", `msg="GATT application registered"`, `msg="advertising started"`, bluenet.ServiceUUID,
			[]string{"-w", "wlan0", "-b", vmtest.PeripheralAdapter, "start", "-v", "-h", "bench", "-a", "Bluenet Bench",
				"--rpc", "off", "--status-file", filepath.Join(b.TempDir(), "status.json")}},
		{"battery", "battery", `msg="registered with bluetoothd"`, `msg="registered with bluetoothd"`, "180f",
			[]string{"-adapter", vmtest.PeripheralAdapter, "-name", "battery"}},
		{"battery16", "battery", `msg="registered with bluetoothd"`, `msg="registered with bluetoothd"`, "180f",
			[]string{"-adapter", vmtest.PeripheralAdapter, "-name", "battery", "-extra", "12"}},
	}
	res := map[string][]float64{}
	add := func(k string, v float64) { res[k] = append(res[k], v) }
	// Three times the trials: one start varies by tens of milliseconds
	// with the host, and the goal is a ratio of two medians.
	for i := 0; i < 3**benchTrials; i++ {
		for _, k := range kinds {
			forgetPeripheral(conn, c)
			found := make(chan time.Time, 1)
			fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
			go func() {
				if _, err := c.Find(fctx, central.ScanFilter{UUIDs: []central.UUID{central.MustParseUUID(k.uuid)}}); err == nil {
					found <- time.Now()
				}
				close(found)
			}()
			if !waitFor(10*time.Second, func() bool { return discovering(conn, c) }) {
				b.Fatalf("hci1 not discovering")
			}
			p := startProc(b, k.key, vmtest.Bin(b, k.bin), k.args...)
			if k.key == "bluenet" {
				// The wifi backend's first state: NetworkManager read (device,
				// access points) before the GATT application is registered.
				add("bluenet_wifi_ready", ms(p.waitLineAfter(b, time.Time{}, 60*time.Second, "msg=state ", "component=wifi ").Sub(p.start)))
			}
			reg := p.waitLine(b, k.regLine, 60*time.Second)
			adv := p.waitLine(b, k.advLine, 60*time.Second)
			proc := readProc(b, p.pid())
			rss := proc.rssKiB
			seen, ok := <-found
			fcancel()
			if !ok {
				b.Fatalf("%s: the central did not see service %s within 60s", k.key, k.uuid)
			}
			add(k.key+"_registered", ms(reg.Sub(p.start)))
			add(k.key+"_advertising", ms(adv.Sub(p.start)))
			add(k.key+"_visible", ms(seen.Sub(p.start)))
			add(k.key+"_rss_start", float64(rss)/1024)
			// The process's own CPU time up to then: less sensitive than the
			// wall time to other VMs sharing the host.
			add(k.key+"_cpu_start", float64(proc.cpuTicks)*10) // USER_HZ = 100: 10 ms per tick
			p.stop(b)
		}
	}
	emit(b, benchResult{Key: "start_wifi_ready", Name: "start → wifi backend has NM's state", Unit: "ms",
		Samples: res["bluenet_wifi_ready"]})
	emit(b, benchResult{Key: "start_registered", Name: "start → GATT app registered", Unit: "ms",
		Samples: res["bluenet_registered"], Baseline: "battery_start_registered"})
	emit(b, benchResult{Key: "start_advertising", Name: "start → advertising (log line)", Unit: "ms",
		Samples: res["bluenet_advertising"], Baseline: "battery_start_advertising"})
	// Each trial starts the daemon right before the baseline: their ratio,
	// trial by trial, is less sensitive to the host's load drifting.
	paired := func(base string) []float64 {
		var r []float64
		for i, v := range res["bluenet_advertising"] {
			r = append(r, v/res[base+"_advertising"][i])
		}
		return r
	}
	emit(b, benchResult{Key: "start_advertising_paired", Name: "start → advertising, ratio to the baseline trial by trial", Unit: "×",
		Samples: paired("battery")})
	emit(b, benchResult{Key: "start_advertising_same_size", Name: "start → advertising, against a baseline with as many objects", Unit: "ms",
		Samples: res["bluenet_advertising"], Baseline: "battery16_start_advertising"})
	emit(b, benchResult{Key: "start_advertising_same_size_paired", Name: "start → advertising, ratio to the same-size baseline trial by trial", Unit: "×",
		Samples: paired("battery16")})
	emit(b, benchResult{Key: "start_visible", Name: "start → service seen by central", Unit: "ms",
		Samples: res["bluenet_visible"], Baseline: "battery_start_visible"})
	emit(b, benchResult{Key: "rss_start", Name: "VmRSS when advertising", Unit: "MiB",
		Samples: res["bluenet_rss_start"], Baseline: "battery_rss_start"})
	emit(b, benchResult{Key: "cpu_start", Name: "CPU time (utime+stime) when advertising (10 ms ticks)", Unit: "ms",
		Samples: res["bluenet_cpu_start"], Baseline: "battery_cpu_start"})
	emit(b, benchResult{Key: "battery_start_registered", Name: "baseline battery: start → app+adv registered", Unit: "ms",
		Samples: res["battery_registered"]})
	emit(b, benchResult{Key: "battery_start_advertising", Name: "baseline battery: start → advertising", Unit: "ms",
		Samples: res["battery_advertising"]})
	emit(b, benchResult{Key: "battery16_start_registered", Name: "baseline battery -extra 12 (16 objects): start → app+adv registered", Unit: "ms",
		Samples: res["battery16_registered"]})
	emit(b, benchResult{Key: "battery16_start_advertising", Name: "baseline battery -extra 12 (16 objects): start → advertising", Unit: "ms",
		Samples: res["battery16_advertising"]})
	emit(b, benchResult{Key: "battery_start_visible", Name: "baseline battery: start → seen by central", Unit: "ms",
		Samples: res["battery_visible"]})
	emit(b, benchResult{Key: "battery_cpu_start", Name: "baseline battery: CPU time when registered", Unit: "ms",
		Samples: res["battery_cpu_start"]})
	emit(b, benchResult{Key: "battery_rss_start", Name: "baseline battery: VmRSS when registered", Unit: "MiB",
		Samples: res["battery_rss_start"]})
}

// BenchmarkBluenetNetworks: 20 open networks on one hwsim radio
// (multi-BSS), listed by NetworkManager; then per trial a central connects
// (discovery of services included), subscribes to Available Networks and
// waits for the first SSID and for all 20.
func BenchmarkBluenetNetworks(b *testing.B) {
	const prefix, count = "BenchNet", 20
	vmtest.DumpLogsOnFailure(b, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan1")
	vmtest.Sh(b, fmt.Sprintf("AP_IF=wlan1 ap_multi_start %s %d && nm_wait_ssids %s %d 120", prefix, count, prefix, count))
	b.Cleanup(func() { _, _ = vmtest.ShErr("AP_IF=wlan1 ap_stop") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	startBluenet(b)
	c := benchCentral(b, ctx)
	conn := vmtest.SystemBus(b)
	var toConnected, toFirst, subToFirst, subToAll, toAll, cycle, gaps []float64
	listed, lost, mtu := 0, 0, uint16(0)
	// Trial -1 is not counted: it waits until the daemon, which reads
	// NetworkManager once it advertises, lists all 20, so that a trial
	// measures the delivery and counts as lost only notifications that
	// were sent.
	for i := -1; i < *benchTrials; i++ {
		t0 := time.Now()
		p, err := c.Connect(ctx, vmtest.PeripheralAddress)
		if err != nil {
			b.Fatal(err)
		}
		tConn := time.Now()
		ch, err := p.Characteristic(central.MustParseUUID(bluenet.NetworksUUID))
		if err != nil {
			b.Fatal(err)
		}
		if mtu == 0 {
			v, _ := conn.Object("org.bluez", ch.Path()).GetProperty("org.bluez.GattCharacteristic1.MTU")
			mtu, _ = v.Value().(uint16)
		}
		tSub := time.Now()
		vals, stop, err := ch.Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seen := map[string]bool{}
		var first, last time.Time
		n, ours := 0, 0
		timeout := time.After(60 * time.Second)
		for len(seen) < count {
			select {
			case v := <-vals:
				now := time.Now()
				if n == 0 {
					first = now
				} else if i >= 0 {
					gaps = append(gaps, ms(now.Sub(last)))
				}
				last = now
				n++
				if strings.HasPrefix(string(v), prefix) {
					ours++
					seen[string(v)] = true
				}
			case <-timeout:
				b.Fatalf("trial %d: %d of %d SSIDs after 60s (%d notifications)", i, len(seen), count, n)
			}
		}
		if i >= 0 {
			listed = max(listed, n)
			// One cycle sends each network once: one of ours seen twice
			// before all of them means the central lost some.
			lost += ours - count
			toConnected = append(toConnected, ms(tConn.Sub(t0)))
			toFirst = append(toFirst, ms(first.Sub(t0)))
			subToFirst = append(subToFirst, ms(first.Sub(tSub)))
			subToAll = append(subToAll, ms(last.Sub(tSub)))
			toAll = append(toAll, ms(last.Sub(t0)))
			cycle = append(cycle, ms(last.Sub(first)))
		}
		// Let the daemon see the central go (and stop its cycle).
		hangUp(b, ctx, p, stop)
	}
	// The same at MTU 23, the smallest a phone may keep: a kernel ATT
	// client on hci1 that never exchanges the MTU.
	var subToAll23 []float64
	lost23, listed23 := 0, 0
	for i := 0; i < *benchTrials; i++ {
		netU := gatt.MustParseUUID(bluenet.NetworksUUID)
		kc, hs := dialKernel(b, ctx, netU[:])
		if kc.MTU() != 23 {
			b.Fatalf("MTU %d, want 23", kc.MTU())
		}
		h := hs[0].ValueHandle
		type note struct {
			at time.Time
			v  string
		}
		got := make(chan note, 256)
		kc.OnNotify(func(handle uint16, v []byte) {
			if handle == h {
				got <- note{time.Now(), string(v)}
			}
		})
		tSub := time.Now()
		// BlueZ puts the Client Characteristic Configuration descriptor
		// right after the value.
		if err := kc.Write(ctx, h+1, []byte{1, 0}); err != nil {
			b.Fatalf("MTU 23: subscribe: %v", err)
		}
		seen := map[string]bool{}
		n, ours := 0, 0
		var last time.Time
		timeout := time.After(60 * time.Second)
		for len(seen) < count {
			select {
			case v := <-got:
				n++
				last = v.at
				if strings.HasPrefix(v.v, prefix) {
					ours++
					seen[v.v] = true
				}
			case <-timeout:
				b.Fatalf("MTU 23 trial %d: %d of %d SSIDs after 60s (%d notifications)", i, len(seen), count, n)
			}
		}
		subToAll23 = append(subToAll23, ms(last.Sub(tSub)))
		listed23 = max(listed23, n)
		lost23 += ours - count
		// Unsubscribe and let the link go down: the kernel keeps an LE
		// link a moment after its last socket closes, and a new socket
		// would find it (and the cycle in its pause) still there.
		_ = kc.Write(ctx, h+1, []byte{0, 0})
		_ = kc.Close()
		time.Sleep(4 * time.Second)
	}
	note := fmt.Sprintf("%d notifications to see all %d", listed, count)
	emit(b, benchResult{Key: "connect", Name: "central connect + services resolved", Unit: "ms", Samples: toConnected})
	emit(b, benchResult{Key: "connect_first_ssid", Name: "connect → first Available Networks notification", Unit: "ms", Samples: toFirst})
	emit(b, benchResult{Key: "subscribe_first_ssid", Name: "subscribe → first SSID", Unit: "ms", Samples: subToFirst})
	emit(b, benchResult{Key: "subscribe_all_ssids", Name: fmt.Sprintf("subscribe → all 20 SSIDs at the central (MTU %d)", mtu), Unit: "ms", Samples: subToAll,
		Note: fmt.Sprintf("at most %d notifications to see the 20 (other networks included); %d of ours lost in %d trials", listed, lost, *benchTrials)})
	emit(b, benchResult{Key: "subscribe_all_ssids_mtu23", Name: "subscribe → all 20 SSIDs at the central (MTU 23)", Unit: "ms", Samples: subToAll23,
		Note: fmt.Sprintf("at most %d notifications to see the 20 (other networks included); %d of ours lost in %d trials", listed23, lost23, *benchTrials)})
	emit(b, benchResult{Key: "connect_all_ssids", Name: "connect → all 20 SSIDs received", Unit: "ms", Samples: toAll, Note: note})
	emit(b, benchResult{Key: "cycle_20", Name: "first → 20th SSID (one cycle)", Unit: "ms", Samples: cycle, Note: note})
	emit(b, benchResult{Key: "ssid_gap", Name: "gap between two SSID notifications", Unit: "ms", Samples: gaps,
		Note: fmt.Sprintf("daemon's NotifyGap is %v", daemon.DefaultNotifyGap)})
}

// BenchmarkBluenetRead: GATT read round trips from the central, interleaved
// over one connection: the daemon's Connection State (answered by the
// daemon's OnRead callback over D-Bus), its Version (a static value the gatt
// library answers over D-Bus) and the Client Characteristic Configuration
// descriptor of Connection State (answered by bluetoothd itself, no D-Bus:
// the floor of this bed).
func BenchmarkBluenetRead(b *testing.B) {
	vmtest.DumpLogsOnFailure(b, "bluenet", "bluetoothd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	startBluenet(b)
	c := benchCentral(b, ctx)
	p, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	state, err := p.Characteristic(central.MustParseUUID(bluenet.StateUUID))
	if err != nil {
		b.Fatal(err)
	}
	version, err := p.Characteristic(central.MustParseUUID(bluenet.VersionUUID))
	if err != nil {
		b.Fatal(err)
	}
	ccc, err := state.Descriptor(central.UUID16(0x2902))
	if err != nil {
		b.Fatal(err)
	}
	reads := []struct {
		key, name string
		read      func(context.Context) ([]byte, error)
		lat       []float64
	}{
		{key: "read_state", name: "read Connection State (daemon callback)", read: state.Read},
		{key: "read_version", name: "read Version (static value, gatt library)", read: version.Read},
		{key: "read_ccc", name: "baseline: read CCC descriptor (bluetoothd only)", read: ccc.Read},
	}
	for i := 0; i < *benchReads; i++ {
		for j := range reads {
			t0 := time.Now()
			if _, err := reads[j].read(ctx); err != nil {
				b.Fatalf("%s: %v", reads[j].key, err)
			}
			reads[j].lat = append(reads[j].lat, ms(time.Since(t0)))
		}
	}
	for _, r := range reads {
		base := "read_ccc"
		if r.key == base {
			base = ""
		}
		emit(b, benchResult{Key: r.key, Name: r.name, Unit: "ms", Samples: r.lat, Baseline: base})
	}
}

// nmActivated watches NetworkManager's Device.StateChanged signals of the
// interface and sends the time each ACTIVATED (100) arrived.
func nmActivated(b *testing.B, iface string) <-chan time.Time {
	b.Helper()
	conn, err := dbus.ConnectSystemBus(dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	var dev dbus.ObjectPath
	if err := conn.Object("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager").
		Call("org.freedesktop.NetworkManager.GetDeviceByIpIface", 0, iface).Store(&dev); err != nil {
		b.Fatal(err)
	}
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(dev),
		dbus.WithMatchInterface("org.freedesktop.NetworkManager.Device"), dbus.WithMatchMember("StateChanged")); err != nil {
		b.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	out := make(chan time.Time, 16)
	go func() {
		for s := range sigs {
			if s.Path == dev && s.Name == "org.freedesktop.NetworkManager.Device.StateChanged" && len(s.Body) == 3 {
				if st, _ := s.Body[0].(uint32); st == 100 {
					select {
					case out <- time.Now():
					default:
					}
				}
			}
		}
	}()
	return out
}

// joinAPs starts the two WPA2 networks the join benchmarks alternate
// between, from a disconnected wlan0 without saved profiles, and keeps the
// logs of the daemons involved when the benchmark fails.
func joinAPs(b *testing.B) []vmtest.AP {
	b.Helper()
	vmtest.DumpLogsOnFailure(b, "bluenet", "bluetoothd", "NetworkManager", "wpa_supplicant", "hostapd-wlan2", "hostapd-wlan3")
	aps := []vmtest.AP{
		{Iface: "wlan2", SSID: "BenchJoinA", PSK: "bench-pass-a1"},
		{Iface: "wlan3", SSID: "BenchJoinB", PSK: "bench-pass-b2"},
	}
	for _, ap := range aps {
		vmtest.StartAP(b, ap)
	}
	vmtest.ResetWiFi(b)
	b.Cleanup(func() { vmtest.ResetWiFi(b) })
	vmtest.Sh(b, "nm_wait_ssid BenchJoinA 90 && nm_wait_ssid BenchJoinB 90")
	return aps
}

// BenchmarkBluenetJoin: per trial, from a disconnected wlan0, the central
// writes SSID and Credentials (WPA2) and waits for the Connected
// notification; NetworkManager's device ACTIVATED signal, watched on the
// system bus, splits that into NetworkManager's part and Bluenet's own
// (ACTIVATED → notification at the central). Trials alternate between two
// access points.
func BenchmarkBluenetJoin(b *testing.B) {
	aps := joinAPs(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	activated := nmActivated(b, "wlan0")
	d := startBluenet(b)
	c := benchCentral(b, ctx)
	p, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	chars := map[string]*central.Characteristic{}
	for _, u := range []string{bluenet.StateUUID, bluenet.SSIDUUID, bluenet.CredentialsUUID, bluenet.ResultUUID} {
		if chars[u], err = p.Characteristic(central.MustParseUUID(u)); err != nil {
			b.Fatal(err)
		}
	}
	states, stopStates, err := chars[bluenet.StateUUID].Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopStates()
	results, stopResults, err := chars[bluenet.ResultUUID].Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopResults()
	var total, nmPart, own, backend, profilePart, notify []float64
	// Three times the trials: ACTIVATED → Connected spreads from 10 to
	// 100 ms in the bed (the central's bluetoothd shares two CPUs with
	// NetworkManager's work right after ACTIVATED), and a trial is short.
	for i := 0; i < 3**benchTrials; i++ {
		ap := aps[i%len(aps)]
		if i > 0 {
			vmtest.Sh(b, "nmcli dev disconnect wlan0 >/dev/null")
			next(b, states, 30*time.Second, "Disconnected", func(v []byte) bool { return len(v) > 0 && v[0] == 1 })
		}
		for len(activated) > 0 {
			<-activated
		}
		for len(results) > 0 {
			<-results
		}
		t0 := time.Now()
		if err := chars[bluenet.SSIDUUID].Write(ctx, []byte(ap.SSID)); err != nil {
			b.Fatal(err)
		}
		if err := chars[bluenet.CredentialsUUID].Write(ctx, []byte(ap.PSK)); err != nil {
			b.Fatal(err)
		}
		want := append([]byte{3}, ap.SSID...)
		next(b, states, 90*time.Second, "Connected "+ap.SSID, func(v []byte) bool { return bytes.Equal(v, want) })
		tN := time.Now()
		var tA time.Time
		select {
		case tA = <-activated:
		case <-time.After(10 * time.Second):
			b.Fatalf("trial %d: no ACTIVATED signal from NetworkManager", i)
		}
		next(b, results, 60*time.Second, "Result ok", func(v []byte) bool { return len(v) > 0 && v[0] == byte(bluenet.ResultOK) })
		// The daemon's -v log splits Bluenet's part: the wifi backend has
		// read the new state from NetworkManager (msg=state
		// component=wifi), the profile has it and notifies (msg=wifi).
		tB := d.waitLineAfter(b, t0, 10*time.Second, "msg=state ", "component=wifi ", `state="connected`)
		tP := d.waitLineAfter(b, t0, 10*time.Second, "msg=wifi ", `state="connected`)
		total = append(total, ms(tN.Sub(t0)))
		nmPart = append(nmPart, ms(tA.Sub(t0)))
		own = append(own, ms(tN.Sub(tA)))
		backend = append(backend, ms(tB.Sub(tA)))
		profilePart = append(profilePart, ms(tP.Sub(tB)))
		notify = append(notify, ms(tN.Sub(tP)))
	}
	// The same from a central without BlueZ: the kernel's ATT socket on
	// hci1 (package att), as a phone's own stack receives a notification.
	// The bed has one bluetoothd for both adapters; a BlueZ central hands
	// the value to its D-Bus client from an idle callback of that same,
	// then busy, bluetoothd, and asks for Multiple Handle Value
	// Notifications, which the peripheral's bluetoothd gathers for 10 ms.
	hangUp(b, ctx, p, stopStates, stopResults)
	kernel := joinKernelCentral(b, ctx, aps, activated)
	emit(b, benchResult{Key: "join_connected", Name: "credentials write → Connected notification", Unit: "ms", Samples: total})
	emit(b, benchResult{Key: "join_nm_activated", Name: "credentials write → NM device ACTIVATED", Unit: "ms", Samples: nmPart})
	emit(b, benchResult{Key: "join_own", Name: "NM ACTIVATED → Connected at central (Bluenet's part)", Unit: "ms", Samples: own})
	emit(b, benchResult{Key: "join_own_backend", Name: "  of which: ACTIVATED → wifi backend has the state", Unit: "ms", Samples: backend,
		Note: "daemon log line arrival; the backend takes the state from the signals"})
	emit(b, benchResult{Key: "join_own_profile", Name: "  of which: backend → profile notifies", Unit: "ms", Samples: profilePart})
	emit(b, benchResult{Key: "join_own_notify", Name: "  of which: notify → value at the central", Unit: "ms", Samples: notify})
	emit(b, benchResult{Key: "join_own_att", Name: "NM ACTIVATED → Connected at a kernel ATT central (no BlueZ on the central's side)", Unit: "ms", Samples: kernel,
		Note: "package att on hci1: Write Requests, MTU 23, no Client Supported Features"})
}

// joinKernelCentral runs the join trials of BenchmarkBluenetJoin from a
// kernel ATT central on hci1 and returns NM ACTIVATED → Connected
// notification at that central, per trial.
func joinKernelCentral(b *testing.B, ctx context.Context, aps []vmtest.AP, activated <-chan time.Time) []float64 {
	b.Helper()
	var uuids [][]byte
	for _, u := range []string{bluenet.StateUUID, bluenet.SSIDUUID, bluenet.CredentialsUUID} {
		id := gatt.MustParseUUID(u)
		uuids = append(uuids, id[:])
	}
	kc, hs := dialKernel(b, ctx, uuids...)
	defer kc.Close()
	// Timed where the BlueZ central's values are timed: when the benchmark
	// takes them from the channel.
	states := make(chan []byte, 64)
	state := hs[0].ValueHandle
	kc.OnNotify(func(h uint16, v []byte) {
		if h == state {
			select { // never block the connection's reader
			case states <- append([]byte(nil), v...):
			default:
			}
		}
	})
	// BlueZ puts the Client Characteristic Configuration descriptor right
	// after the value.
	if err := kc.Write(ctx, state+1, []byte{1, 0}); err != nil {
		b.Fatalf("kernel central: subscribe to Connection State: %v", err)
	}
	var own []float64
	for i := 0; i < 3**benchTrials; i++ {
		ap := aps[i%len(aps)]
		vmtest.Sh(b, "nmcli dev disconnect wlan0 >/dev/null")
		next(b, states, 30*time.Second, "Disconnected", func(v []byte) bool { return len(v) > 0 && v[0] == 1 })
		for len(activated) > 0 {
			<-activated
		}
		if err := kc.Write(ctx, hs[1].ValueHandle, []byte(ap.SSID)); err != nil {
			b.Fatalf("kernel central: write SSID: %v", err)
		}
		if err := kc.Write(ctx, hs[2].ValueHandle, []byte(ap.PSK)); err != nil {
			b.Fatalf("kernel central: write credentials: %v", err)
		}
		want := append([]byte{3}, ap.SSID...)
		next(b, states, 90*time.Second, "Connected "+ap.SSID, func(v []byte) bool { return bytes.Equal(v, want) })
		tN := time.Now()
		select {
		case tA := <-activated:
			own = append(own, ms(tN.Sub(tA)))
		case <-time.After(10 * time.Second):
			b.Fatalf("kernel central trial %d: no ACTIVATED signal from NetworkManager", i)
		}
	}
	_ = kc.Write(ctx, state+1, []byte{0, 0})
	return own
}

// BenchmarkBluenetJoinAfterList: a phone subscribes to Available Networks,
// then writes SSID and Credentials 0.1 s or 10 s later (interleaved); time
// from the credentials write to the Connected notification: does the scan
// the daemon asks for when a phone subscribes (at most one per 10 s) delay a
// join that comes right after? The note counts the scans it requested.
const settleAfterDisconnect = 15 * time.Second

func BenchmarkBluenetJoinAfterList(b *testing.B) {
	aps := joinAPs(b)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d := startBluenet(b)
	c := benchCentral(b, ctx)
	p, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	chars := map[string]*central.Characteristic{}
	for _, u := range []string{bluenet.StateUUID, bluenet.SSIDUUID, bluenet.CredentialsUUID, bluenet.NetworksUUID} {
		if chars[u], err = p.Characteristic(central.MustParseUUID(u)); err != nil {
			b.Fatal(err)
		}
	}
	states, stopStates, err := chars[bluenet.StateUUID].Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopStates()
	delays := []time.Duration{100 * time.Millisecond, 10 * time.Second}
	res := map[time.Duration][]float64{}
	scans := map[time.Duration]int{}
	rss := []float64{float64(readProc(b, d.pid()).rssKiB) / 1024} // at the start, then after each trial
	for i := 0; i < 2*(*benchTrials); i++ {
		delay := delays[i%2]
		ap := aps[(i/2)%len(aps)]
		if i > 0 {
			vmtest.Sh(b, "nmcli dev disconnect wlan0 >/dev/null")
			next(b, states, 30*time.Second, "Disconnected", func(v []byte) bool { return len(v) > 0 && v[0] == 1 })
			// wpa_supplicant and NetworkManager settle after a disconnect
			// (a join right after one took seconds longer, with or without
			// a scan of ours): both delays start from a settled device, so
			// that only the scan requested on subscription differs.
			time.Sleep(settleAfterDisconnect)
		}
		nets, stopNets, err := chars[bluenet.NetworksUUID].Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tSub := time.Now()
		next(b, nets, 30*time.Second, "a network", func(v []byte) bool { return len(v) > 0 })
		time.Sleep(time.Until(tSub.Add(delay)))
		t0 := time.Now()
		if err := chars[bluenet.SSIDUUID].Write(ctx, []byte(ap.SSID)); err != nil {
			b.Fatal(err)
		}
		if err := chars[bluenet.CredentialsUUID].Write(ctx, []byte(ap.PSK)); err != nil {
			b.Fatal(err)
		}
		want := append([]byte{3}, ap.SSID...)
		next(b, states, 90*time.Second, "Connected "+ap.SSID, func(v []byte) bool { return bytes.Equal(v, want) })
		res[delay] = append(res[delay], ms(time.Since(t0)))
		stopNets()
		rss = append(rss, float64(readProc(b, d.pid()).rssKiB)/1024)
		d.mu.Lock()
		for _, l := range d.lines {
			if l.at.After(tSub) && strings.Contains(l.text, `msg="scan requested"`) {
				scans[delay]++
			}
		}
		d.mu.Unlock()
	}
	for _, delay := range delays {
		key := fmt.Sprintf("join_after_list_%dms", delay.Milliseconds())
		emit(b, benchResult{Key: key, Name: fmt.Sprintf("credentials write → Connected, SSID written %v after subscribing to Available Networks", delay),
			Unit: "ms", Samples: res[delay], Baseline: "join_connected",
			Note: fmt.Sprintf("the daemon requested %d scans in these trials", scans[delay])})
	}
	emit(b, benchResult{Key: "rss_session", Name: "VmRSS during a session (list, join, disconnect; sampled after each join)", Unit: "MiB",
		Samples: rss, Note: fmt.Sprintf("first %.2f, final %.2f", rss[0], rss[len(rss)-1])})
}

// BenchmarkBluenetIdle: a freshly started daemon, advertising, no central,
// Wi-Fi disconnected with 20 networks in range; from 10 s after it
// advertises, over the idle window, in six slices: CPU time (utime+stime)
// and wake-ups (voluntary context switches summed over its threads); VmRSS
// at the start and the end.
func BenchmarkBluenetIdle(b *testing.B) {
	vmtest.DumpLogsOnFailure(b, "bluenet", "bluetoothd", "NetworkManager")
	vmtest.Sh(b, "AP_IF=wlan1 ap_multi_start BenchNet 20 && nm_wait_ssids BenchNet 20 120")
	b.Cleanup(func() { _, _ = vmtest.ShErr("AP_IF=wlan1 ap_stop") })
	p := startBluenet(b)
	pid := p.pid()
	rss0 := readProc(b, pid).rssKiB
	// Let the start-up settle (the wifi backend's first reads, the first
	// status): the idle window starts 10 s after the daemon advertises.
	time.Sleep(10 * time.Second)
	nmSignals := countSignals(b, "org.freedesktop.NetworkManager")
	s0 := readProc(b, pid)
	const windows = 6
	var cpu, wake, invol []float64
	prev := s0
	for i := 0; i < windows; i++ {
		time.Sleep(*benchIdle / windows)
		s := readProc(b, pid)
		cpu = append(cpu, float64(s.cpuTicks-prev.cpuTicks)*10) // USER_HZ = 100: 10 ms per tick
		wake = append(wake, float64(s.voluntary-prev.voluntary))
		invol = append(invol, float64(s.involunt-prev.involunt))
		prev = s
	}
	nmCount := nmSignals()
	win := (*benchIdle / windows).Round(time.Second)
	emit(b, benchResult{Key: "rss_idle_start", Name: "VmRSS right after start", Unit: "MiB", Samples: []float64{float64(rss0) / 1024}})
	emit(b, benchResult{Key: "rss_idle_end", Name: fmt.Sprintf("VmRSS after %v idle", *benchIdle), Unit: "MiB",
		Samples: []float64{float64(prev.rssKiB) / 1024}, Note: fmt.Sprintf("%d threads", prev.threads)})
	emit(b, benchResult{Key: "idle_cpu", Name: fmt.Sprintf("CPU time per %v idle (utime+stime)", win), Unit: "ms", Samples: cpu,
		Note: fmt.Sprintf("total %.0f ms over %v; 10 ms resolution", sum(cpu), *benchIdle)})
	emit(b, benchResult{Key: "idle_wakeups", Name: fmt.Sprintf("wake-ups per %v idle (voluntary ctxt switches)", win), Unit: "count", Samples: wake,
		Note: fmt.Sprintf("total %.0f over %v, all threads; NetworkManager sent %d signals meanwhile", sum(wake), *benchIdle, nmCount)})
	emit(b, benchResult{Key: "idle_preempted", Name: fmt.Sprintf("involuntary ctxt switches per %v idle", win), Unit: "count", Samples: invol})
}

// countSignals counts the signals sender emits on the system bus from now
// until the returned function is called; it returns the count.
func countSignals(b *testing.B, sender string) func() int {
	b.Helper()
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		b.Fatal(err)
	}
	if err := conn.AddMatchSignal(dbus.WithMatchSender(sender)); err != nil {
		b.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 1024)
	conn.Signal(sigs)
	var mu sync.Mutex
	n := 0
	go func() {
		for range sigs {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		_ = conn.Close()
		return n
	}
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// BenchmarkImprov: per trial, a phone that has never seen the device
// discovers it by the Improv and by the Bluenet service UUID and connects
// (services resolved), interleaved; then Improv's Wi-Fi settings RPC →
// Provisioned (Current State notification) and → the RPC result, against
// the Bluenet profile's credentials write → Connected on the same running
// daemon (BenchmarkBluenetJoin's key join_connected).
func BenchmarkImprov(b *testing.B) {
	vmtest.DumpLogsOnFailure(b, "bluenet", "bluetoothd", "NetworkManager", "hostapd-wlan2", "hostapd-wlan3")
	aps := []vmtest.AP{
		{Iface: "wlan2", SSID: "BenchImpA", PSK: "bench-pass-a1"},
		{Iface: "wlan3", SSID: "BenchImpB", PSK: "bench-pass-b2"},
	}
	for _, ap := range aps {
		vmtest.StartAP(b, ap)
	}
	vmtest.ResetWiFi(b)
	b.Cleanup(func() { vmtest.ResetWiFi(b) })
	vmtest.Sh(b, "nm_wait_ssid BenchImpA 90 && nm_wait_ssid BenchImpB 90")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn := vmtest.SystemBus(b)
	startBluenet(b)
	c := benchCentral(b, ctx)
	res := map[string][]float64{}
	for i := 0; i < *benchTrials; i++ {
		for _, k := range []struct{ key, uuid string }{{"improv", improv.ServiceUUID}, {"bluenet", bluenet.ServiceUUID}} {
			forgetPeripheral(conn, c)
			t0 := time.Now()
			adv, err := c.Find(ctx, central.ScanFilter{UUIDs: []central.UUID{central.MustParseUUID(k.uuid)}})
			if err != nil {
				b.Fatalf("%s: discover: %v", k.key, err)
			}
			t1 := time.Now()
			p, err := c.Connect(ctx, adv.Address)
			if err != nil {
				b.Fatalf("%s: connect: %v", k.key, err)
			}
			t2 := time.Now()
			res[k.key+"_discover"] = append(res[k.key+"_discover"], ms(t1.Sub(t0)))
			res[k.key+"_connect"] = append(res[k.key+"_connect"], ms(t2.Sub(t0)))
			_ = p.Disconnect(ctx)
		}
	}
	p, err := c.Connect(ctx, vmtest.PeripheralAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	ch := func(u string) *central.Characteristic {
		x, err := p.Characteristic(central.MustParseUUID(u))
		if err != nil {
			b.Fatal(err)
		}
		return x
	}
	states, stopStates, err := ch(improv.StateUUID).Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopStates()
	results, stopResults, err := ch(improv.RPCResultUUID).Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopResults()
	rpc := ch(improv.RPCCommandUUID)
	for i := 0; i < *benchTrials; i++ {
		ap := aps[i%len(aps)]
		if i > 0 {
			vmtest.Sh(b, "nmcli dev disconnect wlan0 >/dev/null")
			next(b, states, 30*time.Second, "Authorized", func(v []byte) bool { return bytes.Equal(v, []byte{byte(improv.StateAuthorized)}) })
		}
		for len(results) > 0 {
			<-results
		}
		pkt, err := improv.EncodeCommand(improv.CommandWiFiSettings, ap.SSID, ap.PSK)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := rpc.Write(ctx, pkt); err != nil {
			b.Fatal(err)
		}
		next(b, states, 90*time.Second, "Provisioned", func(v []byte) bool { return bytes.Equal(v, []byte{byte(improv.StateProvisioned)}) })
		t1 := time.Now()
		next(b, results, 30*time.Second, "RPC result", func(v []byte) bool { return len(v) > 0 && v[0] == byte(improv.CommandWiFiSettings) })
		t2 := time.Now()
		res["improv_provisioned"] = append(res["improv_provisioned"], ms(t1.Sub(t0)))
		res["improv_result"] = append(res["improv_result"], ms(t2.Sub(t0)))
	}
	emit(b, benchResult{Key: "improv_discover", Name: "Improv: scan → found by service UUID", Unit: "ms",
		Samples: res["improv_discover"], Baseline: "bluenet_discover"})
	emit(b, benchResult{Key: "improv_connect", Name: "Improv: scan → connected, services resolved", Unit: "ms",
		Samples: res["improv_connect"], Baseline: "bluenet_connect"})
	emit(b, benchResult{Key: "bluenet_discover", Name: "Bluenet: scan → found by service UUID", Unit: "ms",
		Samples: res["bluenet_discover"]})
	emit(b, benchResult{Key: "bluenet_connect", Name: "Bluenet: scan → connected, services resolved", Unit: "ms",
		Samples: res["bluenet_connect"]})
	emit(b, benchResult{Key: "improv_provisioned", Name: "Improv: Wi-Fi settings RPC → Provisioned notification", Unit: "ms",
		Samples: res["improv_provisioned"], Baseline: "join_connected"})
	emit(b, benchResult{Key: "improv_result", Name: "Improv: Wi-Fi settings RPC → RPC result (redirect URL)", Unit: "ms",
		Samples: res["improv_result"]})
}
