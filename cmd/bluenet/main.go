// Command bluenet provisions the Wi-Fi of a headless Linux device over
// Bluetooth Low Energy.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("bluenet", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: bluenet version")
	os.Exit(2)
}
