package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shortDir returns a world-traversable directory with a short path (socket
// paths are limited to 108 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

type recorder struct {
	mu    sync.Mutex
	calls []time.Duration
	err   error
}

func (r *recorder) allow(_ context.Context, d time.Duration) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, d)
	if r.err != nil {
		return time.Time{}, r.err
	}
	if d == 0 {
		d = time.Minute
	}
	return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(d), nil
}

// serve starts a server on a fresh socket and stops it with the test.
func serve(t *testing.T, cfg Config) (*Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	if cfg.Allow == nil {
		cfg.Allow = rec.allow
	}
	if cfg.Path == "" {
		cfg.Path = filepath.Join(shortDir(t), "control")
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after Serve: %v", err)
		}
	})
	return s, rec
}

func TestAllow(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		d         time.Duration
		handler   error
		wantD     time.Duration
		wantUntil time.Time
		wantErr   string
	}{
		{name: "default duration", d: 0, wantD: 0, wantUntil: base.Add(time.Minute)},
		{name: "given duration", d: 5 * time.Minute, wantD: 5 * time.Minute, wantUntil: base.Add(5 * time.Minute)},
		{name: "sub-second", d: 1500 * time.Millisecond, wantD: 1500 * time.Millisecond, wantUntil: base.Add(1500 * time.Millisecond)},
		{name: "handler error reaches the client", d: time.Minute, handler: errors.New("window: mode is always"), wantD: time.Minute, wantErr: "window: mode is always"},
		{name: "negative refused by the client", d: -time.Second, wantErr: "out of range"},
		{name: "too long refused by the client", d: MaxDuration + time.Second, wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec := serve(t, Config{GID: NoGroup})
			rec.err = tt.handler
			until, err := Allow(context.Background(), s.Path(), tt.d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Allow: %v, want error with %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Allow: %v", err)
			} else if !until.Equal(tt.wantUntil) {
				t.Errorf("until %v, want %v", until, tt.wantUntil)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			reached := tt.wantErr == "" || tt.handler != nil
			if reached && (len(rec.calls) != 1 || rec.calls[0] != tt.wantD) {
				t.Errorf("handler calls %v, want [%v]", rec.calls, tt.wantD)
			}
			if !reached && len(rec.calls) != 0 {
				t.Errorf("handler called %v for a request the client refuses", rec.calls)
			}
		})
	}
}

// TestBadRequests sends raw lines: the daemon answers with an error and the
// handler is not called.
func TestBadRequests(t *testing.T) {
	tests := []struct{ line, want string }{
		{"hello\n", "not JSON"},
		{`{"cmd":"allow","duration":"forever"}` + "\n", "bad duration"},
		{`{"cmd":"allow","duration":"-1s"}` + "\n", "bad duration"},
		{`{"cmd":"allow","duration":"25h"}` + "\n", "bad duration"},
		{`{"cmd":"reboot"}` + "\n", "unknown command"},
		{`{"cmd":"allow"}`, "no line"}, // no newline: the client half-closes
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s, rec := serve(t, Config{GID: NoGroup})
			c, err := net.Dial("unix", s.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.line); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.UnixConn).CloseWrite()
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			var r response
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("answer %q: %v", b, err)
			}
			if r.OK || !strings.Contains(r.Error, tt.want) {
				t.Errorf("answer %+v, want error with %q", r, tt.want)
			}
			if len(rec.calls) != 0 {
				t.Errorf("handler called for a bad request")
			}
		})
	}
}

func TestSocketMode(t *testing.T) {
	gid := os.Getgid()
	tests := []struct {
		name string
		gid  int
		mode os.FileMode
	}{
		{"root and own user only", NoGroup, 0o600},
		{"a group", gid, 0o660},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := serve(t, Config{GID: tt.gid})
			fi, err := os.Lstat(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tt.mode {
				t.Errorf("socket mode %v, want socket %v", fi.Mode(), tt.mode)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && tt.gid >= 0 && int(st.Gid) != tt.gid {
				t.Errorf("socket group %d, want %d", st.Gid, tt.gid)
			}
			// No temporary name is left next to it.
			ents, _ := os.ReadDir(filepath.Dir(s.Path()))
			if len(ents) != 1 {
				t.Errorf("directory holds %d entries, want only the socket", len(ents))
			}
		})
	}
}

func TestListenPath(t *testing.T) {
	t.Run("stale socket is replaced", func(t *testing.T) {
		p := filepath.Join(shortDir(t), "control")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		_ = ln.Close() // the file stays, nobody answers
		s, _ := serve(t, Config{Path: p, GID: NoGroup})
		if _, err := Allow(context.Background(), s.Path(), 0); err != nil {
			t.Fatalf("Allow after replacing a stale socket: %v", err)
		}
	})
	t.Run("live socket is not taken over", func(t *testing.T) {
		s, _ := serve(t, Config{GID: NoGroup})
		_, err := Listen(Config{Path: s.Path(), GID: NoGroup, Allow: (&recorder{}).allow})
		if err == nil || !strings.Contains(err.Error(), "another daemon") {
			t.Fatalf("second Listen: %v", err)
		}
		if _, err := Allow(context.Background(), s.Path(), 0); err != nil {
			t.Fatalf("first server broken by the second Listen: %v", err)
		}
	})
	t.Run("a regular file is not removed", func(t *testing.T) {
		p := filepath.Join(shortDir(t), "control")
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Listen(Config{Path: p, GID: NoGroup, Allow: (&recorder{}).allow}); err == nil {
			t.Fatal("Listen replaced a regular file")
		}
		if b, _ := os.ReadFile(p); string(b) != "x" {
			t.Fatal("regular file changed")
		}
	})
	t.Run("missing directory is created", func(t *testing.T) {
		p := filepath.Join(shortDir(t), "run", "control")
		serve(t, Config{Path: p, GID: NoGroup})
	})
	t.Run("Allow is required", func(t *testing.T) {
		if _, err := Listen(Config{Path: filepath.Join(shortDir(t), "c")}); err == nil {
			t.Fatal("Listen without Allow succeeded")
		}
	})
}

func TestClientErrors(t *testing.T) {
	dir := shortDir(t)
	_, err := Allow(context.Background(), filepath.Join(dir, "none"), 0)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("no socket: %v, want ErrNotRunning", err)
	}
	// A socket nobody answers on.
	p := filepath.Join(dir, "dead")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := Allow(context.Background(), p, 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("dead socket: %v, want ErrNotRunning", err)
	}
	// A server that never answers: the context ends the wait.
	q := filepath.Join(dir, "mute")
	mute, err := net.Listen("unix", q)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		c, err := mute.Accept()
		if err == nil {
			time.Sleep(5 * time.Second)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Allow(ctx, q, 0); err == nil {
		t.Error("mute server: no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("mute server: waited %v despite the context", d)
	}
}

func TestAllowed(t *testing.T) {
	self := os.Geteuid()
	other := 54321
	if self == other {
		other++
	}
	groups, _ := os.Getgroups()
	tests := []struct {
		name string
		gid  int
		cred Cred
		want bool
	}{
		{"root", NoGroup, Cred{PID: 1, UID: 0, GID: 0}, true},
		{"the daemon's own user", NoGroup, Cred{PID: 1, UID: self, GID: 999}, true},
		{"another user, no group configured", NoGroup, Cred{PID: os.Getpid(), UID: other, GID: 100}, false},
		{"another user, primary group matches", 4242, Cred{PID: os.Getpid(), UID: other, GID: 4242}, true},
		{"another user, not in the group", 4242, Cred{PID: os.Getpid(), UID: other, GID: 100}, false},
		// /proc unreadable: the kernel's check on the 0660 socket stands.
		{"another user, groups unreadable", 4242, Cred{PID: 1 << 30, UID: other, GID: 100}, true},
	}
	if len(groups) > 0 {
		g := groups[len(groups)-1]
		tests = append(tests, struct {
			name string
			gid  int
			cred Cred
			want bool
		}{"another user, supplementary group matches", g, Cred{PID: os.Getpid(), UID: other, GID: g + 1}, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{cfg: Config{GID: tt.gid}}
			if got := s.allowed(tt.cred); got != tt.want {
				t.Errorf("allowed(%+v) with group %d = %v, want %v", tt.cred, tt.gid, got, tt.want)
			}
		})
	}
}

// TestOtherUserRefused runs the client as nobody (needs root to switch):
// once stopped by the socket's mode (the kernel), once by SO_PEERCRED with
// the socket opened to everyone.
func TestOtherUserRefused(t *testing.T) {
	if os.Getenv("CONTROL_HELPER") != "" {
		t.Skip("helper process")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user (CI runs as root)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := shortDir(t)
	bin := filepath.Join(dir, "helper")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		chmod os.FileMode // 0: leave as Listen made it
		want  error
	}{
		{"socket mode 0600", 0, ErrPermission},
		{"socket opened to all, peer credentials refuse", 0o666, ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec := serve(t, Config{Path: filepath.Join(dir, "c"), GID: NoGroup})
			if tt.chmod != 0 {
				if err := os.Chmod(s.Path(), tt.chmod); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "-test.run=^TestHelperAllow$", "-test.v")
			cmd.Env = append(os.Environ(), "CONTROL_HELPER="+s.Path())
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "RESULT: "+tt.want.Error()) {
				t.Errorf("helper said:\n%s\nwant %q", out, tt.want)
			}
			if len(rec.calls) != 0 {
				t.Errorf("handler called for another user: %v", rec.calls)
			}
		})
	}
}

// TestHelperAllow is the client side of TestOtherUserRefused.
func TestHelperAllow(t *testing.T) {
	p := os.Getenv("CONTROL_HELPER")
	if p == "" {
		t.Skip("run by TestOtherUserRefused")
	}
	_, err := Allow(context.Background(), p, 0)
	switch {
	case errors.Is(err, ErrPermission):
		fmt.Println("RESULT: " + ErrPermission.Error())
	default:
		fmt.Printf("RESULT: %v\n", err)
	}
}
