//go:build !linux

package button

import (
	"errors"
	"time"
)

// Open is only implemented on Linux.
func Open(Spec, time.Duration) (Input, error) {
	return nil, errors.New("button: GPIO lines need Linux")
}
