package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestGoBenchLine(t *testing.T) {
	tests := []struct {
		line string
		want map[string]float64 // key → sample
	}{
		{"BenchmarkGATTRead-2   \t 1\t5239165690 ns/op\t 25.10 p50-ms\t 46.99 p99-ms",
			map[string]float64{"gattread_p50_ms": 25.10, "gattread_p99_ms": 46.99}},
		{"BenchmarkGATTNotify-2 \t 1\t 738490900 ns/op\t 270.8 notifications/s",
			map[string]float64{"gattnotify_notifications_per_s": 270.8}},
		{"BenchmarkBluenetRead-2 \t 1\t 7273015900 ns/op\t 18.17 read-ccc-ms", nil}, // has BENCH lines
		{"--- BENCH: BenchmarkGATTRead-2", nil},
		{"BenchmarkGATTRead-2 junk", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := goBenchLine(tt.line)
		if len(got) != len(tt.want) {
			t.Errorf("goBenchLine(%q) = %+v, want %d metrics", tt.line, got, len(tt.want))
			continue
		}
		for _, m := range got {
			if v, ok := tt.want[m.Key]; !ok || len(m.Samples) != 1 || m.Samples[0] != v {
				t.Errorf("goBenchLine(%q): metric %s = %v, want %v", tt.line, m.Key, m.Samples, v)
			}
		}
	}
}

func TestFinish(t *testing.T) {
	rep := &Report{Metrics: []Metric{
		{Key: "a", Samples: []float64{5, 1, 3, 2}, Baseline: "b"},
		{Key: "b", Samples: []float64{1, 1, 1}},
		{Key: "c", Samples: []float64{7}, Baseline: "missing"},
		{Key: "empty"},
	}}
	finish(rep)
	a, b, c := rep.Metrics[0], rep.Metrics[1], rep.Metrics[2]
	if a.N != 4 || a.Median != 2.5 || a.Min != 1 || a.Max != 5 || a.P90 != 5 || a.Ratio != 2.5 {
		t.Errorf("a = %+v", a)
	}
	if b.Median != 1 || b.Ratio != 0 {
		t.Errorf("b = %+v", b)
	}
	if c.Median != 7 || c.Ratio != 0 {
		t.Errorf("c = %+v", c)
	}
	var out bytes.Buffer
	printTable(&out, rep, &Report{Commit: "0123456789", Metrics: []Metric{{Key: "a", Median: 2}}})
	if !strings.Contains(out.String(), "2.50× b") || !strings.Contains(out.String(), "+25%") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestPercentile(t *testing.T) {
	s := make([]float64, 200)
	for i := range s {
		s[i] = float64(i + 1)
	}
	if got := percentile(s, 0.99); got != 198 {
		t.Errorf("p99 of 1..200 = %v, want 198", got)
	}
	if got := percentile(s, 0.5); got != 100 {
		t.Errorf("p50 of 1..200 = %v, want 100", got)
	}
	if got := median([]float64{1, 2, 3}); got != 2 {
		t.Errorf("median = %v", got)
	}
}
