package emulator

import (
	"crypto/rand"
	"fmt"
	"strconv"
)

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
func pad3(n int64) string   { return fmt.Sprintf("%03d", n) }

// newRequestID returns a random request ID shaped like AWS's (a UUID).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
