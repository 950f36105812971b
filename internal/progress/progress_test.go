package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/progress/termtest"
)

// clock is a test's time: it moves only when the test says.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

const mib = 1 << 20

func plan(p *imagecopy.Progress, bytes, blobs int64) {
	p.Bytes.Store(bytes)
	p.Blobs.Store(blobs)
	p.Planned.Store(true)
}

// screen is what a terminal shows after the writes in out.
func screen(t *testing.T, out string) []string {
	t.Helper()
	s, err := termtest.Screen(out)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTerminal(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var ps [2]imagecopy.Progress
	var out bytes.Buffer
	d := New(&out, true, []Destination{{"reg-a.example/app:v1", &ps[0]}, {"reg-b.example/app:v1", &ps[1]}}, c.now)

	d.Frame() // at once, before anything is known
	got := screen(t, out.String())
	want := []string{"reg-a.example/app:v1  checking what it lacks…", "reg-b.example/app:v1  checking what it lacks…"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("first frame:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Each destination lacks the same 300 MiB image: each line says 300.
	plan(&ps[0], 300*mib, 4)
	plan(&ps[1], 300*mib, 4)
	d.Frame()
	for range 5 {
		c.advance(time.Second)
		ps[0].Done.Add(30 * mib)
		ps[1].Done.Add(10 * mib)
		d.Frame()
	}
	ps[0].BlobsDone.Store(1)
	d.Frame()
	got = screen(t, out.String())
	want = []string{
		"reg-a.example/app:v1  150.0 MiB of 300.0 MiB (50%)  30.0 MiB/s  ETA 5.0s  1/4 blobs",
		"reg-b.example/app:v1  50.0 MiB of 300.0 MiB (16%)  10.0 MiB/s  ETA 25.0s  0/4 blobs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// One finishes; the other stalls: its rate falls to nothing over the
	// window, and no ETA is made up.
	ps[0].Done.Store(300 * mib)
	ps[0].BlobsDone.Store(4)
	ps[0].Finished.Store(true)
	for range 6 {
		c.advance(time.Second)
		d.Frame()
	}
	got = screen(t, out.String())
	want = []string{
		"reg-a.example/app:v1  done: 300.0 MiB, 4 blobs",
		"reg-b.example/app:v1  50.0 MiB of 300.0 MiB (16%)  0/4 blobs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d.Clear()
	if got := screen(t, out.String()); len(got) != 0 {
		t.Errorf("after Clear the screen shows %q", got)
	}
}

func TestTerminalLinesFit(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(0, 0)}
	var p imagecopy.Progress
	var out bytes.Buffer
	long := "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/platform/team/some-service-with-a-long-name:release-2026.12.01"
	d := New(&out, true, []Destination{{long, &p}}, c.now)
	plan(&p, 5<<30, 120)
	d.Frame()
	c.advance(time.Second)
	p.Done.Add(1 << 30)
	d.Frame()
	for _, l := range screen(t, out.String()) {
		if n := utf8.RuneCountInString(l); n > Width-1 {
			t.Errorf("line of %d columns (at most %d): %s", n, Width-1, l)
		}
		if !strings.HasSuffix(l, "…") {
			t.Errorf("a line cut short does not end with …: %s", l)
		}
	}
}

// On a terminal narrower than Width, lines fit it.
func TestTerminalNarrow(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(0, 0)}
	var p imagecopy.Progress
	var out bytes.Buffer
	d := New(&out, true, []Destination{{"registry.example.com/platform/service:release-1", &p}}, c.now)
	d.SetWidth(40)
	d.Frame()
	got := screen(t, out.String())
	if len(got) != 1 || utf8.RuneCountInString(got[0]) != 39 {
		t.Errorf("on 40 columns: %q, want one line of 39", got)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(0, 0)}
	var copying, upToDate imagecopy.Progress
	var out bytes.Buffer
	d := New(&out, false, []Destination{{"reg.example/app:v1", &copying}, {"other.example/app:v1", &upToDate}}, c.now)
	lines := func() []string {
		s := strings.TrimSuffix(out.String(), "\n")
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}

	d.Frame()
	if len(lines()) != 0 {
		t.Errorf("lines before anything is known: %q", lines())
	}
	plan(&copying, 10*mib, 2)
	plan(&upToDate, 0, 0)
	upToDate.Finished.Store(true)
	d.Frame()
	if got := lines(); len(got) != 1 || got[0] != "reg.example/app:v1  0 B of 10.0 MiB (0%)  0/2 blobs" {
		t.Fatalf("after the survey: %q, want one line for the destination with something to copy", got)
	}
	// Bytes move, no blob completes, less than LogEvery passes: no line.
	for range 4 {
		c.advance(time.Second)
		copying.Done.Add(mib)
		d.Frame()
	}
	if n := len(lines()); n != 1 {
		t.Errorf("%d lines within %s of the last with no blob done, want 1", n, LogEvery)
	}
	// A blob completes: a line at once.
	copying.BlobsDone.Store(1)
	d.Frame()
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "1/2 blobs") {
		t.Fatalf("after a blob: %q", got)
	}
	// LogEvery with no blob done: a line anyway, so the log shows the copy is alive.
	c.advance(LogEvery)
	d.Frame()
	if n := len(lines()); n != 3 {
		t.Errorf("%d lines after %s without one, want 3", n, LogEvery)
	}
	// The last blob and the end: one line for the blob, none for the end.
	copying.Done.Store(10 * mib)
	copying.BlobsDone.Store(2)
	copying.Finished.Store(true)
	d.Frame()
	c.advance(2 * LogEvery)
	d.Frame()
	got := lines()
	if len(got) != 4 || !strings.Contains(got[3], "done: 10.0 MiB, 2 blobs") {
		t.Errorf("after the end: %q", got)
	}
	if strings.ContainsAny(out.String(), "\r\033") {
		t.Errorf("a log got a carriage return or an escape: %q", out.String())
	}
	for _, l := range got {
		if strings.Contains(l, "other.example") {
			t.Errorf("the up-to-date destination got a line: %q", l)
		}
	}
}

func TestResults(t *testing.T) {
	t.Parallel()
	const digest = "sha256:2d9689b1c464d5772a35db1f94e1a741e0088cbd7bb5106fa28d5cb724971a85"
	long := errors.New("upload blob sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef in 111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app: 403 Forbidden (DENIED): not authorized")
	results := []imagecopy.Result{
		{Destination: "reg-a.example/app:v1", Digest: digest, Status: imagecopy.StatusCopied, BlobsCopied: 1, BytesCopied: 300 * mib,
			ManifestsWritten: 1, Duration: 10 * time.Second},
		{Destination: "reg-b.example/app:v1", Digest: digest, Status: imagecopy.StatusCopied, BlobsCopied: 3, BytesCopied: 2048, BlobsSkipped: 1,
			BlobsMounted: 2, ManifestsWritten: 3, ReferrersCopied: 1, Duration: 850 * time.Millisecond, Replaced: "sha256:aaaa"},
		{Destination: "reg-c.example/app:v1", Digest: digest, Status: imagecopy.StatusUnchanged, Duration: 15 * time.Millisecond},
		{Destination: "reg-d.example/app:v2", Digest: digest, Status: imagecopy.StatusCopied, BlobsSkipped: 1, ManifestsWritten: 1, Duration: 7 * time.Millisecond},
		{Destination: "111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1", Digest: digest, Status: imagecopy.StatusFailed,
			Err: long, Error: long.Error(), Duration: 3100 * time.Millisecond},
	}
	var out bytes.Buffer
	Results(&out, results, func(r imagecopy.Result) string { return "check the role's ecr:PutImage permission" })
	want := `image sha256:2d9689b1c464d5772a35db1f94e1a741e0088cbd7bb5106fa28d5cb724971a85
✓ reg-a.example/app:v1  copied in 10.0s: 1 blob (300.0 MiB), 1 manifest at 30.0 MiB/s
✓ reg-b.example/app:v1  copied in 850ms: 3 blobs (2.0 KiB), 2 mounted, 1 already there, 3 manifests,
    1 referrer
  the tag pointed at sha256:aaaa before
✓ reg-c.example/app:v1  up to date (checked in 15ms)
✓ reg-d.example/app:v2  copied in 7ms: 1 blob already there, 1 manifest
✗ 111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1  failed after 3.1s: upload blob
    sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef in
    111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app: 403 Forbidden (DENIED): not authorized
  hint: check the role's ecr:PutImage permission
`
	if out.String() != want {
		t.Errorf("results:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if n := utf8.RuneCountInString(l); n > Width {
			t.Errorf("line of %d columns: %s", n, l)
		}
	}
}
