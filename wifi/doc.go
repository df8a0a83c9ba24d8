// Package wifi is the backend-neutral Wi-Fi interface of Bluenet: the types
// for access points, link state and join failures, the validation of SSIDs
// and passphrases, and the [Backend] interface that a concrete backend (such
// as the NetworkManager one in package wifi/nm) implements.
//
// The package knows nothing of Bluetooth and does no I/O.
package wifi
