package nm

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/wifi"
)

// wpa_supplicant's D-Bus names (https://w1.fi/wpa_supplicant/devel/dbus.html).
const (
	supplicantBus   = "fi.w1.wpa_supplicant1"
	supplicantIface = "fi.w1.wpa_supplicant1.Interface"
)

// eapFailure is the cancel cause of a join whose EAP authentication failed.
type eapFailure struct {
	tls string // the TLS problem seen before the failure ("" for none)
}

// eapWatchKey keys the *eapWatch in the context watchEAP returns.
type eapWatchKey struct{}

// eapWatch is what watchEAP saw.
type eapWatch struct {
	succeeded atomic.Bool // an EAP authentication completed with success
}

func (e *eapFailure) Error() string {
	if e.tls != "" {
		return "EAP authentication failed after " + e.tls
	}
	return "EAP authentication failed"
}

// watchEAP follows wpa_supplicant's EAP signal during an enterprise join and
// cancels the returned context with an *eapFailure as soon as the
// authentication fails. NetworkManager itself reports the failure only when
// its 802-1x.auth-timeout (25 s) runs out, because wpa_supplicant keeps
// retrying; the EAP signal ("completion", "failure") comes at once. Call the
// returned function when the join is over. For a personal or open network
// it returns ctx unchanged.
//
// The signal is broadcast, so reading it needs no permission; the
// supplicant's object for the interface is looked up when the policy allows
// it (root), else EAP signals of every interface count.
func (c *Client) watchEAP(ctx context.Context, log *slog.Logger, cred wifi.Credentials) (context.Context, func()) {
	if cred.EAP == nil {
		return ctx, func() {}
	}
	e := cred.EAP
	switch e.CAMode() {
	case "none":
		log.Warn("join: enterprise login without a server certificate check: any access point can pose as the network and learn the login",
			"identity", e.Identity)
	case "system":
		if e.DomainSuffixMatch == "" {
			log.Info("join: server certificate checked against the system's CAs with no domain to match")
		}
	}
	log.Info("join: enterprise login", "eap", e.Method.String(), "phase2", e.Phase2.String(), "identity", e.Identity,
		"anonymous_identity", e.AnonymousIdentity, "ca", e.CAMode())

	match := []dbus.MatchOption{dbus.WithMatchSender(supplicantBus), dbus.WithMatchInterface(supplicantIface),
		dbus.WithMatchMember("EAP")}
	var path dbus.ObjectPath
	if err := c.conn.Object(supplicantBus, "/fi/w1/wpa_supplicant1").CallWithContext(ctx,
		supplicantBus+".GetInterface", 0, c.cfg.Interface).Store(&path); err != nil {
		log.Debug("join: wpa_supplicant interface not looked up; following EAP on every interface", "err", err)
		path = ""
	} else {
		match = append(match, dbus.WithMatchObjectPath(path))
	}
	if err := c.conn.AddMatchSignalContext(ctx, match...); err != nil {
		log.Warn("join: cannot follow wpa_supplicant's EAP signals; a wrong password shows only after NetworkManager's timeout", "err", err)
		return ctx, func() {}
	}
	ch := make(chan *dbus.Signal, 64)
	c.conn.Signal(ch)
	w := &eapWatch{}
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, eapWatchKey{}, w))
	done := make(chan struct{})
	go func() {
		var tlsProblem string
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if sig.Name != supplicantIface+".EAP" || (path != "" && sig.Path != path) || len(sig.Body) != 2 {
					continue
				}
				status, _ := sig.Body[0].(string)
				param, _ := sig.Body[1].(string)
				log.Debug("join: wpa_supplicant EAP", "status", status, "parameter", param)
				switch {
				case status == "local TLS alert" || status == "remote TLS alert":
					tlsProblem = status
				case status == "remote certificate verification" && param != "success":
					tlsProblem = "remote certificate verification " + param
				case status == "completion" && param == "failure":
					cancel(&eapFailure{tls: tlsProblem})
				case status == "completion" && param == "success":
					tlsProblem = ""
					w.succeeded.Store(true)
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		c.conn.RemoveSignal(ch)
		_ = c.conn.RemoveMatchSignal(match...)
		cancel(nil)
	}
}

// eapOutcome turns a join canceled by watchEAP into its real outcome: a wrong
// password, or a failure when a TLS problem (such as an untrusted server
// certificate) came before the EAP failure. A "wrong password" from
// NetworkManager after the EAP authentication succeeded (it says NO_SECRETS
// when its own timer runs out, e.g. on a slow radio) is a plain failure.
// Other outcomes pass unchanged.
func eapOutcome(ctx context.Context, reason wifi.Reason, detail string, err error) (wifi.Reason, string, error) {
	if w, ok := ctx.Value(eapWatchKey{}).(*eapWatch); ok && reason == wifi.ReasonWrongPassword && w.succeeded.Load() {
		return wifi.ReasonFailed, "the EAP login succeeded, then " + detail, err
	}
	var ef *eapFailure
	if reason != wifi.ReasonCanceled || !errors.As(context.Cause(ctx), &ef) {
		return reason, detail, err
	}
	if ef.tls != "" {
		return wifi.ReasonFailed, "wpa_supplicant: " + ef.Error() + " (is the server certificate trusted?)", nil
	}
	return wifi.ReasonWrongPassword, "wpa_supplicant: " + ef.Error(), nil
}
