//go:build vm

package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/internal/vmtest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
)

var benchSession = flag.Duration("bluenet.session", 10*time.Minute, "length of BenchmarkBluenetSession")

// memSample is one reading of the daemon's resident memory.
type memSample struct {
	rss, anon, file, thr int // KiB, threads
}

func readMem(pid int) (memSample, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, err
	}
	// The binary runs from the guest's tmpfs, whose pages count as RssShmem.
	return memSample{rss: statusField(status, "VmRSS"), anon: statusField(status, "RssAnon"),
		file: statusField(status, "RssFile") + statusField(status, "RssShmem"), thr: statusField(status, "Threads")}, nil
}

// logAnonMappings logs the process's mappings that hold more than 64 KiB of
// anonymous memory (/proc/PID/smaps).
func logAnonMappings(b *testing.B, pid int) {
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		b.Log(err)
		return
	}
	var head string
	var lines []string
	for _, l := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			head = l
			continue
		}
		if len(f) == 3 && f[0] == "Anonymous:" {
			if n, _ := strconv.Atoi(f[1]); n > 64 {
				lines = append(lines, fmt.Sprintf("%6d kB anon  %s", n, head))
			}
		}
	}
	b.Logf("anonymous mappings over 64 kB at the end:\n%s", strings.Join(lines, "\n"))
}

// runtimeStats asks the daemon for its Go runtime counts (SIGUSR1: it logs
// them after a collection) and returns the fields of that log line.
func runtimeStats(b *testing.B, d *benchProc) map[string]int {
	b.Helper()
	t0 := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		b.Fatal(err)
	}
	d.waitLineAfter(b, t0, 10*time.Second, "msg=runtime ")
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.lines) - 1; i >= 0; i-- {
		if l := d.lines[i]; l.at.After(t0) && strings.Contains(l.text, "msg=runtime ") {
			out := map[string]int{}
			for _, f := range strings.Fields(l.text) {
				if k, v, ok := strings.Cut(f, "="); ok {
					if n, err := strconv.Atoi(v); err == nil {
						out[k] = n
					}
				}
			}
			return out
		}
	}
	b.Fatal("no runtime line")
	return nil
}

// BenchmarkBluenetSession: the long phone session. For
// -bluenet.session (10 min), a central repeats: connect, list the
// networks, a wrong password for the other network (the device stays
// where it is), the right one (it moves), disconnect. VmRSS (and its
// anonymous and file-backed parts) is sampled every second; the Go
// runtime's goroutine and live-heap counts (SIGUSR1) are compared between
// the start, the end of the second cycle (what is made once, at the first
// connection or the first join of each network, is there by then) and the
// end, all with no central connected.
func BenchmarkBluenetSession(b *testing.B) {
	aps := joinAPs(b)
	ctx, cancel := context.WithTimeout(context.Background(), *benchSession+10*time.Minute)
	defer cancel()
	d := startBluenet(b)
	c := benchCentral(b, ctx)
	time.Sleep(3 * time.Second)
	before := runtimeStats(b, d)

	var samples []memSample // the sampler's until it closes sampled
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if s, err := readMem(d.pid()); err == nil {
				samples = append(samples, s)
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	}()

	cycles, wrong, right := 0, 0, 0
	var warm map[string]int // after the second cycle: each network joined once
	var joinMs []float64
	end := time.Now().Add(*benchSession)
	for time.Now().Before(end) {
		ap := aps[cycles%len(aps)]
		p, err := c.Connect(ctx, vmtest.PeripheralAddress)
		if err != nil {
			b.Fatalf("cycle %d: %v", cycles, err)
		}
		chars := map[string]*central.Characteristic{}
		for _, u := range []string{bluenet.StateUUID, bluenet.SSIDUUID, bluenet.CredentialsUUID, bluenet.ResultUUID, bluenet.NetworksUUID} {
			if chars[u], err = p.Characteristic(central.MustParseUUID(u)); err != nil {
				b.Fatal(err)
			}
		}
		// Subscribed as a phone is; the state is read after the join.
		_, stopStates, err := chars[bluenet.StateUUID].Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		results, stopResults, err := chars[bluenet.ResultUUID].Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		nets, stopNets, err := chars[bluenet.NetworksUUID].Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		next(b, nets, 30*time.Second, "a network", func(v []byte) bool { return len(v) > 0 })
		time.Sleep(time.Second)
		stopNets()
		join := func(psk string) byte {
			for len(results) > 0 {
				<-results
			}
			if err := chars[bluenet.SSIDUUID].Write(ctx, []byte(ap.SSID)); err != nil {
				b.Fatal(err)
			}
			if err := chars[bluenet.CredentialsUUID].Write(ctx, []byte(psk)); err != nil {
				b.Fatal(err)
			}
			// In progress first: a value notified before it is the last join's.
			next(b, results, 30*time.Second, "join in progress", func(v []byte) bool {
				return len(v) > 0 && v[0] == byte(bluenet.ResultInProgress)
			})
			v := next(b, results, 90*time.Second, "a join result", func(v []byte) bool {
				return len(v) > 0 && v[0] != byte(bluenet.ResultInProgress) && v[0] != byte(bluenet.ResultNone)
			})
			return v[0]
		}
		if r := join("wrong-" + ap.PSK); r != byte(bluenet.ResultWrongPassword) {
			b.Fatalf("cycle %d: wrong password: result %#x", cycles, r)
		}
		wrong++
		t0 := time.Now()
		if r := join(ap.PSK); r != byte(bluenet.ResultOK) {
			b.Fatalf("cycle %d: right password: result %#x", cycles, r)
		}
		want := append([]byte{3}, ap.SSID...)
		if v, err := chars[bluenet.StateUUID].Read(ctx); err != nil || !bytes.Equal(v, want) {
			b.Fatalf("cycle %d: state % x after the join (%v)", cycles, v, err)
		}
		joinMs = append(joinMs, ms(time.Since(t0)))
		right++
		hangUp(b, ctx, p, stopStates, stopResults)
		cycles++
		if cycles == 2 {
			time.Sleep(2 * time.Second) // as at the end: the daemon sees the central go
			warm = runtimeStats(b, d)
		}
	}
	time.Sleep(3 * time.Second) // the daemon sees the last central go
	logAnonMappings(b, d.pid())
	after := runtimeStats(b, d)
	close(stopSampling)
	<-sampled

	var rss, anon, file []float64
	peak := samples[0]
	for _, s := range samples {
		rss = append(rss, float64(s.rss)/1024)
		anon = append(anon, float64(s.anon)/1024)
		file = append(file, float64(s.file)/1024)
		if s.rss > peak.rss {
			peak = s
		}
	}
	last := samples[len(samples)-1]
	note := fmt.Sprintf("%d cycles in %v (%d wrong, %d right passwords); %d samples; max %.2f MiB (anon %.2f, file %.2f, %d threads); final %.2f (anon %.2f, file %.2f)",
		cycles, *benchSession, wrong, right, len(samples), float64(peak.rss)/1024, float64(peak.anon)/1024, float64(peak.file)/1024, peak.thr,
		float64(last.rss)/1024, float64(last.anon)/1024, float64(last.file)/1024)
	emit(b, benchResult{Key: "session_rss", Name: "VmRSS every second of a phone session (connect, list, wrong, right, disconnect)", Unit: "MiB", Samples: rss, Note: note})
	emit(b, benchResult{Key: "session_rss_anon", Name: "  of which anonymous (heap, stacks, runtime)", Unit: "MiB", Samples: anon})
	emit(b, benchResult{Key: "session_rss_file", Name: "  of which file-backed (the binary's pages)", Unit: "MiB", Samples: file})
	emit(b, benchResult{Key: "session_join", Name: "right password → Result ok, in the session", Unit: "ms", Samples: joinMs})
	runtimeNote := fmt.Sprintf("start → end: goroutines %d → %d, heap objects %d → %d, live heap %d → %d KiB, heap held %d → %d KiB, stacks %d → %d KiB",
		before["goroutines"], after["goroutines"], before["heap_objects"], after["heap_objects"], before["heap_live_kib"], after["heap_live_kib"],
		before["heap_held_kib"], after["heap_held_kib"], before["stacks_kib"], after["stacks_kib"])
	emit(b, benchResult{Key: "session_goroutines", Name: "goroutines at the start and the end of the session", Unit: "",
		Samples: []float64{float64(before["goroutines"]), float64(after["goroutines"])}, Note: runtimeNote})
	emit(b, benchResult{Key: "session_heap_live", Name: "live heap after a collection, start and end of the session", Unit: "KiB",
		Samples: []float64{float64(before["heap_live_kib"]), float64(after["heap_live_kib"])}})
	warmNote := fmt.Sprintf("after the second cycle → end (%d cycles): goroutines %d → %d, heap objects %d → %d, live heap %d → %d KiB",
		cycles, warm["goroutines"], after["goroutines"], warm["heap_objects"], after["heap_objects"], warm["heap_live_kib"], after["heap_live_kib"])
	emit(b, benchResult{Key: "session_heap_live_warm", Name: "live heap after a collection, after the second cycle and at the end", Unit: "KiB",
		Samples: []float64{float64(warm["heap_live_kib"]), float64(after["heap_live_kib"])}, Note: warmNote})
	if after["goroutines"] != before["goroutines"] {
		b.Errorf("goroutines %d at the start, %d at the end", before["goroutines"], after["goroutines"])
	}
}
