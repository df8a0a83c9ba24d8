package wifi

import (
	"errors"
	"strconv"
)

// Sentinel errors for join failures. Every error returned by
// [Backend.Join] matches exactly one of them with errors.Is.
var (
	// ErrWrongPassword means the network rejected the passphrase.
	ErrWrongPassword = errors.New("wifi: wrong password")
	// ErrNotFound means no network with the SSID could be found.
	ErrNotFound = errors.New("wifi: network not found")
	// ErrTimeout means the join did not complete in time.
	ErrTimeout = errors.New("wifi: timed out")
	// ErrDHCPFailed means the link came up but no IPv4 address was obtained.
	ErrDHCPFailed = errors.New("wifi: DHCP failed")
	// ErrBusy means another join is already running.
	ErrBusy = errors.New("wifi: busy")
	// ErrUnavailable means the backend (for example NetworkManager) or the
	// interface is not available: not running, device missing, unmanaged or
	// radio off.
	ErrUnavailable = errors.New("wifi: unavailable")
	// ErrInvalid means the SSID or passphrase is not acceptable, or the
	// network uses a security scheme that cannot be joined with a passphrase.
	ErrInvalid = errors.New("wifi: invalid input")
	// ErrFailed means the join failed for another reason.
	ErrFailed = errors.New("wifi: join failed")
	// ErrCanceled means the caller's context was canceled before the join
	// completed. The JoinError also wraps the context's error.
	ErrCanceled = errors.New("wifi: join canceled")
	// ErrNotAuthorized means the join was not allowed: a device's setup
	// window was closed, or a permission was denied.
	ErrNotAuthorized = errors.New("wifi: not authorized")
)

// Reason is the typed cause of a join failure.
type Reason uint8

// Reason values. ReasonNone is the zero value and means success.
const (
	ReasonNone Reason = iota
	ReasonWrongPassword
	ReasonNotFound
	ReasonTimeout
	ReasonDHCPFailed
	ReasonBusy
	ReasonUnavailable
	ReasonInvalid
	ReasonFailed
	ReasonCanceled
	ReasonNotAuthorized
)

var reasonInfo = [...]struct {
	name string
	err  error
}{
	ReasonNone:          {"ok", nil},
	ReasonWrongPassword: {"wrong password", ErrWrongPassword},
	ReasonNotFound:      {"not found", ErrNotFound},
	ReasonTimeout:       {"timeout", ErrTimeout},
	ReasonDHCPFailed:    {"DHCP failed", ErrDHCPFailed},
	ReasonBusy:          {"busy", ErrBusy},
	ReasonUnavailable:   {"unavailable", ErrUnavailable},
	ReasonInvalid:       {"invalid input", ErrInvalid},
	ReasonFailed:        {"failed", ErrFailed},
	ReasonCanceled:      {"canceled", ErrCanceled},
	ReasonNotAuthorized: {"not authorized", ErrNotAuthorized},
}

// String returns a short human-readable name such as "wrong password".
func (r Reason) String() string {
	if int(r) < len(reasonInfo) {
		return reasonInfo[r].name
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Err returns the sentinel error for r (nil for ReasonNone).
func (r Reason) Err() error {
	if int(r) < len(reasonInfo) {
		return reasonInfo[r].err
	}
	return ErrFailed
}

// ReasonOf returns the Reason of err: ReasonNone for nil, the reason of a
// *JoinError or of a sentinel in err's chain, else ReasonFailed.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var je *JoinError
	if errors.As(err, &je) {
		return je.Reason
	}
	for r := ReasonWrongPassword; int(r) < len(reasonInfo); r++ {
		if errors.Is(err, reasonInfo[r].err) {
			return r
		}
	}
	return ReasonFailed
}

// JoinError describes a failed join. It never contains the secret.
type JoinError struct {
	// SSID is the network that was to be joined.
	SSID []byte
	// Reason is the typed cause.
	Reason Reason
	// Detail is backend-specific text, e.g. "NetworkManager device reason 7
	// (no-secrets)". May be empty.
	Detail string
	// RolledBack reports that the previously active connection was
	// re-activated after the failure.
	RolledBack bool
	// Err is the underlying error, if any (a D-Bus error, ctx.Err(), ...).
	Err error
}

// Error formats the failure, e.g. `wifi: join "home": wrong password
// (NetworkManager device reason 7 (no-secrets))`.
func (e *JoinError) Error() string {
	s := "wifi: join " + strconv.Quote(string(e.SSID)) + ": " + e.Reason.String()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.RolledBack {
		s += "; previous connection restored"
	}
	return s
}

// Is reports whether target is the sentinel error of e.Reason.
func (e *JoinError) Is(target error) bool {
	return target != nil && target == e.Reason.Err()
}

// Unwrap returns the underlying error.
func (e *JoinError) Unwrap() error { return e.Err }
