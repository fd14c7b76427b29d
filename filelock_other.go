//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package main

import (
	"errors"
	"os"
)

// errLocked reports that another process holds a data file's lock.
var errLocked = errors.New("in use by another process")

// lockFile opens path without locking it: this system has no flock, so two
// processes sharing TASKMAN_DATA_FILE are not detected here (the README
// says to give each process its own file).
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
