package statusfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// TestWriteConcurrent: the daemon publishes from its main loop and from a
// join at once. Every write succeeds, readers only ever see a whole file,
// and no temporary file is left behind.
func TestWriteConcurrent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status.json")
	if err := Write(p, status{State: "start"}); err != nil {
		t.Fatal(err)
	}
	const writers, writes = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*writes)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				if err := Write(p, status{State: fmt.Sprintf("writer %d, write %d", w, i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	stop := make(chan struct{})
	read := make(chan int)
	go func() {
		n := 0
		defer func() { read <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var got status
			if _, _, err := Read(p, &got); err != nil || got.State == "" {
				errs <- fmt.Errorf("read while writing: %q, %v", got.State, err)
				return
			}
			n++
		}
	}()
	wg.Wait()
	close(stop)
	if n := <-read; n == 0 {
		t.Errorf("the reader read nothing")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
		t.Errorf("files in the directory after the writes: %q", left)
	}
}
