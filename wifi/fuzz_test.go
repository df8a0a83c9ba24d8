package wifi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bluenet-project/bluenet/wifi"
)

// FuzzValidateSSID: an SSID is valid exactly when it has 1 to 32 bytes, of
// any value; the error matches ErrInvalid.
func FuzzValidateSSID(f *testing.F) {
	for _, s := range []string{"", "a", "HomeNet", strings.Repeat("x", 32), strings.Repeat("x", 33), "\x00\xff\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ssid []byte) {
		err := wifi.ValidateSSID(ssid)
		if ok := len(ssid) >= 1 && len(ssid) <= 32; ok != (err == nil) {
			t.Fatalf("ValidateSSID(%d bytes) = %v", len(ssid), err)
		}
		if err != nil && !errors.Is(err, wifi.ErrInvalid) {
			t.Fatalf("error %v does not match ErrInvalid", err)
		}
	})
}

// FuzzValidateSecret: a secret is valid exactly when it is empty, 8 to 63
// printable ASCII characters, or 64 hexadecimal digits; the error matches
// ErrInvalid and never contains the secret.
func FuzzValidateSecret(f *testing.F) {
	for _, s := range []string{"", "short", "12345678", "pass word with spaces",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("0f", 32), "passwörd1", "tab\there1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		err := wifi.ValidateSecret(secret)
		printable := true
		for i := 0; i < len(secret); i++ {
			if secret[i] < 0x20 || secret[i] > 0x7e {
				printable = false
			}
		}
		hex := len(secret) == 64 && strings.Trim(strings.ToLower(secret), "0123456789abcdef") == ""
		ok := secret == "" || (len(secret) >= 8 && len(secret) <= 63 && printable) || hex
		if ok != (err == nil) {
			t.Fatalf("ValidateSecret(%d bytes) = %v, want valid %v", len(secret), err, ok)
		}
		if wifi.IsRawPSK(secret) != hex {
			t.Fatalf("IsRawPSK(%d bytes) = %v", len(secret), !hex)
		}
		if err != nil {
			if !errors.Is(err, wifi.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			// The text depends on nothing but the length and the kind and
			// place of the bytes: a secret masked (hex digits to 0, other
			// printable bytes to z) gets the same error.
			masked := []byte(secret)
			for i, c := range masked {
				switch {
				case strings.IndexByte("0123456789abcdefABCDEF", c) >= 0:
					masked[i] = '0'
				case c >= 0x20 && c <= 0x7e:
					masked[i] = 'z'
				}
			}
			if merr := wifi.ValidateSecret(string(masked)); merr == nil || merr.Error() != err.Error() {
				t.Fatalf("error %q depends on the secret's content (masked: %v)", err, merr)
			}
		}
	})
}
