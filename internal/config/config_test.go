package config

import (
	"maps"
	"strings"
	"testing"
	"unicode"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"empty", "", map[string]string{}, ""},
		{"comments and blanks", "# c\n\n  # d\nA=1\n", map[string]string{"A": "1"}, ""},
		{"trim and quotes", ` A = "x y" ` + "\nB='q'\nC=\"unbalanced'\n", map[string]string{"A": "x y", "B": "q", "C": `"unbalanced'`}, ""},
		{"last wins", "A=1\nA=2\n", map[string]string{"A": "2"}, ""},
		{"value with =", "A=b=c\n", map[string]string{"A": "b=c"}, ""},
		{"no equals", "A=1\nnonsense\n", nil, "f:2: want KEY=value"},
		{"empty key", "=1\n", nil, "f:1: want KEY=value"},
		{"key with a space", "A B=1\n", nil, "f:1: want KEY=value"},
		{"line too long", "A=" + strings.Repeat("x", MaxLine) + "\n", nil, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), "f")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v, %v; want error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("Parse = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// FuzzParse: any input either fails or gives keys that are one non-empty
// word without "=" or a leading "#", and values without surrounding space
// unless they were quoted; writing the result back as KEY="value" lines
// parses to the same map.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "A=1", "# c\nA = 'x'\n", "=x", "A B=1", "A=\"\n", "A=b=c\r\nB=2", "\xff=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		conf, err := Parse(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var b strings.Builder
		for k, v := range conf {
			if k == "" || strings.Contains(k, "=") || strings.HasPrefix(k, "#") || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
				t.Fatalf("key %q", k)
			}
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("value %q holds a newline", v)
			}
			b.WriteString(k + "=\"" + v + "\"\n")
		}
		again, err := Parse(strings.NewReader(b.String()), "again")
		if err != nil || !maps.Equal(again, conf) {
			t.Fatalf("round trip of %q: %v, %v; want %v", b.String(), again, err, conf)
		}
	})
}
