package statusfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type status struct {
	State string `json:"state"`
}

func TestWriteRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "status.json")
	if _, _, err := Read(p, &status{}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Read(missing) = %v, want ErrNotRunning", err)
	}
	if err := Write(p, status{State: "connected"}); err != nil {
		t.Fatal(err)
	}
	var got status
	pid, _, err := Read(p, &got)
	if err != nil || pid != os.Getpid() || got.State != "connected" {
		t.Fatalf("Read = %v, %d, %v", got, pid, err)
	}
	// A file left by a process that has exited means "not running".
	if err := os.WriteFile(p, []byte(`{"pid": 999999999, "status": {"state": "connected"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(p, &got); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Read(stale) = %v, want ErrNotRunning", err)
	}
	if err := os.WriteFile(p, []byte(`garbage`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(p, &got); err == nil || errors.Is(err, ErrNotRunning) {
		t.Fatalf("Read(garbage) = %v, want a parse error", err)
	}
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}
