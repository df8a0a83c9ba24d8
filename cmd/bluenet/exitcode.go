package main

import (
	"errors"

	"github.com/bluenet-project/bluenet/central"
	"github.com/bluenet-project/bluenet/client"
	"github.com/bluenet-project/bluenet/wifi"
)

// errorExitCode maps an error (not a usage error) to the documented exit
// codes. Join failures have one mapping, by wifi.Reason, whether this
// machine joined (bluenet join: *wifi.JoinError) or a device reported the
// failure (bluenet provision: *client.JoinError, over Bluenet or Improv);
// the rest is about reaching the device or the services.
func errorExitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUnavailable), errors.Is(err, central.ErrNoAdapter):
		return exitUnavailable
	case errors.Is(err, client.ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, client.ErrTimeout):
		return exitTimeout
	}
	return reasonExitCode(wifi.ReasonOf(err))
}

// reasonExitCode is the exit code of a join that failed for reason r (an
// error without a reason of its own is ReasonFailed: exit code 1).
func reasonExitCode(r wifi.Reason) int {
	switch r {
	case wifi.ReasonWrongPassword:
		return exitWrongPassword
	case wifi.ReasonNotFound:
		return exitNotFound
	case wifi.ReasonTimeout:
		return exitTimeout
	case wifi.ReasonDHCPFailed:
		return exitDHCPFailed
	case wifi.ReasonBusy:
		return exitBusy
	case wifi.ReasonUnavailable:
		return exitUnavailable
	case wifi.ReasonInvalid:
		return exitInvalidInput
	case wifi.ReasonNotAuthorized:
		return exitNotAuthorized
	}
	return exitFailure
}
