//go:build !linux

package control

import (
	"errors"
	"net"
)

var errUnimplemented = errors.New("control: only on Linux")

func peerCred(*net.UnixConn) (Cred, error) { return Cred{}, errUnimplemented }
func procGroups(int) ([]int, error)        { return nil, errUnimplemented }
func setUmask(int) func()                  { return func() {} }
func isConnRefused(error) bool             { return false }
