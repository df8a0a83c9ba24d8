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
