package main

import "testing"

func TestParsePasskey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"123456", 123456, true},
		{"000042", 42, true},
		{"12345", 0, false},
		{"1234567", 0, false},
		{"12a456", 0, false},
		{"-12345", 0, false},
		{"", 0, false},
	} {
		got, err := parsePasskey(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePasskey(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
