// Command armattr gives a Go linux/arm executable the ELF build attributes
// (.ARM.attributes, what `readelf -A` prints) that Go's internal linker
// does not write, taken from the GOARM the binary was built with (its
// embedded build information), so that tools and people can see which ARM
// architecture it needs:
//
//	go run ./packaging/armattr FILE
//
// GOARM=6 gives Tag_CPU_arch v6 (every Raspberry Pi), GOARM=7 v7, GOARM=5
// v5TE. The section is not loaded: the program runs exactly as before.
package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

const shtARMAttributes = 0x70000003 // SHT_ARM_ATTRIBUTES

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: armattr FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "armattr:", err)
		os.Exit(1)
	}
}

func run(name string) error {
	goarm, err := goarmOf(name)
	if err != nil {
		return err
	}
	attrs, err := attributes(goarm)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	out, err := addSection(b, ".ARM.attributes", attrs)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp := name + ".armattr"
	if err := os.WriteFile(tmp, out, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// goarmOf reads GOARM from the binary's build information.
func goarmOf(name string) (string, error) {
	bi, err := buildinfo.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	var arch, goarm string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOARCH":
			arch = s.Value
		case "GOARM":
			goarm = s.Value
		}
	}
	if arch != "arm" {
		return "", fmt.Errorf("%s: GOARCH=%s, not arm", name, arch)
	}
	goarm, _, _ = strings.Cut(goarm, ",") // "6,softfloat"
	return goarm, nil
}

// attributes returns the "aeabi" attributes section for a GOARM value.
func attributes(goarm string) ([]byte, error) {
	// Tag numbers and values from the ARM ABI addenda (Build Attributes).
	const (
		tagFile        = 1
		tagCPUArch     = 6
		tagARMISAUse   = 8
		tagTHUMBISAUse = 9
		tagFPArch      = 10
	)
	var cpu, fp byte
	switch goarm {
	case "5":
		cpu, fp = 4, 0 // v5TE, software floating point
	case "6":
		cpu, fp = 6, 1 // v6; Go uses VFPv1 instructions only
	case "7":
		cpu, fp = 10, 3 // v7; VFPv3
	default:
		return nil, fmt.Errorf("unknown GOARM %q", goarm)
	}
	file := []byte{tagCPUArch, cpu, tagARMISAUse, 1, tagTHUMBISAUse, 0}
	if fp != 0 {
		file = append(file, tagFPArch, fp)
	}
	var sub bytes.Buffer
	sub.WriteString("aeabi\x00")
	sub.WriteByte(tagFile)
	_ = binary.Write(&sub, binary.LittleEndian, uint32(5+len(file)))
	sub.Write(file)
	var sec bytes.Buffer
	sec.WriteByte('A') // format version
	_ = binary.Write(&sec, binary.LittleEndian, uint32(4+sub.Len()))
	sec.Write(sub.Bytes())
	return sec.Bytes(), nil
}

// addSection appends a non-loaded section to a 32-bit little-endian ELF
// file: the data, a section name table with the new name, and a new
// section header table, all after the existing contents, which stay as
// they are (the old tables become unused bytes).
func addSection(b []byte, name string, data []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if f.Class != elf.ELFCLASS32 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_ARM {
		return nil, errors.New("not a 32-bit little-endian ARM ELF file")
	}
	if f.Section(name) != nil {
		return nil, fmt.Errorf("already has %s", name)
	}
	le := binary.LittleEndian
	shoff := le.Uint32(b[0x20:])
	shentsize := int(le.Uint16(b[0x2e:]))
	shnum := int(le.Uint16(b[0x30:]))
	shstrndx := int(le.Uint16(b[0x32:]))
	if shentsize != 40 || shstrndx >= shnum || int(shoff)+shnum*shentsize > len(b) {
		return nil, errors.New("unexpected section header table")
	}
	headers := make([]byte, shnum*shentsize, (shnum+1)*shentsize)
	copy(headers, b[shoff:])
	strtab := headers[shstrndx*shentsize:]
	strOff, strSize := le.Uint32(strtab[16:]), le.Uint32(strtab[20:])
	if int(strOff+strSize) > len(b) {
		return nil, errors.New("bad section name table")
	}
	names := append(append([]byte{}, b[strOff:strOff+strSize]...), append([]byte(name), 0)...)

	out := append([]byte{}, b...)
	dataOff := len(out)
	out = append(out, data...)
	namesOff := len(out)
	out = append(out, names...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	newShoff := len(out)

	le.PutUint32(strtab[16:], uint32(namesOff))
	le.PutUint32(strtab[20:], uint32(len(names)))
	sh := make([]byte, shentsize)
	le.PutUint32(sh[0:], strSize) // sh_name: where the new name starts
	le.PutUint32(sh[4:], shtARMAttributes)
	le.PutUint32(sh[16:], uint32(dataOff))
	le.PutUint32(sh[20:], uint32(len(data)))
	le.PutUint32(sh[32:], 1) // sh_addralign
	headers = append(headers, sh...)
	out = append(out, headers...)
	le.PutUint32(out[0x20:], uint32(newShoff))
	le.PutUint16(out[0x30:], uint16(shnum+1))
	return out, nil
}
