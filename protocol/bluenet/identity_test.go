package bluenet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestIdentityRoundTrip(t *testing.T) {
	tests := []struct {
		id   Identity
		want []byte
	}{
		{Identity{Method: EAPPEAP, Identity: "alice"}, []byte("\x01\x00\x00\x05alice\x00\x00")},
		{Identity{Method: EAPTTLS, Inner: InnerPAP, NoCACheck: true, Identity: "bob", AnonymousIdentity: "anon", DomainSuffixMatch: "ex.org"},
			[]byte("\x02\x01\x01\x03bob\x04anon\x06ex.org")},
	}
	for _, tt := range tests {
		b, err := tt.id.Encode()
		if err != nil || !bytes.Equal(b, tt.want) {
			t.Errorf("Encode(%+v) = %q, %v; want %q", tt.id, b, err, tt.want)
		}
		got, err := ParseIdentity(tt.want)
		if err != nil || got != tt.id {
			t.Errorf("ParseIdentity(%q) = %+v, %v", tt.want, got, err)
		}
	}
}

func TestParseIdentityErrors(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		[]byte("\x01\x00"),
		[]byte("\x03\x00\x00\x01a\x00\x00"),        // unknown method
		[]byte("\x01\x02\x00\x01a\x00\x00"),        // unknown inner method
		[]byte("\x01\x01\x00\x01a\x00\x00"),        // PAP with PEAP
		[]byte("\x01\x00\x02\x01a\x00\x00"),        // unknown flag
		[]byte("\x01\x00\x00\x00\x00\x00"),         // empty identity
		[]byte("\x01\x00\x00\x05ali"),              // runs past the end
		[]byte("\x01\x00\x00\x01a\x00"),            // a string missing
		[]byte("\x01\x00\x00\x01a\x00\x00x"),       // trailing byte
		[]byte("\x01\x00\x00\x02\xff\xfe\x00\x00"), // not UTF-8
		append([]byte("\x01\x00\x00"), bytes.Repeat([]byte{1}, 510)...),
	} {
		if _, err := ParseIdentity(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseIdentity(%q): %v, want ErrMalformed", b, err)
		}
	}
	if _, err := (Identity{Method: EAPPEAP, Identity: strings.Repeat("a", 254)}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("254-byte identity: %v", err)
	}
}

func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x05alice\x00\x00"))
	f.Add([]byte("\x02\x01\x01\x03bob\x04anon\x06ex.org"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseIdentity(b)
		if err != nil {
			return
		}
		again, err := id.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%q parsed to %+v, encodes to %q, %v", b, id, again, err)
		}
	})
}
