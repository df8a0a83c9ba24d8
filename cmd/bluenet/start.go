package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/daemon"
	"github.com/bluenet-project/bluenet/gatt"
	"github.com/bluenet-project/bluenet/internal/button"
	"github.com/bluenet-project/bluenet/internal/control"
	"github.com/bluenet-project/bluenet/internal/setup"
	"github.com/bluenet-project/bluenet/internal/statusfile"
	"github.com/bluenet-project/bluenet/internal/statusrpc"
	"github.com/bluenet-project/bluenet/wifi/nm"
	"github.com/bluenet-project/bluenet/wifi/regdom"
)

type startOpts struct {
	hostname      string
	alias         string
	autoAdvertise bool
	keepBREDR     bool
	rpc           string
	joinTimeout   time.Duration
	statusFile    string
	protocols     []string
	improvURL     string
	identifyCmd   string
	stateDir      string
	window        string
	windowTime    time.Duration
	reopenAfter   time.Duration
	authorizedFor time.Duration
	buttonSpec    string
	notifyGap     time.Duration
	country       string
	remember      int
	control       string
	controlGroup  string
	memLimitMiB   int
	pairing       bool
	passkeyCmd    string
	keepBonds     bool
}

// defaultMemLimitMiB is the default of --memory-limit: none. A soft limit
// (debug.SetMemoryLimit: heap, stacks and runtime, not the binary's code)
// makes the runtime return freed memory above it at once, but one below what
// the runtime holds makes the collector run back to back: measured in the
// test bed, 8 MiB with GOGC 50 left VmRSS at ~12 MiB and idle CPU 10x
// higher. Set it (or GOMEMLIMIT/GOGC) per device after measuring.
const defaultMemLimitMiB = 0

// gcPercent is the daemon's GOGC unless the environment sets one. The
// daemon's live heap is small (~0.3 MiB after a collection, measured over a
// phone session in the test bed), so Go's default of 100 lets the heap grow
// to its 4 MiB floor before each collection, and the runtime keeps those
// pages: VmRSS reached 11.2 MiB in a 3-minute session with 0.35 MiB live.
// At 25 the floor is 1 MiB. It is set once the daemon advertises.
const gcPercent = 25

func newStartCmd(g *globals) *cobra.Command {
	o := &startOpts{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the daemon: publish the Bluenet service and join networks on request",
		Long: `Run the daemon: set up the Bluetooth adapter (alias, powered, discoverable,
BR/EDR off), publish the Bluenet GATT service, advertise it, and join the
networks that setup apps send. Stops cleanly on SIGTERM or Ctrl-C, leaving
Wi-Fi as it is.

Note: -h is the host name here, as in the original Bluenet; use --help.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStart(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.hostname, "hostname", "h", "", `host name sent to setup apps; "%IP" becomes the Wi-Fi IPv4 address (default: this machine's host name)`)
	f.StringVarP(&o.alias, "alias", "a", "", "Bluetooth name phones see (default: this machine's host name)")
	f.BoolVar(&o.autoAdvertise, "auto-advertise", false, "advertise only while Wi-Fi is not connected or a central is connected")
	f.BoolVar(&o.keepBREDR, "keep-bredr", false, "leave BR/EDR on (by default it is switched off on the adapter)")
	f.StringVar(&o.rpc, "rpc", statusrpc.DefaultAddr, `address of the XML-RPC status endpoint (is_bluenet_connected), or "off"`)
	f.DurationVar(&o.joinTimeout, "join-timeout", nm.DefaultJoinTimeout, "give up a join after this long and go back to the previous network")
	f.StringVar(&o.statusFile, "status-file", statusfile.DefaultPath(), "where to publish the status for 'bluenet status'")
	f.StringSliceVar(&o.protocols, "profiles", daemon.DefaultProtocols, "wire formats to speak, in advertising priority order: bluenet, improv")
	f.StringVar(&o.improvURL, "improv-url", "", `URL an Improv client opens after provisioning; "%IP" becomes the new IPv4 address (default: none)`)
	f.StringVar(&o.identifyCmd, "identify-command", "", "shell command run when a phone asks the device to identify itself (e.g. blink an LED)")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/bluenet", "where the daemon keeps what phones set (the device name)")
	f.StringVar(&o.window, "setup-window", "auto", "when phones may set the Wi-Fi up: auto (while offline, and after boot), always, or button (only after bluenet allow or the button)")
	f.DurationVar(&o.windowTime, "window-time", setup.DefaultWindowTime, "auto: how long the window stays open after the machine boots")
	f.DurationVar(&o.reopenAfter, "reopen-after", setup.DefaultReopenAfter, "auto: how long the network must be gone before the window opens again")
	f.DurationVar(&o.authorizedFor, "authorized-for", setup.DefaultAuthorizedFor, "how long bluenet allow or the button opens the window")
	f.StringVar(&o.country, "country", "", "set the Wi-Fi regulatory country at start (ISO 3166-1 alpha-2, e.g. DE; 5 GHz needs it on many boards)")
	f.IntVar(&o.remember, "remember", nm.DefaultRemember, "how many earlier networks a join keeps as saved profiles (0: none)")
	f.DurationVar(&o.notifyGap, "notify-gap", daemon.DefaultNotifyGap, "gap between two Available Networks notifications (old phones may want 50ms)")
	f.StringVar(&o.buttonSpec, "button", "", "a GPIO button that opens the window, as CHIP:LINE (e.g. gpiochip0:17)")
	f.StringVar(&o.control, "control", control.DefaultPath(), "the local control socket bluenet allow talks to")
	f.StringVar(&o.controlGroup, "control-group", "", "a group whose members may run bluenet allow (default: root only)")
	f.IntVar(&o.memLimitMiB, "memory-limit", defaultMemLimitMiB, "soft limit of the Go runtime's memory in MiB (0: none; the GOMEMLIMIT environment variable wins)")
	f.BoolVar(&o.pairing, "pairing", false, "LE pairing: phones must pair (encrypted link) before they may set the Wi-Fi; pairing is accepted only while the setup window is open")
	f.StringVar(&o.passkeyCmd, "passkey-command", "", "with --pairing: pair with a 6-digit passkey (LE Secure Connections, MITM protection) shown by this shell command ($1 and BLUENET_PASSKEY hold the code; it is also logged)")
	f.BoolVar(&o.keepBonds, "keep-bonds", false, "with --pairing: keep the bonds phones make (by default a bond is removed when the phone disconnects)")
	for name, key := range map[string]string{"hostname": "BLUENET_HOSTNAME", "alias": "BLUENET_ALIAS",
		"auto-advertise": "BLUENET_AUTO_ADVERTISE", "keep-bredr": "BLUENET_KEEP_BREDR", "rpc": "BLUENET_RPC",
		"join-timeout": "BLUENET_JOIN_TIMEOUT", "status-file": "BLUENET_STATUS_FILE",
		"profiles": "BLUENET_PROFILES", "improv-url": "BLUENET_IMPROV_URL",
		"identify-command": "BLUENET_IDENTIFY_COMMAND", "state-dir": "BLUENET_STATE_DIR",
		"setup-window": "BLUENET_SETUP_WINDOW", "window-time": "BLUENET_WINDOW_TIME",
		"reopen-after": "BLUENET_REOPEN_AFTER", "authorized-for": "BLUENET_AUTHORIZED_FOR",
		"button": "BLUENET_BUTTON", "notify-gap": "BLUENET_NOTIFY_GAP", "country": "BLUENET_COUNTRY", "remember": "BLUENET_REMEMBER",
		"control": "BLUENET_CONTROL", "control-group": "BLUENET_CONTROL_GROUP", "memory-limit": "BLUENET_MEMORY_LIMIT",
		"pairing": "BLUENET_PAIRING", "passkey-command": "BLUENET_PASSKEY_COMMAND", "keep-bonds": "BLUENET_KEEP_BONDS"} {
		bindEnv(f, name, key)
	}
	f.Bool("help", false, "help for start")
	return cmd
}

func runStart(ctx context.Context, g *globals, o *startOpts) error {
	disableHugePages()
	log := g.logger(nil)
	go logRuntimeOnSignal(ctx, log)
	if o.memLimitMiB < 0 {
		return usagef("--memory-limit: %d MiB is negative", o.memLimitMiB)
	}
	if o.memLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(o.memLimitMiB) << 20)
	}
	if o.hostname == "" || o.alias == "" {
		h, err := os.Hostname()
		if err != nil {
			return usagef("--hostname/--alias not given and the system host name is unknown: %v", err)
		}
		if o.hostname == "" {
			o.hostname = h
		}
		if o.alias == "" {
			o.alias = h
		}
	}
	for _, p := range o.protocols {
		if p != daemon.ProtocolBluenet && p != daemon.ProtocolImprov {
			return usagef("--profiles: unknown protocol %q (want bluenet, improv or both)", p)
		}
	}
	if len(o.protocols) == 0 {
		return usagef("--profiles: name at least one of bluenet, improv")
	}
	if !o.pairing && (o.passkeyCmd != "" || o.keepBonds) {
		return usagef("--passkey-command and --keep-bonds need --pairing")
	}
	mode, err := setup.ParseMode(o.window)
	if err != nil {
		return usageError{err}
	}
	var btn button.Spec
	if o.buttonSpec != "" {
		if btn, err = button.ParseSpec(o.buttonSpec); err != nil {
			return usageError{err}
		}
	}
	gid := control.NoGroup
	if o.controlGroup != "" {
		g, err := user.LookupGroup(o.controlGroup)
		if err != nil {
			return usagef("--control-group: %v", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return usagef("--control-group: %v", err)
		}
	}
	aliasFile := ""
	if o.stateDir != "" {
		if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
			log.Warn("no state directory: a device name set by a phone is lost at restart", "dir", o.stateDir, "err", err)
		} else {
			aliasFile = filepath.Join(o.stateDir, "alias")
		}
	}
	if o.remember < 0 {
		return usagef("--remember must be 0 or more")
	}
	if o.country != "" {
		if err := setCountry(ctx, o.country); err != nil {
			return fmt.Errorf("--country %s: %w", o.country, err)
		}
	}
	remember := o.remember
	if remember == 0 {
		remember = -1 // nm.Config: negative keeps none
	}
	// gatt's connection keeps a phone's write commands in order (the
	// Improv web page cuts a packet into several).
	conn, err := gatt.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
	}
	defer conn.Close()
	// nm.Start reads NetworkManager in the background: the GATT application
	// and the advertisement do not wait for it (the daemon answers the
	// Wi-Fi state once it is known). The reads begin once the daemon
	// advertises, so that they do not slow the registration down.
	advertised := make(chan struct{})
	var advertisedOnce sync.Once
	markAdvertised := func() {
		advertisedOnce.Do(func() {
			close(advertised)
			// Not before: a collection while the daemon starts (one, at
			// 25) costs start time, and the start's garbage is small.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(gcPercent)
			}
		})
	}
	defer markAdvertised()
	if o.country == "" {
		// A warning only: it waits, like NetworkManager's first read, until
		// the daemon advertises (the nl80211 wiphy dump is not small).
		go func() {
			select {
			case <-advertised:
				_, _ = regdom.WarnIfUnset(ctx, log, g.wlan)
			case <-ctx.Done():
			}
		}()
	}
	backend, err := nm.Start(ctx, nm.Config{Conn: conn, Logger: log.With("component", "wifi"),
		Interface: g.wlan, JoinTimeout: o.joinTimeout, Remember: remember, Begin: advertised})
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer backend.Close()

	// On the command line 0 means none: no boot window, reopen at once.
	windowTime, reopenAfter := o.windowTime, o.reopenAfter
	if windowTime == 0 {
		windowTime = -1
	}
	if reopenAfter == 0 {
		reopenAfter = time.Nanosecond
	}
	window := setup.New(setup.Config{Mode: mode, WindowTime: windowTime, ReopenAfter: reopenAfter,
		AuthorizedFor: o.authorizedFor})
	defer window.Close()
	// The control socket (`bluenet allow`) is opened beside the Bluetooth
	// registration rather than before it; systemd hears READY once it
	// listens, and the daemon stops if it cannot.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	ctlListening, ctlDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ctlDone)
		ctl, err := control.Listen(control.Config{Path: o.control, GID: gid, Logger: log.With("component", "control"),
			Allow: func(_ context.Context, d time.Duration) (time.Time, error) {
				window.Authorize(d)
				return window.State().Until, nil
			}})
		if err != nil {
			stopRun(fmt.Errorf("control socket: %w", err))
			return
		}
		close(ctlListening)
		_ = ctl.Serve(runCtx) // closes the socket when runCtx ends
	}()
	if o.buttonSpec != "" {
		in, err := button.Open(btn, button.DefaultDebounce)
		if err != nil {
			return fmt.Errorf("%w: button %s: %v", errUnavailable, btn, err)
		}
		defer in.Close()
		go func() {
			err := button.Watch(ctx, in, button.Config{Logger: log.With("component", "button"), OnPress: func() {
				log.Info("button pressed: setup window open", "for", o.authorizedFor)
				window.Authorize(0)
			}})
			if err != nil {
				log.Error("button", "err", err)
			}
		}()
	}

	var centrals atomic.Int32
	if o.rpc != "off" && o.rpc != "" {
		rpc, err := statusrpc.Listen(o.rpc, func() bool { return centrals.Load() > 0 })
		if err != nil {
			return fmt.Errorf("status endpoint: %w (use --rpc off to disable it)", err)
		}
		defer rpc.Close(context.Background())
	}
	defer statusfile.Remove(o.statusFile)
	err = daemon.Run(runCtx, daemon.Config{
		Conn:      conn,
		WiFi:      backend,
		Logger:    log,
		Adapter:   g.bluetooth,
		Alias:     o.alias,
		AliasFile: aliasFile,
		Hostname:  o.hostname,
		Protocols: o.protocols,
		Setup:     window,
		NotifyGap: o.notifyGap,
		Improv: daemon.ImprovConfig{
			URL:             o.improvURL,
			IdentifyCommand: o.identifyCmd,
			FirmwareVersion: version,
		},
		AutoAdvertise: o.autoAdvertise,
		KeepBREDR:     o.keepBREDR,
		Pairing:       daemon.PairingConfig{Enabled: o.pairing, PasskeyCommand: o.passkeyCmd, KeepBonds: o.keepBonds},
		OnReady: func() {
			markAdvertised()
			select {
			case <-ctlListening:
				_, _ = sd.SdNotify(false, sd.SdNotifyReady)
			case <-runCtx.Done():
			}
		},
		OnStatus: func(s daemon.Status) {
			if n := int32(len(s.Centrals)); centrals.Swap(n) > 0 && n == 0 {
				// The last phone left: hand back to the system what its
				// session made the heap hold (a collection of a ~0.3 MiB
				// live heap; the runtime would return it only slowly).
				go debug.FreeOSMemory()
			}
			if err := statusfile.Write(o.statusFile, s); err != nil {
				log.Warn("status file", "err", err)
			}
		},
	})
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	stopRun(nil)
	<-ctlDone
	if cause := context.Cause(runCtx); !errors.Is(cause, context.Canceled) {
		return cause // the control socket failed
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return nil
}
