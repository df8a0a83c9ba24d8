package gatt

import (
	"fmt"
	"math/bits"
	"strings"
)

// Flags is a set of BlueZ characteristic or descriptor flags, the strings of
// the Flags property in BlueZ's doc/gatt-api.txt (org.bluez.GattCharacteristic1
// and org.bluez.GattDescriptor1). Combine them with |.
//
// BlueZ rejects the whole application when a characteristic has no flag at
// all or a flag it does not know, so [Server] refuses both before it talks to
// BlueZ. Descriptors accept only the subset listed in [DescriptorFlags].
type Flags uint32

// Characteristic and descriptor flags, in the order of BlueZ 5.66's
// parse_chrc_flags.
const (
	FlagBroadcast                    Flags = 1 << iota // "broadcast"
	FlagRead                                           // "read"
	FlagWriteWithoutResponse                           // "write-without-response"
	FlagWrite                                          // "write"
	FlagNotify                                         // "notify"
	FlagIndicate                                       // "indicate"
	FlagAuthenticatedSignedWrites                      // "authenticated-signed-writes"
	FlagExtendedProperties                             // "extended-properties"
	FlagReliableWrite                                  // "reliable-write"
	FlagWritableAuxiliaries                            // "writable-auxiliaries"
	FlagEncryptRead                                    // "encrypt-read"
	FlagEncryptWrite                                   // "encrypt-write"
	FlagEncryptNotify                                  // "encrypt-notify" (server only)
	FlagEncryptIndicate                                // "encrypt-indicate" (server only)
	FlagEncryptAuthenticatedRead                       // "encrypt-authenticated-read"
	FlagEncryptAuthenticatedWrite                      // "encrypt-authenticated-write"
	FlagEncryptAuthenticatedNotify                     // "encrypt-authenticated-notify" (server only)
	FlagEncryptAuthenticatedIndicate                   // "encrypt-authenticated-indicate" (server only)
	FlagSecureRead                                     // "secure-read" (server only)
	FlagSecureWrite                                    // "secure-write" (server only)
	FlagSecureNotify                                   // "secure-notify" (server only)
	FlagSecureIndicate                                 // "secure-indicate" (server only)
	FlagAuthorize                                      // "authorize"
	flagEnd
)

// DescriptorFlags is the set of flags BlueZ accepts on a descriptor
// (parse_desc_flags in src/gatt-database.c).
const DescriptorFlags = FlagRead | FlagWrite | FlagEncryptRead | FlagEncryptWrite |
	FlagEncryptAuthenticatedRead | FlagEncryptAuthenticatedWrite |
	FlagSecureRead | FlagSecureWrite | FlagAuthorize

// readFlags and writeFlags are the flags that let a central read or write.
const (
	readFlags  = FlagRead | FlagEncryptRead | FlagEncryptAuthenticatedRead | FlagSecureRead
	writeFlags = FlagWrite | FlagWriteWithoutResponse | FlagAuthenticatedSignedWrites |
		FlagReliableWrite | FlagEncryptWrite | FlagEncryptAuthenticatedWrite | FlagSecureWrite
	notifyFlags   = FlagNotify | FlagEncryptNotify | FlagEncryptAuthenticatedNotify | FlagSecureNotify
	indicateFlags = FlagIndicate | FlagEncryptIndicate | FlagEncryptAuthenticatedIndicate | FlagSecureIndicate
)

var flagNames = [...]string{
	"broadcast",
	"read",
	"write-without-response",
	"write",
	"notify",
	"indicate",
	"authenticated-signed-writes",
	"extended-properties",
	"reliable-write",
	"writable-auxiliaries",
	"encrypt-read",
	"encrypt-write",
	"encrypt-notify",
	"encrypt-indicate",
	"encrypt-authenticated-read",
	"encrypt-authenticated-write",
	"encrypt-authenticated-notify",
	"encrypt-authenticated-indicate",
	"secure-read",
	"secure-write",
	"secure-notify",
	"secure-indicate",
	"authorize",
}

// Strings returns the BlueZ flag strings of f, in a fixed order. Unknown
// bits are left out; [Flags.Validate] reports them.
func (f Flags) Strings() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(f)))
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String returns the flags as BlueZ spells them, joined by "|".
func (f Flags) String() string {
	s := strings.Join(f.Strings(), "|")
	if rest := f &^ (flagEnd - 1); rest != 0 {
		if s != "" {
			s += "|"
		}
		s += fmt.Sprintf("%#x", uint32(rest))
	}
	return s
}

// Validate reports an error when f is empty or has a bit that is not a BlueZ
// flag, the two cases in which BlueZ 5.66 rejects an application.
func (f Flags) Validate() error {
	if f == 0 {
		return fmt.Errorf("gatt: empty flags: %w", ErrInvalidApplication)
	}
	if rest := f &^ (flagEnd - 1); rest != 0 {
		return fmt.Errorf("gatt: unknown flag bits %#x: %w", uint32(rest), ErrInvalidApplication)
	}
	return nil
}

// ParseFlag returns the flag for a BlueZ flag string such as "encrypt-read".
func ParseFlag(s string) (Flags, error) {
	for i, n := range flagNames {
		if n == s {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("gatt: unknown flag %q", s)
}

// ParseFlags parses a list of BlueZ flag strings, as found in the Flags
// property.
func ParseFlags(ss []string) (Flags, error) {
	var f Flags
	for _, s := range ss {
		v, err := ParseFlag(s)
		if err != nil {
			return 0, err
		}
		f |= v
	}
	return f, nil
}
