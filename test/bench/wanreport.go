package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The WAN profile's goals (issue 12), against the best peer run per
// destination in parallel, and against the round trip and the model.
const (
	goalWANFanOut     = 1.5 // ferry, one call: at least this many times faster, cold
	goalWANPerDest    = 1.3 // ferry, one call per destination in parallel: the same
	goalWANWarmRTT    = 1.2 // warm: at most this many round trips
	goalWANLimitRatio = 1.5 // cold, one call: at most this times the modelled limit
)

// wanComparison is ferry against the best peer in parallel, the round
// trip and the modelled limit.
type wanComparison struct {
	Reason         string  `json:"reason,omitempty"`
	Peer           string  `json:"peer"` // the best peer in parallel, cold
	FanOutSpeedup  float64 `json:"fan_out_speedup"`
	PerDestSpeedup float64 `json:"per_destination_speedup"`
	WarmRTTs       float64 `json:"warm_round_trips"` // ferry's warm copy, in round trips
	LimitRatio     float64 `json:"limit_ratio"`      // ferry's cold copy over the limit
	RSSPeer        string  `json:"rss_peer"`
	RSSRatio       float64 `json:"rss_ratio"`
	FanOutMet      bool    `json:"fan_out_goal_met"`
	PerDestMet     bool    `json:"per_destination_goal_met"`
	WarmMet        bool    `json:"warm_goal_met"`
	LimitMet       bool    `json:"limit_goal_met"`
	RSSMet         bool    `json:"rss_goal_met"`
}

func compareWAN(rows []row, l limits, rtt time.Duration) *wanComparison {
	find := func(mode string) (row, bool) {
		i := slices.IndexFunc(rows, func(r row) bool { return !r.Peer && r.Mode == mode })
		if i < 0 || !rows[i].ok() {
			return row{}, false
		}
		return rows[i], true
	}
	one, okOne := find(modeOneCall)
	each, okEach := find(modeParallel)
	var peers []row
	for _, r := range rows {
		if r.Peer && r.Parallel && r.ok() {
			peers = append(peers, r)
		}
	}
	switch {
	case !okOne || !okEach:
		return &wanComparison{Reason: "ferry has no valid result"}
	case len(peers) == 0:
		return &wanComparison{Reason: "no peer has a valid result"}
	}
	cold := slices.MinFunc(peers, func(a, b row) int { return cmpFloat(a.ColdSeconds, b.ColdSeconds) })
	rss := slices.MinFunc(peers, func(a, b row) int { return cmpFloat(float64(a.PeakRSSKiB), float64(b.PeakRSSKiB)) })
	c := &wanComparison{
		Peer:           cold.wanLabel(),
		FanOutSpeedup:  ratio(cold.ColdSeconds, one.ColdSeconds),
		PerDestSpeedup: ratio(cold.ColdSeconds, each.ColdSeconds),
		WarmRTTs:       ratio(one.WarmSeconds, rtt.Seconds()),
		LimitRatio:     ratio(one.ColdSeconds, l.Cold.Seconds()),
		RSSPeer:        rss.wanLabel(),
		RSSRatio:       ratio(float64(one.PeakRSSKiB), float64(rss.PeakRSSKiB)),
	}
	c.FanOutMet = c.FanOutSpeedup >= goalWANFanOut
	c.PerDestMet = c.PerDestSpeedup >= goalWANPerDest
	c.WarmMet = c.WarmRTTs > 0 && c.WarmRTTs <= goalWANWarmRTT
	c.LimitMet = c.LimitRatio > 0 && c.LimitRatio <= goalWANLimitRatio
	c.RSSMet = c.RSSRatio <= goalRSSRatio
	return c
}

// writeWANTable prints the WAN profile's table: medians with the spread
// (min–max) of the cold and warm copies, the large copy's time and peak
// RSS, the requests counted at the proxies, the modelled limit and the
// goals.
func writeWANTable(w io.Writer, res result) {
	fmt.Fprintln(w, res.Title)
	fmt.Fprintln(w, res.Network)
	fmt.Fprintln(w, res.ToolVersions)
	fmt.Fprintf(w, "%-38s %-20s %-22s %9s %9s %13s   %s\n", "tool", fmt.Sprintf("cold %d dst (min–max)", res.Destinations),
		fmt.Sprintf("warm %d dst (min–max)", res.Destinations), "1 GiB", "peak RSS", countsHeader(res.TLS), "digests")
	for _, r := range res.Rows {
		fmt.Fprintln(w, wanLine(r))
	}
	l := res.Limits
	fmt.Fprintf(w, "%-38s %-20s %-22s %9s\n", "modelled limit", fmt.Sprintf("%.2f s", l.Cold.Seconds()),
		fmt.Sprintf("%.3f s", l.Warm.Seconds()), fmt.Sprintf("%.1f s", l.Large.Seconds()))
	fmt.Fprintln(w, "model: "+l.Model)
	fmt.Fprintln(w, wanComparisonLine(res.WAN))
}

func wanLine(r row) string {
	label := fmt.Sprintf("%-38s", r.wanLabel())
	if f := r.failure(); f != "" {
		return label + " " + f
	}
	digests := r.digests()
	large, rss := "—", "—"
	if r.LargeSeconds > 0 {
		large, rss = fmt.Sprintf("%.1f s", r.LargeSeconds), fmt.Sprintf("%.1f MiB", float64(r.PeakRSSKiB)/1024)
	}
	return fmt.Sprintf("%s %-20s %-22s %9s %9s %13s   %s", label,
		fmt.Sprintf("%.2f s (%.2f–%.2f)", r.ColdSeconds, r.ColdMin, r.ColdMax),
		fmt.Sprintf("%.3f s (%.3f–%.3f)", r.WarmSeconds, r.WarmMin, r.WarmMax),
		large, rss, fmt.Sprintf("%d / %d", r.ColdRequests, r.WarmRequests), digests)
}

func wanComparisonLine(c *wanComparison) string {
	if c == nil || c.Reason != "" {
		reason := "no comparison"
		if c != nil {
			reason = c.Reason
		}
		return "ferry vs best peer in parallel: n/a (" + reason + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ferry vs best peer in parallel (%s): one call %s (goal ≥%gx%s), per destination %s (goal ≥%gx%s)\n",
		c.Peer, speed(c.FanOutSpeedup), goalWANFanOut, missed(c.FanOutMet), speed(c.PerDestSpeedup), goalWANPerDest, missed(c.PerDestMet))
	fmt.Fprintf(&b, "ferry, one call: warm %.2f round trips (goal ≤%g%s), cold %.2fx the modelled limit (goal ≤%gx%s), ",
		c.WarmRTTs, goalWANWarmRTT, missed(c.WarmMet), c.LimitRatio, goalWANLimitRatio, missed(c.LimitMet))
	if c.RSSRatio == 0 {
		b.WriteString("1 GiB peak RSS not measured (--large=false)")
	} else {
		fmt.Fprintf(&b, "1 GiB peak RSS %.2fx %s's (goal ≤%gx%s)", c.RSSRatio, c.RSSPeer, goalRSSRatio, missed(c.RSSMet))
	}
	return b.String()
}

// countsHeader names what the proxies counted: requests, or over TLS,
// which they cannot read, connections.
func countsHeader(tls bool) string {
	if tls {
		return "conns c/w"
	}
	return "requests c/w"
}
