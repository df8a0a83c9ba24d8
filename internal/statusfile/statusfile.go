// Package statusfile shares the running daemon's status with `bluenet
// status` through a small JSON file in the runtime directory.
package statusfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultPath returns where the daemon writes its status: in systemd's
// RuntimeDirectory when set, else /run/bluenet.
func DefaultPath() string {
	dir := os.Getenv("RUNTIME_DIRECTORY")
	if dir == "" {
		dir = "/run/bluenet"
	}
	return filepath.Join(dir, "status.json")
}

// ErrNotRunning means no live daemon has written the file.
var ErrNotRunning = errors.New("statusfile: the daemon is not running")

// envelope is the file's content: the status plus who wrote it and when.
type envelope struct {
	PID     int             `json:"pid"`
	Updated time.Time       `json:"updated"`
	Status  json.RawMessage `json:"status"`
}

// Write replaces the file at path with status, atomically: a reader sees
// the old file or the new one, never a part. Writers may run at once; each
// writes its own temporary file.
func Write(path string, status any) error {
	raw, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	b, err := json.MarshalIndent(envelope{PID: os.Getpid(), Updated: time.Now().UTC(), Status: raw}, "", "  ")
	if err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp's 0600: `bluenet status` runs as any user
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("statusfile: %w", err)
	}
	return nil
}

// Read loads the status written at path into status. It returns
// ErrNotRunning when the file is missing or its writer has exited.
func Read(path string, status any) (pid int, updated time.Time, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, time.Time{}, ErrNotRunning
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("statusfile: %w", err)
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return 0, time.Time{}, fmt.Errorf("statusfile: %s: %w", path, err)
	}
	if e.PID <= 0 || syscall.Kill(e.PID, 0) == syscall.ESRCH {
		return e.PID, e.Updated, ErrNotRunning
	}
	if err := json.Unmarshal(e.Status, status); err != nil {
		return 0, time.Time{}, fmt.Errorf("statusfile: %s: %w", path, err)
	}
	return e.PID, e.Updated, nil
}

// Remove deletes the file; a daemon calls it when it stops.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("statusfile: %w", err)
	}
	return nil
}
