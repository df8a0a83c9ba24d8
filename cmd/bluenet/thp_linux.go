package main

import "golang.org/x/sys/unix"

// disableHugePages keeps the kernel from backing the daemon's memory with
// transparent huge pages. Where they are "always" (Debian's default), the
// Go heap, a few MiB here, grew 2 MiB at a time: VmRSS when advertising was
// 8.3 or 10.6 MiB from one start to the next in the test bed, 10.6 MiB
// after a minute idle. Go's GODEBUG=disablethp=1 does the same for the heap
// but is documented as temporary and cannot be set in the binary. The
// setting is inherited by the commands the daemon runs (identify,
// passkey), which do not mind; kernels without huge pages refuse it, and
// that is ignored. It comes after the Go runtime has touched its first
// memory, which the kernel may already have backed with huge pages (4 MiB
// in the test bed): the systemd unit sets GODEBUG=disablethp=1 for those.
func disableHugePages() {
	_ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
}
