#!/bin/bash
# Guest script used by internal/vmtest: bring up Bluetooth and Wi-Fi, then run a
# Go test binary (first argument, a path under /vmshare) with the remaining
# arguments. Its exit status becomes the VM's.
. "$(dirname "$0")/guest-env.sh"
t=$(now_ns)
vm_base && vm_bt && vm_wifi || { log "bring-up FAILED"; for f in $L/*.log; do echo "== $f"; tail -20 "$f"; done; exit 100; }
log "bring-up done in $(secs_since $t)s"
bin=$1; shift
export BLUENET_VM_GUEST=1 BLUENET_VM_TOOLS=$VM_TOOLS BLUENET_VM_BIN=$(dirname "$bin") BLUENET_VM_LOGS=$L
cd "$(dirname "$bin")" && "$bin" "$@"
