package vmtest

import (
	"slices"
	"testing"
)

func TestGuestArgs(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"-test.v=true", "-test.run=TestX", "-test.timeout=10m0s"},
			[]string{"-test.v=true", "-test.run=TestX", "-test.timeout=10m0s"}},
		{[]string{"-test.testlogfile=/tmp/x", "-test.paniconexit0", "-test.gocoverdir=/tmp/c", "-test.count=1"},
			[]string{"-test.paniconexit0", "-test.count=1"}},
	}
	for _, tt := range tests {
		if got := guestArgs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("guestArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVMTimeout(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, 1200},
		{[]string{"-test.timeout=10m0s"}, 720},
		{[]string{"-test.timeout=0s"}, 1200},
		{[]string{"-test.timeout=junk"}, 1200},
	}
	for _, tt := range tests {
		if got := vmTimeout(tt.args); got != tt.want {
			t.Errorf("vmTimeout(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestShardArgs(t *testing.T) {
	names := []string{"TestA", "TestB", "TestC"}
	tests := []struct {
		name  string
		args  []string
		names []string
		n     int
		want  [][]string
	}{
		{"two VMs, in turn", []string{"-test.v=true", "-test.run=Test"}, names, 2, [][]string{
			{"-test.v=true", "-test.run=^(TestA|TestC)$"}, {"-test.v=true", "-test.run=^(TestB)$"}}},
		{"more VMs than tests", nil, names[:2], 4, [][]string{{"-test.run=^(TestA)$"}, {"-test.run=^(TestB)$"}}},
		{"one test", []string{"-test.run=TestA"}, names[:1], 2, [][]string{{"-test.run=TestA"}}},
		{"benchmarks stay in one VM", []string{"-test.bench=."}, names, 2, [][]string{{"-test.bench=."}}},
		{"subtests stay in one VM", []string{"-test.run=TestA/x"}, names, 2, [][]string{{"-test.run=TestA/x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shardArgs(tt.args, tt.names, tt.n)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("shardArgs = %q, want %q", got, tt.want)
			}
		})
	}
}
