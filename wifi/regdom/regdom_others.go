//go:build !linux

package regdom

import (
	"context"
	"fmt"
	"runtime"

	"github.com/bluenet-project/bluenet/wifi"
)

var errUnimplemented = fmt.Errorf("regdom: not implemented on %s", runtime.GOOS)

// Client talks nl80211; only on Linux.
type Client struct{}

// Dial fails: nl80211 is Linux only.
func Dial() (*Client, error) { return nil, errUnimplemented }

// Close does nothing.
func (c *Client) Close() error { return nil }

// Country fails: nl80211 is Linux only.
func (c *Client) Country(context.Context) (string, error) { return "", errUnimplemented }

// SetCountry fails: nl80211 is Linux only.
func (c *Client) SetCountry(context.Context, string) error { return errUnimplemented }

// Bands fails: nl80211 is Linux only.
func (c *Client) Bands(context.Context, string) ([]wifi.Band, error) { return nil, errUnimplemented }
