package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// emfDoc is one embedded-metric-format log line.
type emfDoc struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	StateMachine string
	Destination  string
	values       map[string]float64
}

// metricLines reads the embedded-metric-format documents from JSON logs.
func metricLines(t *testing.T, logs string) []emfDoc {
	t.Helper()
	var out []emfDoc
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var d emfDoc
		var all map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("metric line %s: %v", line, err)
		}
		_ = json.Unmarshal([]byte(line), &all)
		d.values = map[string]float64{}
		for _, cwm := range d.AWS.CloudWatchMetrics {
			for _, m := range cwm.Metrics {
				v, ok := all[m.Name].(float64)
				if !ok {
					t.Errorf("metric %s is declared but has no value in %s", m.Name, line)
				}
				d.values[m.Name] = v
			}
		}
		out = append(out, d)
	}
	return out
}

// Summarize emits, per destination, the embedded-metric-format document
// the dashboard and the lag alarm read: namespace Ferry, the dimension sets
// {StateMachine} and {StateMachine, Destination}, a count for the
// destination's status, its bytes and its replication lag.
func TestSummarizeEmitsMetrics(t *testing.T) {
	t.Parallel()
	jobs := []PlannedJob{testJob(prodID).Planned(nil), testJob(mirrorID).Planned(nil)}
	plan := Plan{Execution: "arn:aws:states:us-east-1:111111111111:execution:Ferry-replicate:run-1", Repository: "team/app", Tag: "release-1.0",
		Digest: digestA, Jobs: jobs}
	results := []Outcome{
		{Destination: prodID, Status: StatusFailed, Error: "AccessDeniedError", Reason: "denied"},
		{Destination: mirrorID, Status: StatusCopied, BytesCopied: 4096, LagMs: 1500},
	}
	log, logs := testLogger()
	if _, err := NewSummarize(log).Handle(context.Background(), SummarizeRequest{Plan: plan, Results: results}); err != nil {
		t.Fatal(err)
	}
	docs := metricLines(t, logs.String())
	if len(docs) != 2 {
		t.Fatalf("%d metric lines, want one per destination:\n%s", len(docs), logs)
	}
	want := map[string]map[string]float64{
		prodID:   {MetricFailed: 1},
		mirrorID: {MetricCopied: 1, MetricBytesCopied: 4096, MetricReplicationLag: 1500},
	}
	for _, d := range docs {
		cwm := d.AWS.CloudWatchMetrics[0]
		if cwm.Namespace != "Ferry" || d.StateMachine != "Ferry-replicate" || time.Since(time.UnixMilli(d.AWS.Timestamp)) > time.Minute {
			t.Errorf("namespace %q, state machine %q, timestamp %d", cwm.Namespace, d.StateMachine, d.AWS.Timestamp)
		}
		if !slices.EqualFunc(cwm.Dimensions, [][]string{{"StateMachine"}, {"StateMachine", "Destination"}}, slices.Equal) {
			t.Errorf("dimensions %v", cwm.Dimensions)
		}
		for _, m := range cwm.Metrics {
			if wantUnit := map[string]string{MetricBytesCopied: "Bytes", MetricReplicationLag: "Milliseconds"}[m.Name]; m.Unit != cmp.Or(wantUnit, "Count") {
				t.Errorf("%s: unit %s", m.Name, m.Unit)
			}
		}
		if w := want[d.Destination]; !equalValues(d.values, w) {
			t.Errorf("%s: metrics %v, want %v", d.Destination, d.values, w)
		}
	}
}

func equalValues(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The lag is the time from the push to the tag written; unknown without a
// push time.
func TestLagMs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 1, 500e6, time.UTC)
	for _, tt := range []struct {
		pushed string
		want   int64
	}{
		{"2026-12-01T12:00:00Z", 1500},
		{"2026-12-01T12:00:00.25Z", 1250},
		{"", 0},
		{"yesterday", 0},
		{"2026-12-01T12:00:05Z", 0}, // clock skew: never negative
	} {
		if got := lagMs(tt.pushed, now); got != tt.want {
			t.Errorf("lagMs(%q) = %d, want %d", tt.pushed, got, tt.want)
		}
	}
	// A destination that waited for a person: its lag starts at the
	// approval, not at the push.
	r := Replication{Job: Job{PushedAt: "2026-12-01T11:00:00Z"}, Approval: &ApprovalDecision{DecidedAt: now.Add(-time.Second)}}
	if got := lagMs(lagStart(r), now); got != 1000 {
		t.Errorf("lag after an approval = %d ms, want 1000 (from the approval)", got)
	}
	if r.Job.PushedAt = ""; lagStart(r) != "" {
		t.Errorf("lag of a run without a push starts at %q, want none", lagStart(r))
	}
}
