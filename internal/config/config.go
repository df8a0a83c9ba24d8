// Package config parses Bluenet's configuration file (/etc/bluenet/bluenet.conf):
// KEY=value lines, as in a systemd EnvironmentFile.
package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxLine is the longest line Parse accepts, in bytes.
const MaxLine = 64 << 10

// Read parses the file name; see Parse. The error wraps the one from
// os.Open, so a missing file matches fs.ErrNotExist.
func Read(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	defer f.Close()
	return Parse(f, name)
}

// Parse reads KEY=value lines from r (name is used in errors). Blank lines
// and lines starting with # are ignored; spaces around the key and the value
// are trimmed; a value in matching single or double quotes loses them. A
// later line for the same key wins. A line without "=", with an empty key
// or a key holding spaces, or longer than MaxLine is an error.
func Parse(r io.Reader, name string) (map[string]string, error) {
	conf := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("configuration %s:%d: want KEY=value", name, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || strings.ContainsAny(k, " \t\v\f\r\u0085\u00a0") {
			return nil, fmt.Errorf("configuration %s:%d: want KEY=value, with a key of one word", name, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		conf[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("configuration %s: %w", name, err)
	}
	return conf, nil
}
