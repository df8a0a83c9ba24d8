module github.com/bluenet-project/bluenet

go 1.24

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/godbus/dbus/v5 v5.2.4
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	github.com/warthog618/go-gpiocdev v0.9.1
	golang.org/x/sys v0.27.0
)

require github.com/inconshreveable/mousetrap v1.1.0 // indirect
