package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Goals of the sync scenario, against the best peer of each column; and
// ferry reads each unique source blob once (source bytes = unique bytes).
const (
	goalSyncColdSpeedup = 1.5
	goalSyncWarmSpeedup = 3.0
)

// syncResult is everything the sync scenario measured.
type syncResult struct {
	Title        string         `json:"title"`
	ToolVersions string         `json:"tool_versions"`
	Images       int            `json:"images"`
	Repositories int            `json:"repositories"`
	UniqueBlobs  int            `json:"unique_blobs"`
	UniqueBytes  int64          `json:"unique_blob_bytes"` // the ideal: each distinct blob read once
	ImageBytes   int64          `json:"image_bytes"`       // every image's bytes, shared layers counted each time
	WarmRuns     int            `json:"warm_runs"`
	Rows         []syncRow      `json:"rows"`
	Comparison   syncComparison `json:"comparison"`
	RunSeconds   float64        `json:"run_seconds"` // all trials, source pushes included
}

// syncRow is one tool's summary: medians over its successful trials.
type syncRow struct {
	Tool         string      `json:"tool"`
	Version      string      `json:"version,omitempty"`
	Peer         bool        `json:"peer"`
	Unavailable  string      `json:"unavailable,omitempty"`
	Error        string      `json:"error,omitempty"`
	DigestIssue  string      `json:"digest_issue,omitempty"`
	ColdSeconds  float64     `json:"cold_seconds"`
	WarmSeconds  float64     `json:"warm_seconds"`
	ColdRequests int64       `json:"cold_requests"`
	WarmRequests int64       `json:"warm_requests"`
	SourceBytes  int64       `json:"source_blob_bytes"` // read from the source, cold
	Trials       []syncTrial `json:"trials"`
}

func (r syncRow) ok() bool { return r.Unavailable == "" && r.Error == "" && r.DigestIssue == "" }

func (r syncRow) label() string {
	return row{Tool: r.Tool, Version: r.Version}.label()
}

// summarizeSync turns a tool's sync trials into its row.
func summarizeSync(t tool, trials []syncTrial) syncRow {
	r := syncRow{Tool: t.name, Version: t.version, Peer: t.peer, Unavailable: t.unavailable, Trials: trials}
	var cold, warm []time.Duration
	var coldReq, warmReq, src []int64
	for _, tr := range trials {
		if tr.Err != "" {
			if r.Error == "" {
				r.Error = tr.Err
			}
			continue
		}
		if tr.DigestIssue != "" && r.DigestIssue == "" {
			r.DigestIssue = tr.DigestIssue
		}
		cold, warm = append(cold, tr.Cold), append(warm, tr.Warm)
		coldReq = append(coldReq, int64(tr.ColdCalls.Requests))
		warmReq = append(warmReq, int64(tr.WarmCalls.Requests))
		src = append(src, tr.ColdCalls.SourceBlobBytes)
	}
	if len(cold) > 0 {
		r.ColdSeconds, r.WarmSeconds = median(cold).Seconds(), median(warm).Seconds()
		r.ColdRequests, r.WarmRequests = median(coldReq), median(warmReq)
		r.SourceBytes = median(src)
	}
	return r
}

// syncComparison is ferry against the best valid peer of each column, and
// ferry's source reads against the unique blobs.
type syncComparison struct {
	Reason        string  `json:"reason,omitempty"` // why there is no comparison
	ColdSpeedup   float64 `json:"cold_speedup"`     // best peer time / ferry time; 0 without a peer
	WarmSpeedup   float64 `json:"warm_speedup"`
	ColdPeer      string  `json:"cold_peer,omitempty"`
	WarmPeer      string  `json:"warm_peer,omitempty"`
	RequestsRatio float64 `json:"requests_ratio"` // ferry cold requests / the fewest of a peer
	RequestsPeer  string  `json:"requests_peer,omitempty"`
	SourceRatio   float64 `json:"source_ratio"` // ferry source bytes / unique blob bytes
	ColdGoalMet   bool    `json:"cold_goal_met"`
	WarmGoalMet   bool    `json:"warm_goal_met"`
	SourceGoalMet bool    `json:"source_goal_met"`
}

func compareSync(rows []syncRow, uniqueBytes int64) syncComparison {
	ferry := slices.IndexFunc(rows, func(r syncRow) bool { return !r.Peer })
	switch {
	case ferry < 0:
		return syncComparison{Reason: "ferry not benchmarked"}
	case !rows[ferry].ok():
		return syncComparison{Reason: "ferry has no valid result"}
	}
	f := rows[ferry]
	c := syncComparison{SourceRatio: ratio(float64(f.SourceBytes), float64(uniqueBytes))}
	c.SourceGoalMet = f.SourceBytes == uniqueBytes
	var peers []syncRow
	for _, r := range rows {
		if r.Peer && r.ok() {
			peers = append(peers, r)
		}
	}
	if len(peers) == 0 {
		return c
	}
	best := func(v func(syncRow) float64) syncRow {
		return slices.MinFunc(peers, func(a, b syncRow) int { return cmpFloat(v(a), v(b)) })
	}
	cold := best(func(r syncRow) float64 { return r.ColdSeconds })
	warm := best(func(r syncRow) float64 { return r.WarmSeconds })
	req := best(func(r syncRow) float64 { return float64(r.ColdRequests) })
	c.ColdSpeedup, c.ColdPeer = ratio(cold.ColdSeconds, f.ColdSeconds), cold.label()
	c.WarmSpeedup, c.WarmPeer = ratio(warm.WarmSeconds, f.WarmSeconds), warm.label()
	c.RequestsRatio, c.RequestsPeer = ratio(float64(f.ColdRequests), float64(req.ColdRequests)), req.label()
	c.ColdGoalMet = c.ColdSpeedup >= goalSyncColdSpeedup
	c.WarmGoalMet = c.WarmSpeedup >= goalSyncWarmSpeedup
	return c
}

func syncTitle(s *syncSource, dsts, trials int) string {
	layers := len(s.spec.baseSizes) + 2
	return fmt.Sprintf("Sync benchmark — %d images (%d repositories × %d tags, %d layers each: %d base layers in every image, 1 per repository, 1 per tag), %d destinations; "+
		"%d unique blobs, %s (%s summed over images); median of %d (loopback, ferry's ECR emulator)",
		len(s.images), s.spec.repos, s.spec.tags, layers, len(s.spec.baseSizes), dsts,
		s.uniqueBlobs, humanSize(s.uniqueBytes), humanSize(s.imageBytes), trials)
}

// writeSyncTable prints the sync result as a plain-text table.
func writeSyncTable(w io.Writer, res syncResult) {
	fmt.Fprintln(w, res.Title)
	fmt.Fprintln(w, res.ToolVersions)
	fmt.Fprintf(w, "%-20s %11s %12s %15s   %-32s %s\n", "tool", fmt.Sprintf("cold %d dst", destinations),
		fmt.Sprintf("warm %d dst", destinations), "requests cold", "read from source cold", "digests")
	for _, r := range res.Rows {
		fmt.Fprintln(w, syncTableLine(r, res.UniqueBytes))
	}
	fmt.Fprintln(w, syncComparisonLine(res.Comparison))
}

func syncTableLine(r syncRow, uniqueBytes int64) string {
	label := fmt.Sprintf("%-20s", r.label())
	switch {
	case r.Unavailable != "":
		return label + " not available (" + r.Unavailable + ")"
	case r.Error != "" && r.ColdSeconds == 0:
		return label + " failed: " + r.Error
	}
	digests := "ok"
	if r.DigestIssue != "" {
		digests = "CHANGED: " + r.DigestIssue
	}
	if r.Error != "" {
		digests += " (some trials failed: " + r.Error + ")"
	}
	read := fmt.Sprintf("%s = %.2fx unique", humanSize(r.SourceBytes), ratio(float64(r.SourceBytes), float64(uniqueBytes)))
	return fmt.Sprintf("%s %9.2f s %10.3f s %15d   %-32s %s",
		label, r.ColdSeconds, r.WarmSeconds, r.ColdRequests, read, digests)
}

func syncComparisonLine(c syncComparison) string {
	if c.Reason != "" {
		return "ferry vs best peer:  n/a (" + c.Reason + ")"
	}
	source := fmt.Sprintf("source reads %.2fx the unique blobs (goal 1.00x, each read once%s)", c.SourceRatio, missed(c.SourceGoalMet))
	if c.ColdPeer == "" {
		return "ferry vs best peer:  n/a (no peer has a valid result)   " + source
	}
	return fmt.Sprintf("ferry vs best peer:  cold %s (goal ≥%gx faster%s)   warm %s (goal ≥%gx faster%s)   requests %.2fx   %s",
		speed(c.ColdSpeedup), goalSyncColdSpeedup, missed(c.ColdGoalMet),
		speed(c.WarmSpeedup), goalSyncWarmSpeedup, missed(c.WarmGoalMet),
		c.RequestsRatio, source)
}
