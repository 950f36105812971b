package stacks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// dashboardBody is a dashboard's body with its references written out as
// JSON ({"Ref":"..."}), and the body parsed, with each reference as the
// string "<ref>".
func dashboardBody(t *testing.T, props map[string]any) (string, map[string]any) {
	t.Helper()
	var flat, parsed strings.Builder
	switch v := props["DashboardBody"].(type) {
	case string:
		flat.WriteString(v)
		parsed.WriteString(v)
	case map[string]any:
		join := v["Fn::Join"].([]any)
		for _, part := range join[1].([]any) {
			if s, ok := part.(string); ok {
				flat.WriteString(s)
				parsed.WriteString(s)
				continue
			}
			b, _ := json.Marshal(part)
			flat.Write(b)
			parsed.WriteString("<ref>")
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(parsed.String()), &body); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, parsed.String())
	}
	return flat.String(), body
}

// TestDashboard: one dashboard shows both state machines' executions,
// Ferry's metrics for each state machine (totals and, by SEARCH, per
// destination) and every alarm.
func TestDashboard(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	_, d := onlyResource(t, tmpl, "AWS::CloudWatch::Dashboard", func(string, map[string]any) bool { return true })
	if d["DashboardName"] != "Ferry" {
		t.Errorf("dashboard name %v, want the stack's, Ferry", d["DashboardName"])
	}
	flat, body := dashboardBody(t, d)
	var metrics [][]any // every metric line of every graph
	var alarms []string
	for _, w := range body["widgets"].([]any) {
		p, _ := w.(map[string]any)["properties"].(map[string]any)
		for _, m := range asList(p["metrics"]) {
			metrics = append(metrics, asList(m))
		}
		if as, ok := p["alarms"]; ok {
			alarms = append(alarms, strs(as)...)
		}
	}
	has := func(want ...any) bool {
	next:
		for _, m := range metrics {
			for _, w := range want {
				if !containsValue(m, w) {
					continue next
				}
			}
			return true
		}
		return false
	}
	for _, sm := range []string{"Ferry-replicate", "Ferry-reconcile"} {
		ref := fmt.Sprintf(`{"Ref":"%s"}`, stateMachineID(t, b, sm))
		for _, m := range []string{"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
			// The state machine's ARN is a reference: look for it in the
			// flattened body, next to the metric.
			if !has("AWS/States", m) || !strings.Contains(flat, `"AWS/States","`+m+`","StateMachineArn","`+ref+`"`) {
				t.Errorf("dashboard lacks %s of %s", m, sm)
			}
		}
		for _, m := range append(OutcomeMetrics, MetricBytesCopied) {
			if !has(MetricsNamespace, m, DimensionStateMachine, sm) {
				t.Errorf("dashboard lacks %s/%s for %s (the {StateMachine} totals)", MetricsNamespace, m, sm)
			}
		}
		search := fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName=\"Failed\" %s=\"%s\"'`, MetricsNamespace, DimensionStateMachine, DimensionDestination, DimensionStateMachine, sm)
		if !strings.Contains(flat, search) {
			t.Errorf("dashboard has no per-destination SEARCH of Failed for %s (%s)", sm, search)
		}
	}
	if !has(MetricsNamespace, MetricReplicationLag, DimensionStateMachine, "Ferry-replicate") {
		t.Error("dashboard lacks the replication lag")
	}
	// Every alarm, by its ARN.
	wantAlarms := 0
	for id := range resources(tmpl, "AWS::CloudWatch::Alarm") {
		wantAlarms++
		if !strings.Contains(flat, fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, id)) {
			t.Errorf("dashboard does not show alarm %s", id)
		}
	}
	if len(alarms) != wantAlarms {
		t.Errorf("alarm widget shows %d alarms, want all %d", len(alarms), wantAlarms)
	}
	b.templates["Ferry"].HasOutput(jsii.String("DashboardName"), &map[string]any{"Value": assertions.Match_AnyValue()})
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// containsValue reports whether a metric line holds v (the namespace,
// metric name, a dimension name or value).
func containsValue(line []any, v any) bool {
	for _, x := range line {
		if x == v {
			return true
		}
	}
	return false
}

// TestLagAlarm: the largest replication lag of the replicate state
// machine's runs over 5 minutes, above the threshold (30 minutes unless
// told), alarms to the alerts topic; no data is no alarm.
func TestLagAlarm(t *testing.T) {
	lagAlarm := func(tmpl map[string]any) map[string]any {
		_, a := onlyResource(t, tmpl, "AWS::CloudWatch::Alarm", func(_ string, p map[string]any) bool { return p["AlarmName"] == "Ferry-ReplicationLag" })
		return a
	}
	topic := func(tmpl map[string]any) string {
		id, _ := onlyResource(t, tmpl, "AWS::SNS::Topic", func(_ string, p map[string]any) bool { return p["DisplayName"] == "Ferry alerts" })
		return id
	}
	want := func(tmpl map[string]any, minutes int) map[string]any {
		return map[string]any{
			"Namespace":          MetricsNamespace,
			"MetricName":         MetricReplicationLag,
			"Dimensions":         []any{map[string]any{"Name": DimensionStateMachine, "Value": "Ferry-replicate"}},
			"Statistic":          "Maximum",
			"Period":             float64(300),
			"EvaluationPeriods":  float64(1),
			"Threshold":          float64(minutes * 60 * 1000),
			"ComparisonOperator": "GreaterThanThreshold",
			"TreatMissingData":   "notBreaching",
			"AlarmActions":       []any{map[string]any{"Ref": topic(tmpl)}},
		}
	}
	check := func(name string, tmpl map[string]any, minutes int) {
		got := lagAlarm(tmpl)
		for k, v := range want(tmpl, minutes) {
			if fmt.Sprint(normalized(t, got[k])) != fmt.Sprint(normalized(t, v)) {
				t.Errorf("%s: lag alarm %s = %v, want %v", name, k, got[k], v)
			}
		}
	}
	b := build(t, exampleConfigPath(t))
	check("default", b.json["Ferry"], DefaultLagAlarmMinutes)
	tmpl, _ := buildWith(t, func(p *AppProps) { p.LagAlarmMinutes = 45 })
	check("lagAlarmMinutes 45", tmpl, 45)
}
