package doctor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// regulatoryCountry asks the kernel (nl80211 NL80211_CMD_GET_REG over
// generic netlink) for the regulatory domain's country: "00" when none is
// set.
func regulatoryCountry(ctx context.Context) (string, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return "", fmt.Errorf("netlink: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "", fmt.Errorf("netlink: %w", err)
	}
	wait := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = max(time.Until(dl), time.Millisecond)
	}
	tv := unix.NsecToTimeval(wait.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) // best effort: bounds the reads

	attrs, err := genlRequest(fd, 1, unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, 1,
		nlAttr(unix.CTRL_ATTR_FAMILY_NAME, append([]byte("nl80211"), 0)))
	if err != nil {
		return "", fmt.Errorf("nl80211 family: %w (no Wi-Fi driver loaded?)", err)
	}
	id, ok := attrs[unix.CTRL_ATTR_FAMILY_ID]
	if !ok || len(id) < 2 {
		return "", errors.New("nl80211 family: no id in the kernel's answer")
	}
	attrs, err = genlRequest(fd, 2, binary.NativeEndian.Uint16(id), unix.NL80211_CMD_GET_REG, 0, nil)
	if err != nil {
		return "", fmt.Errorf("nl80211 get regulatory domain: %w", err)
	}
	a, ok := attrs[unix.NL80211_ATTR_REG_ALPHA2]
	if !ok {
		return "", errors.New("nl80211: no country in the kernel's answer")
	}
	return strings.TrimRight(string(a), "\x00"), nil
}

// nlAttr encodes one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// genlRequest sends one generic netlink request and returns the top-level
// attributes of the first answer.
func genlRequest(fd int, seq uint32, family uint16, cmd, version uint8, attrs []byte) (map[uint16][]byte, error) {
	msg := make([]byte, unix.NLMSG_HDRLEN+4, unix.NLMSG_HDRLEN+4+len(attrs))
	msg = append(msg, attrs...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], family)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	msg[16], msg[17] = cmd, version
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return nil, unix.Errno(-e)
					}
				}
				return nil, errors.New("empty answer")
			}
			if len(m.Data) < 4 {
				return nil, errors.New("short answer")
			}
			return parseAttrs(m.Data[4:]), nil
		}
	}
}

func parseAttrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
		if l < 4 || l > len(b) {
			break
		}
		out[typ] = b[4:l]
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out
}
