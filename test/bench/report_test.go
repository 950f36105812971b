package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{5}, 5},
		{[]int64{9, 1, 5}, 5},
		{[]int64{4, 1, 3, 2}, 2}, // (2+3)/2, integer
		{[]int64{10, 30}, 20},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	in := []time.Duration{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median reordered its input")
	}
}

func TestSummarizeKeepsFailuresVisible(t *testing.T) {
	sec := time.Second
	r := summarize(tool{name: "crane", version: "v1", peer: true}, []trial{
		{Cold: 3 * sec, Warm: sec / 10, PeakRSSKiB: 100},
		{Err: "cold copy: exit status 1"},
		{Cold: 1 * sec, Warm: sec / 5, PeakRSSKiB: 300, DigestIssue: "cold copy: dst1 differs"},
	})
	if r.ColdSeconds != 2 || r.PeakRSSKiB != 200 {
		t.Errorf("medians over successful trials: cold %v, rss %v; want 2, 200", r.ColdSeconds, r.PeakRSSKiB)
	}
	if r.Error == "" || r.DigestIssue == "" || r.ok() {
		t.Errorf("failure or digest issue lost: %+v", r)
	}
	line := tableLine(r)
	if !strings.Contains(line, "CHANGED") || !strings.Contains(line, "some trials failed") {
		t.Errorf("table line hides problems: %q", line)
	}
}

func TestCompareUsesBestValidPeerPerColumn(t *testing.T) {
	rows := []row{
		{Tool: "ferry", Version: "dev", ColdSeconds: 1, WarmSeconds: 0.01, PeakRSSKiB: 120},
		{Tool: "crane", Peer: true, ColdSeconds: 2, WarmSeconds: 0.2, PeakRSSKiB: 100},
		{Tool: "regctl", Peer: true, ColdSeconds: 3, WarmSeconds: 0.1, PeakRSSKiB: 200},
		{Tool: "skopeo", Peer: true, ColdSeconds: 0.5, WarmSeconds: 0.01, PeakRSSKiB: 10, DigestIssue: "changed"},
	}
	c := compare(rows)
	if c.ColdSpeedup != 2 || c.ColdPeer != "crane" {
		t.Errorf("cold: %vx vs %s, want 2x vs crane", c.ColdSpeedup, c.ColdPeer)
	}
	if c.WarmSpeedup != 10 || c.WarmPeer != "regctl" {
		t.Errorf("warm: %vx vs %s, want 10x vs regctl", c.WarmSpeedup, c.WarmPeer)
	}
	if c.RSSRatio != 1.2 || !c.RSSGoalMet || !c.ColdGoalMet || !c.WarmGoalMet {
		t.Errorf("rss ratio %v, goals %v %v %v; want 1.2 and all met", c.RSSRatio, c.ColdGoalMet, c.WarmGoalMet, c.RSSGoalMet)
	}
}

func TestCompareWithoutFerry(t *testing.T) {
	rows := []row{
		{Tool: "ferry", Unavailable: "bin/ferry not found"},
		{Tool: "crane", Peer: true, ColdSeconds: 2},
	}
	if c := compare(rows); c.Reason == "" {
		t.Errorf("compare gave numbers without a ferry result: %+v", c)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	writeTable(&buf, result{
		Title:        "title",
		ToolVersions: "tools: crane v0.22.1",
		Destinations: 3,
		Rows: []row{
			{Tool: "ferry", Unavailable: "bin/ferry not found"},
			{Tool: "crane", Version: "v0.22.1", Peer: true, ColdSeconds: 2.97, WarmSeconds: 0.11, PeakRSSKiB: 14131},
		},
		Comparison: comparison{Reason: "ferry has no valid result"},
	})
	want := `title
tools: crane v0.22.1
tool                  cold 3 dst   warm 3 dst   1 GiB peak RSS   digests
ferry                not available (bin/ferry not found)
crane v0.22.1             2.97 s      0.110 s         13.8 MiB   ok
ferry vs best peer:  n/a (ferry has no valid result)
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
