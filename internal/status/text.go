package status

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Width is the widest line Write prints: every line fits a 100-column
// terminal (a redrive command longer than that is continued with "\"),
// but for a local record's path, which is printed whole.
const Width = 100

// Write prints the report for a person: per execution its time, status
// and image, one line per destination, and for a failed one the
// destinations that failed and the command that redrives it.
func Write(w io.Writer, rep *Report) error {
	var b strings.Builder
	failed := 0
	for _, e := range rep.Executions {
		if e.Unsuccessful() {
			failed++
		}
	}
	what := strings.Join(machineNames(rep.StateMachines), " and ")
	if rep.Source == "local" {
		what = "Local runs in " + plural(len(rep.Records), "record", "records")
	}
	since := rep.Since.UTC().Format("2006-01-02 15:04 UTC")
	if len(rep.Executions) == 0 {
		line(&b, fmt.Sprintf("%s: no executions since %s", what, since))
		_, err := io.WriteString(w, b.String())
		return err
	}
	line(&b, fmt.Sprintf("%s: %s since %s, %d failed", what, plural(len(rep.Executions), "execution", "executions"), since, failed))
	for _, e := range rep.Executions {
		b.WriteByte('\n')
		writeExecution(&b, e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeExecution(b *strings.Builder, e Execution) {
	head := e.Start.UTC().Format("2006-01-02 15:04:05 UTC") + "  " + e.Status + "  "
	if e.Kind == "reconcile" {
		head += "reconcile"
	} else {
		head += cmpOr(e.Image, "(no image)")
	}
	var notes []string
	if e.Stop != nil {
		notes = append(notes, "in "+e.Stop.Sub(e.Start).Round(time.Second).String())
	}
	switch e.RedriveCount {
	case 0:
	case 1:
		notes = append(notes, "redriven once")
	default:
		notes = append(notes, fmt.Sprintf("redriven %d times", e.RedriveCount))
	}
	if len(notes) > 0 {
		head += " (" + strings.Join(notes, ", ") + ")"
	}
	line(b, head)
	line(b, "  execution "+e.Name+" of "+e.StateMachine)
	if e.Record != "" {
		// Not shortened: a path cut short is of no use.
		b.WriteString("  record: " + e.Record + "\n")
	}

	if len(e.Counts) > 0 {
		line(b, "  jobs: "+counts(e.Counts))
	}
	dw, sw := 0, 0
	for _, d := range e.Destinations {
		dw, sw = max(dw, utf8.RuneCountInString(d.Destination)), max(sw, utf8.RuneCountInString(d.Status))
	}
	for _, d := range e.Destinations {
		mark, detail := "✓", d.Image
		switch {
		case isFailure(d.Status):
			mark, detail = "✗", d.Error
			if d.Reason != "" {
				detail = strings.TrimPrefix(detail+": "+d.Reason, ": ")
			}
		case d.Status == "blocked":
			mark, detail = "⊘", cmpOr(d.Reason, d.Image)
		case d.Status == "skipped":
			mark, detail = "–", cmpOr(d.Reason, d.Image)
		}
		line(b, fmt.Sprintf("  %s %-*s  %-*s  %s", mark, dw, d.Destination, sw, d.Status, detail))
	}
	if e.Unsuccessful() {
		if len(e.Failed) > 0 {
			line(b, "  failed: "+strings.Join(e.Failed, ", "))
		} else if e.Error != "" {
			// It ended before Summarize (or a reconcile): its own error.
			line(b, "  ✗ "+strings.TrimSuffix(e.Error+": "+e.Cause, ": "))
		}
		switch {
		case e.Redrive != "":
			again := "only the failed destinations are replicated again"
			if len(e.Failed) == 0 {
				again = "it resumes at the state that failed"
			}
			line(b, "  redrive, once the cause is fixed ("+again+"):")
			for _, l := range wrapCommand(e.Redrive, 4, Width) {
				b.WriteString(l + "\n")
			}
		case e.NotRedrivable != "":
			line(b, "  not redrivable: "+e.NotRedrivable+"; start a new execution instead")
		}
	}
}

// line writes s, shortened to Width columns with "…".
func line(b *strings.Builder, s string) {
	b.WriteString(strings.TrimRight(clip(s, Width), " ") + "\n")
}

func clip(s string, width int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// wrapCommand breaks a shell command into lines of at most width columns,
// each but the last ending in " \" and the next indented two more, keeping
// a flag with its value where they fit; a word too long for any line (an
// execution ARN) is split where the shell joins it again: a "\" at the end
// of the line and the rest from column 0.
func wrapCommand(cmd string, indent, width int) []string {
	pad := strings.Repeat(" ", indent)
	if utf8.RuneCountInString(cmd)+indent <= width {
		return []string{pad + cmd}
	}
	var lines []string
	cur := pad
	// add appends text (after sep) to the line, or to a new line; it
	// reports false if no line can hold it.
	add := func(sep, text string) bool {
		n := utf8.RuneCountInString(text)
		if utf8.RuneCountInString(cur)+len(sep)+n+2 <= width {
			cur += sep + text
			return true
		}
		if indent+2+n+2 <= width {
			lines = append(lines, cur+" \\")
			cur = pad + "  " + text
			return true
		}
		return false
	}
	words := strings.Fields(cmd)
	for i := 0; i < len(words); i++ {
		sep := " "
		if i == 0 {
			sep = ""
		}
		if strings.HasPrefix(words[i], "--") && i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") && add(sep, words[i]+" "+words[i+1]) {
			i++
			continue
		}
		if add(sep, words[i]) {
			continue
		}
		// No line holds the word (an execution ARN): split it, after a
		// ":" where one is near. The shell removes each backslash-newline,
		// so the pieces join into one word again; the pieces after the
		// first start at column 0, since an indent would become part of
		// the word.
		cur += sep
		r := []rune(words[i])
		for {
			room := width - utf8.RuneCountInString(cur) - 1
			if len(r) <= room+1 {
				cur += string(r)
				break
			}
			cut := room
			if j := lastIndex(r[:room], ':'); j >= room/2 {
				cut = j + 1
			}
			lines = append(lines, cur+string(r[:cut])+"\\")
			cur, r = "", r[cut:]
		}
	}
	return append(lines, cur)
}

func lastIndex(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// machineNames are the names in state machine ARNs.
func machineNames(arns []string) []string {
	var out []string
	for _, a := range arns {
		out = append(out, a[strings.LastIndex(a, ":")+1:])
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
