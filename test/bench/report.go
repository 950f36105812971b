package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Goals ferry is held to, against the best peer of each column.
const (
	goalColdSpeedup = 1.5  // at least this many times faster, cold
	goalWarmSpeedup = 5.0  // at least this many times faster, warm
	goalRSSRatio    = 1.25 // at most this times the peak RSS
)

// row is one tool's summary: medians over its successful trials.
type row struct {
	Tool        string  `json:"tool"`
	Version     string  `json:"version,omitempty"`
	Mode        string  `json:"mode,omitempty"` // WAN profile: one call, per destination in parallel or in sequence
	Parallel    bool    `json:"parallel,omitempty"`
	Peer        bool    `json:"peer"`
	Unavailable string  `json:"unavailable,omitempty"`
	Error       string  `json:"error,omitempty"`
	DigestIssue string  `json:"digest_issue,omitempty"`
	ColdSeconds float64 `json:"cold_seconds"`
	WarmSeconds float64 `json:"warm_seconds"`
	PeakRSSKiB  int64   `json:"peak_rss_kib"`
	// The spread over the successful trials, and the WAN profile's
	// medians: the large copy's time and the requests counted at the
	// proxies (cold: all of it; warm: one run).
	ColdMin      float64 `json:"cold_min_seconds,omitempty"`
	ColdMax      float64 `json:"cold_max_seconds,omitempty"`
	WarmMin      float64 `json:"warm_min_seconds,omitempty"`
	WarmMax      float64 `json:"warm_max_seconds,omitempty"`
	LargeSeconds float64 `json:"large_seconds,omitempty"`
	ColdRequests int64   `json:"cold_requests,omitempty"`
	WarmRequests int64   `json:"warm_requests,omitempty"`
	Trials       []trial `json:"trials"`
}

// ok reports whether the row has valid numbers: the tool ran and kept digests.
func (r row) ok() bool {
	return r.Unavailable == "" && r.Error == "" && r.DigestIssue == ""
}

func (r row) label() string {
	switch {
	case r.Version == "":
		return r.Tool
	case r.Version == "dev":
		return r.Tool + " (dev)"
	default:
		return r.Tool + " " + r.Version
	}
}

// wanLabel names the row and how it ran.
func (r row) wanLabel() string { return r.Tool + modeSuffix(r.Mode) }

// summarize turns a tool's trials into its row.
func summarize(t tool, trials []trial) row {
	r := row{Tool: t.name, Version: t.version, Mode: t.mode, Parallel: t.parallel, Peer: t.peer, Unavailable: t.unavailable, Trials: trials}
	var cold, warm, large []time.Duration
	var rss, coldReq, warmReq []int64
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
		if tr.Large > 0 || tr.PeakRSSKiB > 0 {
			large, rss = append(large, tr.Large), append(rss, tr.PeakRSSKiB)
		}
		if tr.ColdRequests != nil {
			coldReq, warmReq = append(coldReq, tr.ColdRequests.total()), append(warmReq, tr.WarmRequests)
		}
	}
	if len(cold) > 0 {
		r.ColdSeconds = median(cold).Seconds()
		r.WarmSeconds = median(warm).Seconds()
		r.ColdMin, r.ColdMax = slices.Min(cold).Seconds(), slices.Max(cold).Seconds()
		r.WarmMin, r.WarmMax = slices.Min(warm).Seconds(), slices.Max(warm).Seconds()
		r.PeakRSSKiB = median(rss)
		r.LargeSeconds = median(large).Seconds()
		r.ColdRequests, r.WarmRequests = median(coldReq), median(warmReq)
	}
	return r
}

// median returns the middle value (the mean of the two middle ones for an
// even count), or zero for none.
func median[T ~int64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// comparison is ferry against the best valid peer of each column.
type comparison struct {
	Reason      string  `json:"reason,omitempty"` // why there is no comparison
	ColdSpeedup float64 `json:"cold_speedup"`     // best peer time / ferry time
	WarmSpeedup float64 `json:"warm_speedup"`
	RSSRatio    float64 `json:"rss_ratio"` // ferry RSS / best peer RSS
	ColdPeer    string  `json:"cold_peer"`
	WarmPeer    string  `json:"warm_peer"`
	RSSPeer     string  `json:"rss_peer"`
	ColdGoalMet bool    `json:"cold_goal_met"`
	WarmGoalMet bool    `json:"warm_goal_met"`
	RSSGoalMet  bool    `json:"rss_goal_met"`
}

func compare(rows []row) comparison {
	ferry := slices.IndexFunc(rows, func(r row) bool { return !r.Peer })
	switch {
	case ferry < 0:
		return comparison{Reason: "ferry not benchmarked"}
	case !rows[ferry].ok():
		return comparison{Reason: "ferry has no valid result"}
	}
	f := rows[ferry]
	var peers []row
	for _, r := range rows {
		if r.Peer && r.ok() {
			peers = append(peers, r)
		}
	}
	if len(peers) == 0 {
		return comparison{Reason: "no peer has a valid result"}
	}
	best := func(v func(row) float64) row {
		return slices.MinFunc(peers, func(a, b row) int { return cmpFloat(v(a), v(b)) })
	}
	cold := best(func(r row) float64 { return r.ColdSeconds })
	warm := best(func(r row) float64 { return r.WarmSeconds })
	rss := best(func(r row) float64 { return float64(r.PeakRSSKiB) })
	c := comparison{
		ColdSpeedup: ratio(cold.ColdSeconds, f.ColdSeconds),
		WarmSpeedup: ratio(warm.WarmSeconds, f.WarmSeconds),
		RSSRatio:    ratio(float64(f.PeakRSSKiB), float64(rss.PeakRSSKiB)),
		ColdPeer:    cold.label(),
		WarmPeer:    warm.label(),
		RSSPeer:     rss.label(),
	}
	c.ColdGoalMet = c.ColdSpeedup >= goalColdSpeedup
	c.WarmGoalMet = c.WarmSpeedup >= goalWarmSpeedup
	c.RSSGoalMet = c.RSSRatio <= goalRSSRatio
	return c
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// result is everything one run measured; it is also written as JSON.
type result struct {
	StartedAt    time.Time      `json:"started_at"`
	Scenarios    []string       `json:"scenarios"`
	Title        string         `json:"title"` // the copy scenario's fields: zero if it did not run
	ToolVersions string         `json:"tool_versions"`
	Trials       int            `json:"trials"`
	Destinations int            `json:"destinations"`
	IndexBytes   int64          `json:"index_bytes"`
	IndexDigest  string         `json:"index_digest"`
	LargeBytes   int64          `json:"large_bytes"`
	LargeDigest  string         `json:"large_digest"`
	Profile      string         `json:"profile"`
	Network      string         `json:"network,omitempty"` // the WAN profile's links
	TLS          bool           `json:"tls,omitempty"`     // HTTPS registries: connections counted, not requests
	Limits       *limits        `json:"limits,omitempty"`  // the WAN profile's model
	Rows         []row          `json:"rows"`
	Comparison   comparison     `json:"comparison"`
	WAN          *wanComparison `json:"wan_comparison,omitempty"`
	SetupSeconds float64        `json:"setup_seconds"` // registries, source data
	RunSeconds   float64        `json:"run_seconds"`   // all trials
	Sync         *syncResult    `json:"sync,omitempty"`
}

func title(indexBytes, largeBytes int64, dsts, trials int, registryVersion string, p profile) string {
	where := "loopback"
	if p.shaped() {
		where = "WAN profile"
	}
	return fmt.Sprintf("Ferry benchmark — 2-platform index, %s, %d destinations; %s single layer; median of %d (%s, distribution %s)",
		humanSize(indexBytes), dsts, humanSize(largeBytes), trials, where, registryVersion)
}

func humanSize(n int64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.2f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}

// writeTable prints the result as a plain-text table.
func writeTable(w io.Writer, res result) {
	if res.Limits != nil {
		writeWANTable(w, res)
		return
	}
	fmt.Fprintln(w, res.Title)
	fmt.Fprintln(w, res.ToolVersions)
	fmt.Fprintf(w, "%-20s %11s %12s %16s   %s\n", "tool", fmt.Sprintf("cold %d dst", res.Destinations),
		fmt.Sprintf("warm %d dst", res.Destinations), "1 GiB peak RSS", "digests")
	for _, r := range res.Rows {
		fmt.Fprintln(w, tableLine(r))
	}
	fmt.Fprintln(w, comparisonLine(res.Comparison))
}

// failure is why a row has no figures ("not available (...)", "failed:
// ..."), or "" when it has them.
func (r row) failure() string {
	switch {
	case r.Unavailable != "":
		return "not available (" + r.Unavailable + ")"
	case r.Error != "" && r.ColdSeconds == 0:
		return "failed: " + r.Error
	}
	return ""
}

// digests is a row's digest column: ok, or what changed, and any trials
// that failed.
func (r row) digests() string {
	digests := "ok"
	if r.DigestIssue != "" {
		digests = "CHANGED: " + r.DigestIssue
	}
	if r.Error != "" {
		digests += " (some trials failed: " + r.Error + ")"
	}
	return digests
}

func tableLine(r row) string {
	label := fmt.Sprintf("%-20s", r.label())
	if f := r.failure(); f != "" {
		return label + " " + f
	}
	digests := r.digests()
	return fmt.Sprintf("%s %9.2f s %10.3f s %12.1f MiB   %s",
		label, r.ColdSeconds, r.WarmSeconds, float64(r.PeakRSSKiB)/1024, digests)
}

func comparisonLine(c comparison) string {
	if c.Reason != "" {
		return "ferry vs best peer:  n/a (" + c.Reason + ")"
	}
	return fmt.Sprintf("ferry vs best peer:  cold %s (goal ≥%gx faster%s)   warm %s (goal ≥%gx faster%s)   RSS %.2fx (goal ≤%gx%s)",
		speed(c.ColdSpeedup), goalColdSpeedup, missed(c.ColdGoalMet),
		speed(c.WarmSpeedup), goalWarmSpeedup, missed(c.WarmGoalMet),
		c.RSSRatio, goalRSSRatio, missed(c.RSSGoalMet))
}

// speed says how many times faster (or slower) ferry is than the best peer.
func speed(speedup float64) string {
	switch {
	case speedup == 0:
		return "n/a"
	case speedup >= 1:
		return fmt.Sprintf("%.2fx faster", speedup)
	default:
		return fmt.Sprintf("%.2fx slower", 1/speedup)
	}
}

func missed(met bool) string {
	if met {
		return ""
	}
	return ", MISSED"
}

// writeJSON writes the result to path, creating its directory.
func writeJSON(path string, res result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// joinVersions formats "name version" pairs for the header.
func joinVersions(pairs [][2]string) string {
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		parts = append(parts, p[0]+" "+p[1])
	}
	return strings.Join(parts, ", ")
}
