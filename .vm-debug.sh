#!/bin/bash
. "$(dirname "$0")/guest-env.sh"
vm_base
modprobe hci_vhci
btvirt -L -l2 >$L/btvirt.log 2>&1 &
sleep 5
ls -la /sys/class/bluetooth/
/usr/libexec/bluetooth/bluetoothd -n >$L/bluetoothd.log 2>&1 &
sleep 5
busctl tree org.bluez
dbus-send --system --print-reply=literal --dest=org.bluez /org/bluez/hci0 org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Address
btmgmt info < /dev/null | head -30
script -qc "btmgmt info" /dev/null | head -40
cat $L/btvirt.log
