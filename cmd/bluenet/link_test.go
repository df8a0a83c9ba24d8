package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkerPrunesMethods links the binary as a release is linked and fails
// if anything in it calls reflect's Method or MethodByName (godbus's Export,
// introspect.Methods, text/template): one such call keeps every exported
// method of every type in the binary, about a fifth of its size, and the
// daemon's resident memory grows with the binary (see BENCHMARKS.md).
func TestLinkerPrunesMethods(t *testing.T) {
	// go test puts its own toolchain first on the test's PATH.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -dumpdep", "-o", filepath.Join(t.TempDir(), "bluenet"), ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	var deps bytes.Buffer
	cmd.Stderr = &deps
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%.2000s", err, deps.String())
	}
	if deps.Len() == 0 {
		t.Fatal("the linker printed no dependencies")
	}
	var reflective []string
	for line := range strings.Lines(deps.String()) {
		if strings.Contains(line, "<ReflectMethod>") {
			reflective = append(reflective, strings.TrimSpace(line))
		}
	}
	if len(reflective) > 0 {
		t.Errorf("%d dependency edges reach a reflective method lookup, which disables dead method elimination:\n%s",
			len(reflective), strings.Join(reflective[:min(len(reflective), 10)], "\n"))
	}
}
