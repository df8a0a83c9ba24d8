package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/internal/control"
)

func TestAllowCommand(t *testing.T) {
	dir, err := os.MkdirTemp("", "allow")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "control")
	var mu sync.Mutex
	var got []time.Duration
	srv, err := control.Listen(control.Config{Path: sock, GID: control.NoGroup,
		Allow: func(_ context.Context, d time.Duration) (time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, d)
			if d == 0 {
				d = time.Minute
			}
			return time.Now().Add(d), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	tests := []struct {
		name     string
		args     []string
		env      string // BLUENET_CONTROL
		wantD    []time.Duration
		wantOut  string
		wantCode int
	}{
		{"default duration", []string{"allow", "--control", sock}, "", []time.Duration{0}, "setup window open until", exitOK},
		{"go duration", []string{"allow", "2m", "--control", sock}, "", []time.Duration{2 * time.Minute}, "setup window open until", exitOK},
		{"whole seconds", []string{"allow", "90", "--control", sock}, "", []time.Duration{90 * time.Second}, "setup window open until", exitOK},
		{"socket from the environment", []string{"allow", "30s"}, sock, []time.Duration{30 * time.Second}, "setup window open until", exitOK},
		{"bad duration", []string{"allow", "soon", "--control", sock}, "", nil, "", exitUsage},
		{"zero duration", []string{"allow", "0s", "--control", sock}, "", nil, "", exitUsage},
		{"too long", []string{"allow", "48h", "--control", sock}, "", nil, "", exitUsage},
		{"two arguments", []string{"allow", "1m", "2m", "--control", sock}, "", nil, "", exitUsage},
		{"no daemon", []string{"allow", "--control", filepath.Join(dir, "none")}, "", nil, "", exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			if tt.env != "" {
				t.Setenv("BLUENET_CONTROL", tt.env)
			}
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(new(bytes.Buffer))
			root.SetArgs(append(tt.args, "--config", empty))
			err := root.ExecuteContext(context.Background())
			if c := exitCode(err); c != tt.wantCode {
				t.Fatalf("exit code %d (%v), want %d", c, err, tt.wantCode)
			}
			if tt.name == "no daemon" && !errors.Is(err, control.ErrNotRunning) {
				t.Errorf("no daemon: %v, want ErrNotRunning", err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(tt.wantD) || (len(got) == 1 && got[0] != tt.wantD[0]) {
				t.Errorf("daemon asked for %v, want %v", got, tt.wantD)
			}
		})
	}
}
