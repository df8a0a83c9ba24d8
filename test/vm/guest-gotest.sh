#!/bin/bash
# Guest script used by internal/vmtest: bring up Bluetooth and Wi-Fi, then run a
# Go test binary (first argument, a path under /vmshare) with the remaining
# arguments. Its exit status becomes the VM's.
. "$(dirname "$0")/guest-env.sh"
t=$(now_ns)
vm_base && vm_bt && vm_wifi || { log "bring-up FAILED"; for f in $L/*.log; do echo "== $f"; tail -20 "$f"; done; exit 100; }
log "bring-up done in $(secs_since $t)s"
bin=$1; shift
# The commands run from the guest's own tmpfs, as from a device's storage: on
# the 9p share (no page cache) every exec read the binary again, and the
# bigger the binary, the longer its start took.
dir=/run/bluenet-vm-bin
rm -rf "$dir" && cp -r "$(dirname "$bin")" "$dir" || { log "copy of $(dirname "$bin") FAILED"; exit 100; }
bin=$dir/$(basename "$bin")
export BLUENET_VM_GUEST=1 BLUENET_VM_TOOLS=$VM_TOOLS BLUENET_VM_BIN=$dir BLUENET_VM_LOGS=$L
cd "$dir" && "$bin" "$@"
