//go:build !linux

package doctor

import (
	"context"
	"fmt"
	"runtime"
)

func regulatoryCountry(context.Context) (string, error) {
	return "", fmt.Errorf("doctor: regulatory domain not implemented on %s", runtime.GOOS)
}
