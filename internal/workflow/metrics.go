package workflow

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Metrics go to CloudWatch in the embedded metric format: a JSON log line
// with an "_aws" member, which CloudWatch Logs turns into metrics, with no
// PutMetricData call (and no cloudwatch:PutMetricData permission). The
// Lambdas log JSON to stdout, so a line logged here is such a document;
// locally it is just a log line.
//
// Each destination of a run gets one line, in namespace MetricsNamespace,
// with two dimension sets: {StateMachine} (the totals a dashboard shows)
// and {StateMachine, Destination}. The stack's dashboard and lag alarm use
// these names: changing them breaks deployed alarms.
const MetricsNamespace = "Ferry"

// Metric names.
const (
	MetricCopied         = "Copied"
	MetricUnchanged      = "Unchanged"
	MetricFailed         = "Failed"
	MetricBlocked        = "Blocked"
	MetricSuperseded     = "Superseded"
	MetricSkipped        = "Skipped"
	MetricUntagged       = "Untagged"
	MetricBytesCopied    = "BytesCopied"
	MetricReplicationLag = "ReplicationLag" // milliseconds from the push (or the approval, where one was asked) to the tag written
)

// Metric dimensions.
const (
	DimensionStateMachine = "StateMachine"
	DimensionDestination  = "Destination"
)

// runMetrics collects one run's metrics by destination.
type runMetrics struct {
	stateMachine string
	order        []string                      // destinations, first seen first
	values       map[string]map[string]float64 // destination -> metric -> value
}

// newRunMetrics collects metrics for the execution (an execution ARN, whose
// state machine names the StateMachine dimension).
func newRunMetrics(execution string) *runMetrics {
	return &runMetrics{stateMachine: stateMachineName(execution), values: map[string]map[string]float64{}}
}

// stateMachineName is the state machine of an execution ARN
// (arn:aws:states:<region>:<account>:execution:<state machine>:<name>).
func stateMachineName(execution string) string {
	parts := strings.Split(execution, ":")
	if len(parts) >= 8 && parts[5] == "execution" {
		return parts[6]
	}
	return "unknown"
}

// statusMetric is the count a destination's status adds to.
func statusMetric(status string) string {
	switch {
	case isFailure(status):
		return MetricFailed
	case status == StatusCopied:
		return MetricCopied
	case status == StatusBlocked:
		return MetricBlocked
	case status == StatusSuperseded:
		return MetricSuperseded
	case status == StatusSkipped, status == StatusNotApproved:
		return MetricSkipped
	case status == StatusUntagged:
		return MetricUntagged
	}
	return MetricUnchanged // unchanged, in sync
}

// add adds v to a destination's metric; destination "" counts for the
// state machine's totals only.
func (m *runMetrics) add(destination, metric string, v float64) {
	d, ok := m.values[destination]
	if !ok {
		d = map[string]float64{}
		m.values[destination] = d
		m.order = append(m.order, destination)
	}
	d[metric] += v
}

// outcome adds one destination's outcome.
func (m *runMetrics) outcome(destination, status string, bytesCopied, lagMs int64) {
	m.add(destination, statusMetric(status), 1)
	if bytesCopied > 0 {
		m.add(destination, MetricBytesCopied, float64(bytesCopied))
	}
	if lagMs > 0 {
		// One value a destination: the largest, if a run wrote several
		// tags there (a digest's tags).
		if d := m.values[destination]; d[MetricReplicationLag] < float64(lagMs) {
			d[MetricReplicationLag] = float64(lagMs)
		}
	}
}

// unit is a metric's CloudWatch unit.
func unit(metric string) string {
	switch metric {
	case MetricBytesCopied:
		return "Bytes"
	case MetricReplicationLag:
		return "Milliseconds"
	}
	return "Count"
}

// emit logs one embedded-metric-format document per destination.
func (m *runMetrics) emit(ctx context.Context, log *slog.Logger, now time.Time) {
	for _, dest := range m.order {
		values := m.values[dest]
		names := slices.Sorted(maps.Keys(values))
		defs := make([]map[string]string, 0, len(names))
		attrs := []slog.Attr{slog.String(DimensionStateMachine, m.stateMachine)}
		dims := [][]string{{DimensionStateMachine}}
		if dest != "" {
			dims = append(dims, []string{DimensionStateMachine, DimensionDestination})
			attrs = append(attrs, slog.String(DimensionDestination, dest))
		}
		for _, n := range names {
			defs = append(defs, map[string]string{"Name": n, "Unit": unit(n)})
			attrs = append(attrs, slog.Float64(n, values[n]))
		}
		aws := map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  MetricsNamespace,
				"Dimensions": dims,
				"Metrics":    defs,
			}},
		}
		log.LogAttrs(ctx, slog.LevelInfo, "metrics", append([]slog.Attr{slog.Any("_aws", aws)}, attrs...)...)
	}
}
