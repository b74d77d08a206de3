package workerpool

import (
	"bytes"
	"runtime"
)

// goid returns the current goroutine's ID, parsed from the header of its
// stack trace ("goroutine 17 [running]:"). It costs a few microseconds, so the
// pool calls it only where it is about to wait (a full queue under Block,
// Drain, Close) and once per worker start: that is how a worker calling back
// into its own pool is recognised.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
