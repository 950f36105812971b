package imagecopy

import (
	"fmt"
	"time"
)

// DefaultMinRate is the slowest a blob may move, in bytes a second averaged
// over a stall timeout of waiting on one side (the source, or one
// destination), before that side's request is cancelled and retried. A
// registry that trickles a byte now and then makes progress, but is as
// stuck as one that sends nothing. 64 KiB/s (half a megabit) is far below
// any link a registry is used over, and far above a trickle.
const DefaultMinRate = 64 << 10

// rateMeter judges one side of a blob's stream: it adds up the time spent
// waiting on that side and the bytes it moved meanwhile, and once the waits
// come to a window (the stall timeout), the side is too slow if it moved
// less than min bytes a second over them. Then the next window starts. Time
// not spent waiting on the side (the tee handing a chunk to a slower
// destination, say) is not counted against it, and a side that completes
// the blob is never too slow.
type rateMeter struct {
	now    func() time.Time
	window time.Duration
	min    int64 // bytes a second; 0: no minimum
	size   int64 // the blob's

	total  int64         // bytes moved, in all
	waited time.Duration // in this window
	moved  int64         // in this window
}

func newRateMeter(now func() time.Time, window time.Duration, min, size int64) *rateMeter {
	return &rateMeter{now: now, window: window, min: min, size: size}
}

// start is when a wait on the side begins.
func (m *rateMeter) start() time.Time { return m.now() }

// record adds a wait that began at start and moved n bytes. It returns an
// error (a description, for the caller to wrap) when the window it closes
// moved too little.
func (m *rateMeter) record(start time.Time, n int) error {
	m.total += int64(n)
	m.waited += m.now().Sub(start)
	m.moved += int64(n)
	if m.min <= 0 || m.waited < m.window || m.total >= m.size {
		return nil
	}
	waited, moved := m.waited, m.moved
	m.waited, m.moved = 0, 0
	if float64(moved) >= float64(m.min)*waited.Seconds() {
		return nil
	}
	return fmt.Errorf("%d bytes in %s, less than %d bytes a second", moved, waited.Round(time.Millisecond), m.min)
}
