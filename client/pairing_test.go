package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bluenet-project/bluenet/central"
)

func TestPairingError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("write x: %w (Not paired)", central.ErrNotPermitted), true},
		{fmt.Errorf("write x: %w (Insufficient Encryption)", central.ErrNotPermitted), true},
		{fmt.Errorf("write x: %w (Insufficient Authentication)", central.ErrNotPermitted), true},
		// A value the device refuses: never a reason to pair.
		{fmt.Errorf("write x: %w (Write not permitted)", central.ErrNotPermitted), false},
		{fmt.Errorf("write x: %w", central.ErrNotPermitted), false},
		// The setup window: pairing does not help.
		{fmt.Errorf("write x: %w (Not paired)", central.ErrNotAuthorized), false},
		{errors.New("not paired"), false},
		{nil, false},
	} {
		if got := pairingError(tc.err); got != tc.want {
			t.Errorf("pairingError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
