// Package daemon is the Bluenet daemon: it publishes the Bluenet
// service through the gatt package and drives Wi-Fi through a wifi.Backend,
// joining the two. It speaks the original Bluenet profile byte for byte (see
// the UUID constants and README.md's protocol section) and adds a Result
// characteristic that tells new setup apps why a join failed.
//
// Behaviour, beyond the bytes:
//   - Available Networks: when a central subscribes, a scan is requested and
//     the SSIDs currently known are sent at once, strongest first, each once,
//     hidden ones left out, NotifyGap apart; then the daemon pauses
//     CyclePause (3 s) and starts again, for as long as anyone is
//     subscribed. Nothing runs while nobody is.
//   - SSID and Credentials writes are kept per connected central (the
//     central's BlueZ device), so two phones cannot mix their SSID and
//     password; a central's slot is dropped when it disconnects. Long
//     (prepared) writes are assembled by offset. Invalid values fail the
//     write with a GATT error and change nothing.
//   - A join never loses the working network: that is the wifi backend's
//     atomic switch. The Result characteristic reports its outcome.
//   - With AutoAdvertise, advertising stops while Wi-Fi is Connected and no
//     central is connected, and starts again when Wi-Fi is lost.
package daemon
