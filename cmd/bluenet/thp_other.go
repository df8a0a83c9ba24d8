//go:build !linux

package main

// disableHugePages does nothing outside Linux.
func disableHugePages() {}
