package nm_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/bluenet-project/bluenet/internal/nmfake"
	"github.com/bluenet-project/bluenet/wifi"
	"github.com/bluenet-project/bluenet/wifi/nm"
)

// fakeSupplicant owns wpa_supplicant's bus name on the test bus, answers
// GetInterface and emits the EAP signals the test gives it, repeatedly,
// until stopped (the join may subscribe after the first one).
type fakeSupplicant struct{ conn *dbus.Conn }

const supplicantIfacePath = dbus.ObjectPath("/fi/w1/wpa_supplicant1/Interfaces/0")

func (s *fakeSupplicant) GetInterface(name string) (dbus.ObjectPath, *dbus.Error) {
	return supplicantIfacePath, nil
}

func newFakeSupplicant(t *testing.T, e *env) *fakeSupplicant {
	t.Helper()
	conn := e.bus.Conn(t)
	if r, err := conn.RequestName("fi.w1.wpa_supplicant1", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own fi.w1.wpa_supplicant1: %v %v", r, err)
	}
	s := &fakeSupplicant{conn: conn}
	if err := conn.Export(s, "/fi/w1/wpa_supplicant1", "fi.w1.wpa_supplicant1"); err != nil {
		t.Fatal(err)
	}
	return s
}

// emit sends the EAP signals (status, parameter pairs) every 20 ms until
// stop is closed.
func (s *fakeSupplicant) emit(stop <-chan struct{}, pairs ...[2]string) {
	for {
		for _, p := range pairs {
			_ = s.conn.Emit(supplicantIfacePath, "fi.w1.wpa_supplicant1.Interface.EAP", p[0], p[1])
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var corpNet = nmfake.Network{SSID: []byte("corp"), Enterprise: true, Hang: true}

func aliceLogin(password string) wifi.Credentials {
	return wifi.Credentials{EAP: &wifi.EAP{Method: wifi.EAPPEAP, Identity: "alice", Password: password, NoCACheck: true}}
}

// TestJoinEnterpriseEAPFailureIsEarly: NetworkManager says nothing (as it
// does for its 25 s 802-1x.auth-timeout) but wpa_supplicant reports the EAP
// failure: the join ends at once with "wrong password", the profile is
// deleted and the previous network restored. After TLS alerts the same
// failure is a plain failure (an untrusted server certificate).
func TestJoinEnterpriseEAPFailureIsEarly(t *testing.T) {
	tests := []struct {
		name   string
		pairs  [][2]string
		want   error
		detail string
	}{
		{"wrong password", [][2]string{{"started", ""}, {"completion", "failure"}}, wifi.ErrWrongPassword, "EAP authentication failed"},
		{"server certificate", [][2]string{{"remote certificate verification", "failure"}, {"local TLS alert", "unknown CA"},
			{"completion", "failure"}}, wifi.ErrFailed, "server certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nmfake.Config{}, nm.Config{JoinTimeout: time.Minute}, netA, corpNet)
			sup := newFakeSupplicant(t, e)
			e.connectA(t, "bluenet")
			stop := make(chan struct{})
			defer close(stop)
			go sup.emit(stop, tt.pairs...)
			start := time.Now()
			const pw = "secret-alice-pw"
			err := e.c.Join(ctxT(t), []byte("corp"), aliceLogin(pw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Join: %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v; the EAP signal should end it at once", d)
			}
			var je *wifi.JoinError
			if !errors.As(err, &je) || !je.RolledBack || !strings.Contains(je.Detail, tt.detail) {
				t.Errorf("JoinError %+v, want rolled back with detail %q", je, tt.detail)
			}
			if strings.Contains(err.Error(), pw) {
				t.Error("error contains the password")
			}
			for _, p := range e.fake.Profiles() {
				if string(p.SSID) == "corp" {
					t.Errorf("profile for corp left: %+v", p.ID)
				}
			}
		})
	}
}

// TestJoinEnterpriseNoSecretsAfterEAPSuccess: NetworkManager gives up with
// NO_SECRETS (its timer ran out on a slow radio) although wpa_supplicant
// reported a successful EAP login: not a wrong password.
func TestJoinEnterpriseNoSecretsAfterEAPSuccess(t *testing.T) {
	e := setup(t, nmfake.Config{WrongPSKDelay: 300 * time.Millisecond}, nm.Config{},
		netA, nmfake.Network{SSID: []byte("corp"), Enterprise: true})
	sup := newFakeSupplicant(t, e)
	e.connectA(t, "bluenet")
	stop := make(chan struct{})
	defer close(stop)
	go sup.emit(stop, [2]string{"completion", "success"})
	err := e.c.Join(ctxT(t), []byte("corp"), aliceLogin("right-password"))
	if !errors.Is(err, wifi.ErrFailed) || !strings.Contains(err.Error(), "EAP login succeeded") {
		t.Fatalf("Join: %v, want a plain failure after a successful EAP login", err)
	}
}
