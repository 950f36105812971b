// Package progress shows people how a copy goes and how it went: on a
// terminal, one line per destination redrawn in place (bytes done of that
// destination's own total, rate, ETA, blobs done); in a log (CI), a plain
// line at each blob a destination gets and every few seconds, never a
// carriage return; and at the end, one result per destination that fits
// 100 columns.
//
// It reads imagecopy.Progress counters, which the copy updates as it goes,
// and keeps no goroutine of its own but Run's: a Display draws a frame when
// asked, at the time its clock says, so tests drive it frame by frame.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/imagecopy"
)

// Width is the widest line a Display or Results writes (columns).
const Width = 100

// LogEvery is how often, off a terminal, a destination still copying gets
// a line even when no blob of it has completed.
const LogEvery = 5 * time.Second

// rateWindow is the span the rate (and so the ETA) is averaged over.
const rateWindow = 5 * time.Second

// Destination is one line of the display: a name and its counters.
type Destination struct {
	Name     string
	Progress *imagecopy.Progress
}

// Display draws the progress of a copy's destinations.
type Display struct {
	w        io.Writer
	terminal bool
	now      func() time.Time
	start    time.Time
	dests    []*line
	drawn    int // terminal: lines of the last frame, which the next redraws
	width    int // columns a line may take
}

// line is what the display knows of one destination between frames.
type line struct {
	Destination
	samples  []sample // (time, bytes done), the last rateWindow of them
	logged   time.Time
	blobs    int64 // blobs done when last logged
	finished bool  // logged as finished (log mode) or drawn so (terminal)
}

type sample struct {
	at   time.Time
	done int64
}

// New returns a Display writing to w: redrawn in place when terminal,
// plain lines otherwise. now is the clock (time.Now; tests pass their own).
func New(w io.Writer, terminal bool, dests []Destination, now func() time.Time) *Display {
	d := &Display{w: w, terminal: terminal, now: now, start: now(), width: Width}
	for _, dst := range dests {
		d.dests = append(d.dests, &line{Destination: dst})
	}
	return d
}

// SetWidth narrows the lines to a terminal of n columns, if it has fewer
// than Width: a line that wrapped would throw the redraw off.
func (d *Display) SetWidth(n int) {
	if n > 1 && n < Width {
		d.width = n
	}
}

// Frame draws what has changed since the last frame: on a terminal every
// line again (the first frame at once says what each destination is
// doing, before any byte moves); in a log, a line for each destination
// that has had a blob done, has finished, or has gone LogEvery without a
// line.
func (d *Display) Frame() {
	now := d.now()
	for _, l := range d.dests {
		l.sample(now)
	}
	if d.terminal {
		d.redraw(now)
		return
	}
	for _, l := range d.dests {
		p := l.Progress
		if !p.Planned.Load() || l.finished {
			continue
		}
		blobs := p.BlobsDone.Load()
		if p.Bytes.Load() == 0 && p.Blobs.Load() == 0 {
			continue // nothing to copy: the result says so
		}
		if p.Finished.Load() {
			l.finished = true // the result says how it ended
			if blobs == l.blobs {
				continue
			}
		} else if blobs == l.blobs && !l.logged.IsZero() && now.Sub(l.logged) < LogEvery {
			continue
		}
		l.logged, l.blobs = now, blobs
		fmt.Fprintln(d.w, fit(l.Name+"  "+l.status(), d.width))
	}
}

// Clear erases the terminal lines of the last frame, so that the results
// print where they were. Off a terminal it does nothing.
func (d *Display) Clear() {
	if d.terminal && d.drawn > 0 {
		fmt.Fprintf(d.w, "\033[%dA\r\033[J", d.drawn)
		d.drawn = 0
	}
}

func (d *Display) redraw(now time.Time) {
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dA", d.drawn) // back to the first line of the last frame
	}
	for _, l := range d.dests {
		b.WriteString("\r\033[K")
		b.WriteString(fit(l.Name+"  "+l.status(), d.width-1)) // the last column would wrap on some terminals
		b.WriteString("\n")
	}
	d.drawn = len(d.dests)
	io.WriteString(d.w, b.String())
}

// sample records the bytes done now, keeping rateWindow of samples.
func (l *line) sample(now time.Time) {
	l.samples = append(l.samples, sample{now, l.Progress.Done.Load()})
	cut := 0
	for cut < len(l.samples)-2 && now.Sub(l.samples[cut+1].at) >= rateWindow {
		cut++
	}
	l.samples = l.samples[cut:]
}

// rate is the bytes a second over the samples, 0 until there is a span.
func (l *line) rate() float64 {
	first, last := l.samples[0], l.samples[len(l.samples)-1]
	span := last.at.Sub(first.at)
	if span < 500*time.Millisecond {
		return 0
	}
	return float64(last.done-first.done) / span.Seconds()
}

// status is what the destination is doing, for its line.
func (l *line) status() string {
	p := l.Progress
	if !p.Planned.Load() {
		if p.Finished.Load() {
			return "failed"
		}
		return "checking what it lacks…"
	}
	total, done := p.Bytes.Load(), min(p.Done.Load(), p.Bytes.Load())
	blobs, blobsDone := p.Blobs.Load(), min(p.BlobsDone.Load(), p.Blobs.Load())
	if p.Finished.Load() {
		if total == 0 && blobs == 0 {
			return "up to date"
		}
		return fmt.Sprintf("done: %s, %s", Size(done), Count(blobsDone, "blob"))
	}
	if total == 0 && blobs == 0 {
		return "writing manifests"
	}
	s := fmt.Sprintf("%s of %s", Size(done), Size(total))
	if total > 0 {
		s += fmt.Sprintf(" (%d%%)", done*100/total)
	}
	if r := l.rate(); r > 0 {
		s += fmt.Sprintf("  %s/s", Size(int64(r)))
		if left := total - done; left > 0 {
			s += "  ETA " + duration(time.Duration(float64(left)/r*float64(time.Second)))
		}
	} else if done == total {
		s = "writing manifests: " + s
	}
	return s + fmt.Sprintf("  %d/%d blobs", blobsDone, blobs)
}

// fit cuts s to width columns (runes), with an ellipsis where it was cut.
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// Count is "1 blob", "2 blobs".
func Count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Size is n bytes for people: 512 B, 1.5 KiB, 300.0 MiB.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// duration is d for people, to a precision that fits its size: 850ms,
// 12.3s, 4m05s, 1h02m.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Run draws a frame at once and then every interval until stop is
// called, which draws a last frame (a log's last lines) and clears a
// terminal's.
func Run(d *Display, interval time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	d.Frame()
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				if !d.terminal {
					d.Frame()
				}
				d.Clear()
				return
			case <-t.C:
				d.Frame()
			}
		}
	}()
	return func() { close(done); <-finished }
}
