package bluez

import (
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Adapter is an adapter as bluetoothd lists it.
type Adapter struct {
	Path    dbus.ObjectPath // /org/bluez/hci0
	Address string          // 00:AA:01:00:00:00
}

// Name returns the adapter's interface name, the last element of its path
// ("hci0").
func (a Adapter) Name() string { return path.Base(string(a.Path)) }

// Adapters returns the adapters among objs in adapter order (see
// AdapterLess): hci0, hci1, hci2, hci10.
func Adapters(objs Objects) []Adapter {
	var out []Adapter
	for p, ifaces := range objs {
		if props, ok := ifaces[Adapter1]; ok {
			addr, _ := props["Address"].Value().(string)
			out = append(out, Adapter{Path: p, Address: addr})
		}
	}
	sort.Slice(out, func(i, j int) bool { return AdapterLess(out[i].Path, out[j].Path) })
	return out
}

// SelectAdapter returns the first adapter among objs, in adapter order,
// that selector names (see AdapterMatches); ok is false when there is none.
func SelectAdapter(objs Objects, selector string) (a Adapter, ok bool) {
	for _, a := range Adapters(objs) {
		if AdapterMatches(selector, a.Path, a.Address) {
			return a, true
		}
	}
	return Adapter{}, false
}

// AdapterMatches reports whether the adapter at p with address addr is the
// one selector names. A selector is one of:
//
//   - "": every adapter (the caller takes the first);
//   - an address with colons ("00:AA:01:00:00:00"), in any case;
//   - an object path ("/org/bluez/hci0");
//   - an interface name ("hci0"), the last element of the path.
func AdapterMatches(selector string, p dbus.ObjectPath, addr string) bool {
	switch {
	case selector == "":
		return true
	case strings.HasPrefix(selector, "/"):
		return dbus.ObjectPath(selector) == p
	case strings.Contains(selector, ":"):
		return strings.EqualFold(selector, addr)
	}
	return path.Base(string(p)) == selector
}

// AdapterLess orders adapter paths by name, and names that end in a number
// by that number: hci2 comes before hci10.
func AdapterLess(a, b dbus.ObjectPath) bool {
	pa, na, oka := splitNumber(string(a))
	pb, nb, okb := splitNumber(string(b))
	if pa != pb || !oka || !okb || na == nb {
		return a < b
	}
	return na < nb
}

// splitNumber splits "…/hci12" into "…/hci" and 12; ok is false when s
// does not end in a (reasonably short) decimal number.
func splitNumber(s string) (prefix string, n uint64, ok bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) {
		return s, 0, false
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}
