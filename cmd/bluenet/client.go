package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/protocol/bluenet"
	"github.com/bluenet-project/bluenet/wifi"
)

// This file holds what scan, networks, provision and identify (the client
// side of Bluenet) share.

// openClient connects to the system bus and opens the adapter of -b.
func openClient(ctx context.Context, g *globals, scanTimeout time.Duration) (*client.Client, func(), error) {
	return openClientWith(ctx, g, scanTimeout, nil)
}

// openClientWith is openClient with a chance to change the configuration.
func openClientWith(ctx context.Context, g *globals, scanTimeout time.Duration, mod func(*client.Config)) (*client.Client, func(), error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: system D-Bus: %v", errUnavailable, err)
	}
	cfg := client.Config{Conn: conn, Adapter: g.bluetooth, ScanTimeout: scanTimeout,
		Logger: g.logger(nil).With("component", "client")}
	if mod != nil {
		mod(&cfg)
	}
	cl, err := client.New(ctx, cfg)
	if err != nil {
		conn.Close()
		if errors.Is(err, central.ErrNoAdapter) {
			return nil, nil, fmt.Errorf("%w: %v", errUnavailable, err)
		}
		return nil, nil, fmt.Errorf("%w: bluetoothd: %v", errUnavailable, err)
	}
	return cl, func() { cl.Close(); conn.Close() }, nil
}

// dial opens the client and a link to the device; the returned func
// disconnects (also after Ctrl-C or a failure) and closes the client.
func dial(cmd *cobra.Command, g *globals, target string, scanTimeout time.Duration, mod func(*client.Config)) (*client.Link, func(), error) {
	ctx := cmd.Context()
	cl, closeClient, err := openClientWith(ctx, g, scanTimeout, mod)
	if err != nil {
		return nil, nil, err
	}
	l, err := cl.Dial(ctx, target)
	if err != nil {
		closeClient()
		return nil, nil, clientError(ctx, err)
	}
	return l, func() { _ = l.Close(); closeClient() }, nil
}

// protocolFlag is --protocol: auto, bluenet or improv.
type protocolFlag struct{ p *client.Protocol }

func (f protocolFlag) String() string {
	if *f.p == client.ProtocolAuto {
		return "auto"
	}
	return string(*f.p)
}

func (f protocolFlag) Set(s string) error {
	switch s {
	case "auto", "":
		*f.p = client.ProtocolAuto
	case "bluenet", "improv":
		*f.p = client.Protocol(s)
	default:
		return fmt.Errorf("want auto, bluenet or improv, got %q", s)
	}
	return nil
}

func (protocolFlag) Type() string { return "auto|bluenet|improv" }

// cliError is an error with a message for people; the wrapped error keeps
// the exit code.
type cliError struct {
	msg string
	err error
}

func (e cliError) Error() string { return e.msg }
func (e cliError) Unwrap() error { return e.err }

// clientError turns an error of the client into the message bluenet
// prints.
func clientError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return cliError{"interrupted", err}
	}
	var je *client.JoinError
	if errors.As(err, &je) {
		msg := fmt.Sprintf("the device could not join %s: %s", bluenet.QuoteSSID(je.SSID), je.Text)
		switch je.Reason {
		case wifi.ReasonWrongPassword:
			msg += " (check the password; the device keeps its previous network)"
		case wifi.ReasonNotFound:
			msg += " (is the network in range of the device? see bluenet networks)"
		}
		return cliError{msg, err}
	}
	if errors.Is(err, wifi.ErrInvalid) {
		return cliError{"invalid input: " + strings.TrimPrefix(err.Error(), "wifi: invalid input: "), err}
	}
	return cliError{strings.TrimPrefix(err.Error(), "client: "), err}
}

// positiveDuration rejects zero and negative --timeout values.
func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return usagef("--%s must be positive, got %v", name, d)
	}
	return nil
}
