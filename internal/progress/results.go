package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/imagecopy"
)

// Results writes one line per destination, lines of at most Width
// columns (a long error goes on, indented, on the next ones): what
// happened there, in that destination's own time. The image's digest,
// the same at every destination, is written once, above them. hint, if
// set, gives what to do about a failure ("" for nothing); it goes on its
// own line, under the failure.
func Results(w io.Writer, results []imagecopy.Result, hint func(imagecopy.Result) string) {
	digest := ""
	for _, r := range results {
		if r.Digest != "" {
			if digest != "" && r.Digest != digest {
				digest = "" // cannot be: a copy writes one image
				break
			}
			digest = r.Digest
		}
	}
	if digest != "" {
		fmt.Fprintf(w, "image %s\n", digest)
	}
	for _, r := range results {
		var line string
		switch r.Status {
		case imagecopy.StatusFailed:
			line = fmt.Sprintf("✗ %s  failed after %s: %s", r.Destination, duration(r.Duration), r.Error)
		case imagecopy.StatusUnchanged:
			line = fmt.Sprintf("✓ %s  up to date (checked in %s)", r.Destination, duration(r.Duration))
		default:
			line = fmt.Sprintf("✓ %s  copied in %s: %s", r.Destination, duration(r.Duration), written(r))
		}
		writeWrapped(w, line, "    ")
		if r.Replaced != "" {
			writeWrapped(w, "  the tag pointed at "+r.Replaced+" before", "    ")
		}
		if r.Status == imagecopy.StatusFailed && hint != nil {
			if h := hint(r); h != "" {
				writeWrapped(w, "  hint: "+h, "    ")
			}
		}
	}
}

// written says what a copy wrote to a destination, and what it found
// there already.
func written(r imagecopy.Result) string {
	var parts []string
	noun := "blob" // on the first count of blobs only: "3 blobs, 2 mounted"
	if r.BlobsCopied > 0 {
		parts = append(parts, Count(int64(r.BlobsCopied), noun)+" ("+Size(r.BytesCopied)+")")
		noun = ""
	}
	for _, c := range []struct {
		n    int
		what string
	}{{r.BlobsMounted, "mounted"}, {r.BlobsSkipped, "already there"}} {
		if c.n == 0 {
			continue
		}
		s := fmt.Sprintf("%d %s", c.n, c.what)
		if noun != "" {
			s = Count(int64(c.n), noun) + " " + c.what
			noun = ""
		}
		parts = append(parts, s)
	}
	parts = append(parts, Count(int64(r.ManifestsWritten), "manifest"))
	if r.ReferrersCopied > 0 {
		parts = append(parts, Count(int64(r.ReferrersCopied), "referrer"))
	}
	s := strings.Join(parts, ", ")
	if r.Duration >= time.Second && r.BytesCopied > 0 {
		s += fmt.Sprintf(" at %s/s", Size(int64(float64(r.BytesCopied)/r.Duration.Seconds())))
	}
	return s
}

// WriteWrapped writes s as Results writes its lines: at most Width
// columns, broken at spaces, the lines after the first indented.
func WriteWrapped(w io.Writer, s string) { writeWrapped(w, s, "    ") }

// writeWrapped writes s in lines of at most Width columns, broken at
// spaces where it can be, the lines after the first starting with indent.
func writeWrapped(w io.Writer, s, indent string) {
	for _, l := range wrap(s, Width, indent) {
		fmt.Fprintln(w, l)
	}
}

func wrap(s string, width int, indent string) []string {
	var lines []string
	r := []rune(s)
	prefix := []rune{}
	for {
		room := width - len(prefix)
		if len(r) <= room {
			return append(lines, string(prefix)+string(r))
		}
		cut := room
		for i := room; i > room/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		lines = append(lines, string(prefix)+strings.TrimRight(string(r[:cut]), " "))
		r = []rune(strings.TrimLeft(string(r[cut:]), " "))
		prefix = []rune(indent)
	}
}
