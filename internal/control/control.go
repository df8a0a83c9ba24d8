// Package control is the local channel through which `bluenet allow` asks
// the running daemon to open its setup window: a Unix socket (default
// /run/bluenet/control) that only root, the daemon's own user and, if
// configured, one group can use. It never listens on the network.
//
// One request per connection, one JSON object per line each way:
//
//	→ {"cmd":"allow","duration":"2m0s"}     (duration empty or "0s": the daemon's default)
//	← {"ok":true,"until":"2026-…Z"}         or {"ok":false,"error":"…"}
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultPath returns the socket's default path: control in
// $RUNTIME_DIRECTORY (set by systemd's RuntimeDirectory=), else in
// /run/bluenet.
func DefaultPath() string {
	dir := os.Getenv("RUNTIME_DIRECTORY")
	if dir == "" {
		dir = "/run/bluenet"
	}
	return filepath.Join(dir, "control")
}

// MaxDuration is the longest authorization a request may ask for.
const MaxDuration = 24 * time.Hour

// Errors.
var (
	// ErrNotRunning means no daemon listens on the socket.
	ErrNotRunning = errors.New("control: the bluenet daemon is not running (or listens elsewhere)")
	// ErrPermission means the caller may not use the socket.
	ErrPermission = errors.New("control: permission denied (run as root or as a member of the daemon's control group)")
)

// request and response are the wire format.
type request struct {
	Cmd      string `json:"cmd"`
	Duration string `json:"duration,omitempty"`
}

type response struct {
	OK    bool      `json:"ok"`
	Until time.Time `json:"until,omitzero"`
	Error string    `json:"error,omitempty"`
}

// Config configures a Server.
type Config struct {
	// Path is the socket's path; default DefaultPath(). Its directory is
	// created (0755) if missing.
	Path string
	// GID, if >= 0, is a group whose members may use the socket besides
	// root and the daemon's own user: the socket is chowned to it and made
	// 0660. Negative (use NoGroup): the socket is 0600.
	GID int
	// Allow opens the setup window for d (0: the window's default) and
	// returns until when it is open. Required.
	Allow func(ctx context.Context, d time.Duration) (until time.Time, err error)
	// Logger receives one line per request; default: discard.
	Logger *slog.Logger
}

// NoGroup is Config.GID's value for "root and the daemon's user only".
const NoGroup = -1

// Server serves the control socket.
type Server struct {
	cfg  Config
	ln   *net.UnixListener
	log  *slog.Logger
	wg   sync.WaitGroup
	once sync.Once
}

// Listen creates the socket (replacing a stale one that nobody answers on)
// with its permissions set before anyone can connect, and returns a Server
// ready for Serve.
func Listen(cfg Config) (*Server, error) {
	if cfg.Allow == nil {
		return nil, errors.New("control: Config.Allow is required")
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := removeStale(cfg.Path); err != nil {
		return nil, err
	}
	// Create it in a private (0700) directory first, set owner and mode,
	// then rename it into place: nobody can connect while it is too open.
	tmpDir, err := os.MkdirTemp(filepath.Dir(cfg.Path), ".control")
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", cfg.Path, err)
	}
	mode := os.FileMode(0o600)
	if cfg.GID >= 0 {
		mode = 0o660
		if err := os.Chown(tmp, -1, cfg.GID); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("control: give %s to group %d: %w", cfg.Path, cfg.GID, err)
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Rename(tmp, cfg.Path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	return &Server{cfg: cfg, ln: ln, log: log}, nil
}

// removeStale removes a socket left at path by a daemon that is gone; it
// refuses to touch anything that is not a socket or that answers.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return fmt.Errorf("control: another daemon listens on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control: remove stale %s: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Serve answers requests until ctx ends or Close is called; it then removes
// the socket and returns nil.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				_ = s.Close() // waits for a Close in progress to remove the socket
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			_ = s.Close()
			s.wg.Wait()
			return fmt.Errorf("control: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

// Close stops listening and removes the socket.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ln.Close()
		_ = os.Remove(s.cfg.Path)
	})
	return err
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// Read the request first, so a refusal reaches a client that is still
	// writing.
	line, rerr := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	cred, err := peerCred(c)
	if err != nil {
		s.log.Warn("control: no peer credentials", "err", err)
		s.reply(c, response{Error: "no peer credentials"})
		return
	}
	if !s.allowed(cred) {
		s.log.Warn("control: refused", "uid", cred.UID, "gid", cred.GID, "pid", cred.PID)
		s.reply(c, response{Error: ErrPermission.Error()})
		return
	}
	if rerr != nil {
		s.reply(c, response{Error: "bad request: no line"})
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		s.reply(c, response{Error: "bad request: not JSON"})
		return
	}
	switch req.Cmd {
	case "allow":
		var d time.Duration
		if req.Duration != "" {
			d, err = time.ParseDuration(req.Duration)
			if err != nil || d < 0 || d > MaxDuration {
				s.reply(c, response{Error: fmt.Sprintf("bad duration %q (0 to %v)", req.Duration, MaxDuration)})
				return
			}
		}
		until, err := s.cfg.Allow(ctx, d)
		if err != nil {
			s.log.Warn("control: allow failed", "uid", cred.UID, "err", err)
			s.reply(c, response{Error: err.Error()})
			return
		}
		s.log.Info("control: setup window opened", "uid", cred.UID, "pid", cred.PID, "for", d, "until", until)
		s.reply(c, response{OK: true, Until: until})
	default:
		s.reply(c, response{Error: fmt.Sprintf("unknown command %q", req.Cmd)})
	}
}

func (s *Server) reply(c net.Conn, r response) {
	b, _ := json.Marshal(r)
	_, _ = c.Write(append(b, '\n'))
}

// Cred is a peer's credentials as the kernel reports them (SO_PEERCRED).
type Cred struct {
	PID, UID, GID int
}

// allowed: root, the daemon's own user, or the configured group (as the
// peer's primary group or a supplementary one from /proc). When the peer's
// supplementary groups cannot be read (systemd's ProtectProc=invisible),
// the kernel's own check when the peer connected — write permission on the
// 0660 socket, which only the group has — stands for it.
func (s *Server) allowed(c Cred) bool {
	if c.UID == 0 || c.UID == os.Geteuid() {
		return true
	}
	if s.cfg.GID < 0 {
		return false
	}
	if c.GID == s.cfg.GID {
		return true
	}
	groups, err := procGroups(c.PID)
	if err != nil {
		return true
	}
	for _, g := range groups {
		if g == s.cfg.GID {
			return true
		}
	}
	return false
}

// Allow asks the daemon listening on path (DefaultPath() when empty) to
// open its setup window for d (0: the daemon's default) and returns until
// when it is open.
func Allow(ctx context.Context, path string, d time.Duration) (time.Time, error) {
	if d < 0 || d > MaxDuration {
		return time.Time{}, fmt.Errorf("control: duration %v out of range (0 to %v)", d, MaxDuration)
	}
	if path == "" {
		path = DefaultPath()
	}
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "unix", path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrPermission):
			return time.Time{}, fmt.Errorf("%w: %s", ErrPermission, path)
		case errors.Is(err, os.ErrNotExist), isConnRefused(err):
			return time.Time{}, fmt.Errorf("%w: %s", ErrNotRunning, path)
		}
		return time.Time{}, fmt.Errorf("control: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := request{Cmd: "allow"}
	if d > 0 {
		req.Duration = d.String()
	}
	b, _ := json.Marshal(req)
	_, werr := c.Write(append(b, '\n'))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err != nil {
		if werr != nil {
			return time.Time{}, fmt.Errorf("control: send: %w", werr)
		}
		if ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("control: %w", ctx.Err())
		}
		return time.Time{}, fmt.Errorf("control: no answer from the daemon: %w", err)
	}
	var r response
	if err := json.Unmarshal(line, &r); err != nil {
		return time.Time{}, fmt.Errorf("control: bad answer from the daemon: %w", err)
	}
	if !r.OK {
		if r.Error == ErrPermission.Error() {
			return time.Time{}, ErrPermission
		}
		return time.Time{}, fmt.Errorf("control: the daemon refused: %s", r.Error)
	}
	return r.Until, nil
}
