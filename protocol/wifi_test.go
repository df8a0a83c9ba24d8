package protocol_test

import (
	"strings"
	"testing"

	"github.com/bluenet-project/bluenet/protocol"
	"github.com/bluenet-project/bluenet/wifi"
)

// The client checks input with this package, the daemon with package wifi;
// they must agree, or the client would send what the daemon refuses.
func TestValidationAgreesWithWiFi(t *testing.T) {
	secrets := []string{"", "1234567", "12345678", "correct horse", strings.Repeat("p", 63),
		strings.Repeat("ab", 32), strings.Repeat("zz", 32), strings.Repeat("p", 65), "pässwörd1", "tab\there1", "\x7fdelete!"}
	for _, s := range secrets {
		if a, b := protocol.ValidatePassword(s) == nil, wifi.ValidateSecret(s) == nil; a != b {
			t.Errorf("secret of %d bytes: protocol ok=%v, wifi ok=%v", len(s), a, b)
		}
	}
	for n := 0; n <= 34; n++ {
		ssid := []byte(strings.Repeat("s", n))
		if a, b := protocol.ValidateSSID(ssid) == nil, wifi.ValidateSSID(ssid) == nil; a != b {
			t.Errorf("SSID of %d bytes: protocol ok=%v, wifi ok=%v", n, a, b)
		}
	}
	for k := protocol.Down; k <= protocol.Connected; k++ {
		if k.String() != wifi.Kind(k).String() {
			t.Errorf("state %d: %q here, %q in wifi", k, k.String(), wifi.Kind(k).String())
		}
	}
}
