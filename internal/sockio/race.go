//go:build race

package sockio

import (
	"runtime"
	"unsafe"
)

// The race detector cannot see through raw system calls. As the syscall
// package does for its own reads and writes, a write releases and a read
// acquires one shared token, so that data handed from one goroutine to
// another through a socket is ordered, and the buffers count as read or
// written.
var ioSync byte

func raceReleaseWrite(b []byte) {
	if len(b) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&b[0]), len(b))
	}
	runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync))
}

func raceAcquireRead(b []byte) {
	if len(b) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&b[0]), len(b))
	}
	runtime.RaceAcquire(unsafe.Pointer(&ioSync))
}
