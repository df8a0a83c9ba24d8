package bluenet_test

import (
	"testing"

	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// The daemon encodes wifi.Kind as byte 0 of Connection State; the numbers
// and names must agree.
func TestStateKindsAgreeWithWiFi(t *testing.T) {
	for k := bluenet.Down; k <= bluenet.Connected; k++ {
		if k.String() != wifi.Kind(k).String() {
			t.Errorf("state %d: %q here, %q in wifi", k, k.String(), wifi.Kind(k).String())
		}
	}
}
