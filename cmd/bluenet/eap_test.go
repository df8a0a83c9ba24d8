package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/wifi"
)

func TestJoinEnterpriseFlags(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		want     *wifi.EAP // nil: a passphrase
		wantCode int       // exit code of the error, 0 for success
	}{
		{"peap with CA", []string{"-s", "x", "--eap", "peap", "--identity", "alice", "--ca-cert", ca}, "alicepass1\n",
			&wifi.EAP{Method: wifi.EAPPEAP, Identity: "alice", Password: "alicepass1", CACert: ca}, 0},
		{"ttls pap no check", []string{"-s", "x", "--eap", "TTLS", "--phase2", "pap", "--identity", "bob", "--anonymous-identity", "anon",
			"--no-ca-check", "--password-file", "-"}, "pw\n",
			&wifi.EAP{Method: wifi.EAPTTLS, Phase2: wifi.Phase2PAP, Identity: "bob", AnonymousIdentity: "anon", Password: "pw", NoCACheck: true}, 0},
		{"system CAs with domain", []string{"-s", "x", "--eap", "peap", "--identity", "a", "--domain", "example.org"}, "pw\n",
			&wifi.EAP{Method: wifi.EAPPEAP, Identity: "a", Password: "pw", DomainSuffixMatch: "example.org"}, 0},
		{"passphrase", []string{"-s", "x"}, "password1\n", nil, 0},
		{"identity without eap", []string{"-s", "x", "--identity", "a"}, "password1\n", nil, exitUsage},
		{"eap without identity", []string{"-s", "x", "--eap", "peap"}, "pw\n", nil, exitUsage},
		{"unknown method", []string{"-s", "x", "--eap", "tls", "--identity", "a"}, "pw\n", nil, exitUsage},
		{"pap with peap", []string{"-s", "x", "--eap", "peap", "--phase2", "pap", "--identity", "a"}, "pw\n", nil, exitInvalidInput},
		{"missing CA file", []string{"-s", "x", "--eap", "peap", "--identity", "a", "--ca-cert", filepath.Join(dir, "none")}, "pw\n", nil, exitUsage},
		{"CA and no check", []string{"-s", "x", "--eap", "peap", "--identity", "a", "--ca-cert", ca, "--no-ca-check"}, "pw\n", nil, exitUsage},
		{"eap and open", []string{"-s", "x", "--eap", "peap", "--identity", "a", "--open"}, "", nil, exitUsage},
		{"empty password", []string{"-s", "x", "--eap", "peap", "--identity", "a"}, "\n", nil, exitInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got wifi.Credentials
			ran := false
			cmd := newJoinCmdWith(func(_ *cobra.Command, _ []byte, cred wifi.Credentials, _ *joinOpts) error {
				got, ran = cred, true
				return nil
			})
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
			cmd.SetIn(strings.NewReader(tt.stdin))
			cmd.SetArgs(tt.args)
			cmd.SetOut(new(strings.Builder))
			cmd.SetErr(new(strings.Builder))
			err := cmd.Execute()
			if tt.wantCode != 0 {
				if err == nil || ran {
					t.Fatalf("ran with %+v, want exit %d", got, tt.wantCode)
				}
				if c := exitCode(err); c != tt.wantCode {
					t.Errorf("exit %d (%v), want %d", c, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && got.EAP != nil:
				t.Errorf("got an EAP login, want a passphrase")
			case tt.want != nil && (got.EAP == nil || *got.EAP != *tt.want):
				t.Errorf("EAP %+v, want %+v", got.EAP, tt.want)
			}
		})
	}
}
