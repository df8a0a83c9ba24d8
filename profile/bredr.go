package profile

import (
	"context"
	"errors"

	"github.com/bluenet-project/bluenet/gatt"
)

// setBREDR is a placeholder until gatt.Adapter.SetBREDR lands.
func setBREDR(ctx context.Context, a *gatt.Adapter, on bool) error {
	return errors.New("profile: switching BR/EDR is not implemented yet")
}
