package daemon

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bluenet-project/bluenet/gatt/gatttest"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// An enterprise join over the Bluenet profile: Identity, then SSID and
// the password in Credentials.
func TestProfileEnterpriseJoin(t *testing.T) {
	f := newFixture(t, nil)
	f.subscribe(bluenet.ResultUUID)
	dev := f.bz.Connect("00:11:22:33:44:55")
	id, err := bluenet.Identity{Method: bluenet.EAPTTLS, Inner: bluenet.InnerPAP, Identity: "alice",
		AnonymousIdentity: "anonymous@example.org", DomainSuffixMatch: "example.org"}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// A malformed identity is refused and changes nothing.
	if err := f.write(dev, bluenet.IdentityUUID, []byte{9, 0, 0}, 517, 0); gatttest.ErrorName(err) != "org.bluez.Error.InvalidValueLength" {
		t.Errorf("malformed Identity: %v", err)
	}
	for _, w := range []struct {
		uuid string
		v    []byte
	}{{bluenet.IdentityUUID, id}, {bluenet.SSIDUUID, []byte("corp")}, {bluenet.CredentialsUUID, []byte("pw")}} {
		if err := f.write(dev, w.uuid, w.v, 517, 0); err != nil {
			t.Fatalf("write %s: %v", w.uuid, err)
		}
	}
	f.expect(bluenet.ResultUUID, bluenet.EncodeResult(bluenet.ResultOK))
	j := f.waitJoins(1)[0]
	want := wifi.EAP{Method: wifi.EAPTTLS, Phase2: wifi.Phase2PAP, Identity: "alice", AnonymousIdentity: "anonymous@example.org",
		DomainSuffixMatch: "example.org", Password: "pw"}
	if string(j.SSID) != "corp" || j.EAP == nil || *j.EAP != want {
		t.Errorf("join %v, want an enterprise login %+v", j, want)
	}
	f.noSecret("\x02pw")
}

// Network Details: the read value and the notification rounds carry each
// network's signal, security and band, and mark the one in use.
func TestProfileNetworkDetails(t *testing.T) {
	f := newFixture(t, nil)
	f.wifi.SetAccessPoints([]wifi.AccessPoint{
		{SSID: []byte("home"), Strength: 80, Frequency: 5180, Auth: wifi.AuthWPA3, RSSI: -52},
		{SSID: []byte("home"), Strength: 30, Frequency: 2412, Auth: wifi.AuthWPA3, RSSI: -82},
		{SSID: []byte("a-network-name-longer-than-17"), Strength: 60, Frequency: 2437, Auth: wifi.AuthEnterprise, RSSI: -64},
		{SSID: nil, Strength: 99, Frequency: 2412},
		{SSID: []byte("cafe"), Strength: 20, Frequency: 2462, Auth: wifi.AuthOpen},
	})
	f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
	want := []bluenet.NetworkDetails{
		{SSID: []byte("home"), RSSI: -52, Security: bluenet.SecurityWPA3, Band: bluenet.Band5G, Current: true},
		{SSID: []byte("a-network-name-longer-than-17"), RSSI: -64, Security: bluenet.SecurityEnterprise, Band: bluenet.Band2G4},
		{SSID: []byte("cafe"), RSSI: int8(wifi.StrengthToDBm(20)), Security: bluenet.SecurityOpen, Band: bluenet.Band2G4},
	}
	dev := f.bz.Connect("00:11:22:33:44:55")
	var got []bluenet.NetworkDetails
	for i := 0; i < 100; i++ {
		var err error
		if got, err = bluenet.ParseDetails(f.read(dev, bluenet.DetailsUUID)); err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 && got[0].Current {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !sameDetails(got, want) {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	// Notifications: one round, 20-byte notifications (the long SSID in two).
	f.subscribe(bluenet.DetailsUUID)
	var round bluenet.DetailsRound
	p := f.path(bluenet.DetailsUUID)
	for {
		n := <-f.notes
		if n.Path != p {
			continue
		}
		if len(n.Value) > 20 {
			t.Fatalf("notification of %d bytes, want at most 20", len(n.Value))
		}
		nets, done, err := round.Add(n.Value)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			if !sameDetails(nets, want) {
				t.Fatalf("round %+v, want %+v", nets, want)
			}
			break
		}
	}
}

func sameDetails(a, b []bluenet.NetworkDetails) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].SSID, b[i].SSID) || a[i].RSSI != b[i].RSSI || a[i].Security != b[i].Security ||
			a[i].Band != b[i].Band || a[i].Current != b[i].Current {
			return false
		}
	}
	return true
}

// A phone that reads Result when Connected arrives must not read
// "joining": the Connected notification comes after the Result.
func TestProfileResultBeforeConnected(t *testing.T) {
	f := newFixture(t, nil)
	f.subscribe(bluenet.StateUUID)
	f.subscribe(bluenet.ResultUUID)
	// As with NetworkManager: the link is Connected a while before the join
	// returns (the backend still saves the profile).
	f.wifi.SetJoinFunc(func(context.Context, []byte, string) error {
		f.wifi.SetState(wifi.State{Kind: wifi.Connected, SSID: []byte("home")})
		time.Sleep(300 * time.Millisecond)
		return nil
	})
	dev := f.bz.Connect("00:11:22:33:44:55")
	if err := f.write(dev, bluenet.SSIDUUID, []byte("home"), 517, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.write(dev, bluenet.CredentialsUUID, []byte("password1"), 517, 0); err != nil {
		t.Fatal(err)
	}
	statePath, resultPath := f.path(bluenet.StateUUID), f.path(bluenet.ResultUUID)
	resultOK := false
	timeout := time.After(5 * time.Second)
	for {
		select {
		case n := <-f.notes:
			switch {
			case n.Path == resultPath && bytes.Equal(n.Value, bluenet.EncodeResult(bluenet.ResultOK)):
				resultOK = true
			case n.Path == statePath && bytes.Equal(n.Value, []byte("\x03home")):
				if !resultOK {
					t.Fatal("Connected notified before the Result")
				}
				if v := f.read(dev, bluenet.ResultUUID); v[0] != byte(bluenet.ResultOK) {
					t.Fatalf("Result read on Connected: %q", v)
				}
				// A phone that starts its next join on that result is not
				// told "busy" while the first join finishes its bookkeeping.
				f.wifi.SetJoinFunc(nil)
				if err := f.write(dev, bluenet.SSIDUUID, []byte("cafe"), 517, 0); err != nil {
					t.Fatal(err)
				}
				if err := f.write(dev, bluenet.CredentialsUUID, []byte("password2"), 517, 0); err != nil {
					t.Fatal(err)
				}
				if j := f.waitJoins(2); string(j[1].SSID) != "cafe" {
					t.Fatalf("second join %v", j[1])
				}
				f.expect(bluenet.StateUUID, []byte("\x03cafe"))
				return
			}
		case <-timeout:
			t.Fatal("no Connected notification")
		}
	}
}
