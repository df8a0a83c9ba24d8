package att

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	cidATT         = 4 // the ATT fixed channel
	addrLEPublic   = 1 // BDADDR_LE_PUBLIC
	pollSliceMilli = 100
)

// Dial connects from the local controller with address local to the LE
// peripheral with public address remote ("00:AA:01:00:00:00") and opens
// its ATT channel. The kernel scans for the peripheral's advertisement and
// connects; nothing else needs to run. It gives up when ctx ends.
func Dial(ctx context.Context, local, remote string) (*Conn, error) {
	la, err := parseAddr(local)
	if err != nil {
		return nil, err
	}
	ra, err := parseAddr(remote)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_BLUETOOTH, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.BTPROTO_L2CAP)
	if err != nil {
		return nil, fmt.Errorf("att: L2CAP socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrL2{CID: cidATT, Addr: la, AddrType: addrLEPublic}); err != nil {
		return nil, fmt.Errorf("att: bind %s: %w", local, err)
	}
	err = unix.Connect(fd, &unix.SockaddrL2{CID: cidATT, Addr: ra, AddrType: addrLEPublic})
	if err != nil && err != unix.EINPROGRESS {
		return nil, fmt.Errorf("att: connect %s: %w", remote, err)
	}
	for err == unix.EINPROGRESS {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("att: connect %s: %w", remote, cerr)
		}
		timeout := pollSliceMilli
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pollSliceMilli*time.Millisecond {
			timeout = max(1, int(time.Until(dl)/time.Millisecond))
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, perr := unix.Poll(fds, timeout)
		if perr == unix.EINTR || n == 0 {
			continue
		}
		if perr != nil {
			return nil, fmt.Errorf("att: connect %s: poll: %w", remote, perr)
		}
		soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil {
			return nil, fmt.Errorf("att: connect %s: %w", remote, gerr)
		}
		if soerr != 0 {
			return nil, fmt.Errorf("att: connect %s: %w", remote, unix.Errno(soerr))
		}
		err = nil
	}
	ok = true
	return NewConn(os.NewFile(uintptr(fd), "att:"+remote)), nil
}

// parseAddr parses "00:AA:01:00:00:00" in the order it is written.
func parseAddr(s string) ([6]byte, error) {
	var a [6]byte
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return a, fmt.Errorf("att: invalid Bluetooth address %q", s)
	}
	copy(a[:], hw)
	return a, nil
}
