package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bluenet-project/bluenet/wifi"
)

// eapOpts are the enterprise (802.1X) flags shared by join and provision.
type eapOpts struct {
	method    string
	phase2    string
	identity  string
	anonymous string
	caCert    string
	domain    string
	noCACheck bool
}

func (o *eapOpts) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.method, "eap", "", "enterprise network: EAP method peap or ttls (the password is the user's)")
	f.StringVar(&o.phase2, "phase2", "mschapv2", "enterprise: inner method mschapv2, or pap (ttls only)")
	f.StringVar(&o.identity, "identity", "", "enterprise: user name")
	f.StringVar(&o.anonymous, "anonymous-identity", "", "enterprise: outer identity sent before the tunnel is up")
	f.StringVar(&o.caCert, "ca-cert", "", "enterprise: PEM file of the CA the server certificate must chain to (default: system CAs)")
	f.StringVar(&o.domain, "domain", "", "enterprise: the server certificate's name must end in this domain")
	f.BoolVar(&o.noCACheck, "no-ca-check", false, "enterprise: do not check the server certificate (insecure, logged)")
}

// credentials builds the join's credentials from the flags and the password
// found: a passphrase, or an enterprise login when --eap is given.
func (o *eapOpts) credentials(cmd *cobra.Command, password string) (wifi.Credentials, error) {
	f := cmd.Flags()
	if o.method == "" {
		for _, name := range []string{"identity", "anonymous-identity", "ca-cert", "domain", "no-ca-check", "phase2"} {
			if f.Changed(name) {
				return wifi.Credentials{}, usagef("--%s needs --eap", name)
			}
		}
		return wifi.Passphrase(password), nil
	}
	if o.caCert != "" && o.noCACheck {
		return wifi.Credentials{}, usagef("--ca-cert and --no-ca-check exclude each other")
	}
	m, err := wifi.ParseEAPMethod(o.method)
	if err != nil {
		return wifi.Credentials{}, usageError{err}
	}
	p2, err := wifi.ParsePhase2(o.phase2)
	if err != nil {
		return wifi.Credentials{}, usageError{err}
	}
	e := &wifi.EAP{Method: m, Phase2: p2, Identity: o.identity, AnonymousIdentity: o.anonymous,
		Password: password, DomainSuffixMatch: o.domain, NoCACheck: o.noCACheck}
	if o.identity == "" {
		return wifi.Credentials{}, usagef("--eap needs --identity")
	}
	if o.caCert != "" {
		abs, err := filepath.Abs(o.caCert)
		if err != nil {
			return wifi.Credentials{}, usagef("--ca-cert: %v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return wifi.Credentials{}, usagef("--ca-cert: %v", err)
		}
		e.CACert = abs
	}
	cred := wifi.Credentials{EAP: e}
	if err := cred.Validate(); err != nil {
		return wifi.Credentials{}, err
	}
	return cred, nil
}
