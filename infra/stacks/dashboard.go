package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// The metrics Summarize and ReconcileSummary emit, in the embedded metric
// format: one document per destination of a run, with the dimension sets
// {StateMachine} (the state machine's name) and {StateMachine, Destination}
// ("account/region"). internal/workflow owns the names (its metrics
// contract); the dashboard and the lag alarm find the metrics by them.
const (
	MetricsNamespace      = workflow.MetricsNamespace
	DimensionStateMachine = workflow.DimensionStateMachine
	DimensionDestination  = workflow.DimensionDestination
	// MetricReplicationLag is in milliseconds, from the push event to the
	// tag written, one value per destination copied (replicate only).
	MetricReplicationLag = workflow.MetricReplicationLag
	MetricBytesCopied    = workflow.MetricBytesCopied
)

// OutcomeMetrics are the counts, one per destination of a run by its
// outcome.
var OutcomeMetrics = []string{
	workflow.MetricCopied, workflow.MetricUnchanged, workflow.MetricFailed, workflow.MetricBlocked,
	workflow.MetricSuperseded, workflow.MetricSkipped, workflow.MetricUntagged,
}

// fiveMinutes is every metric's period. A function, not a package
// variable: a jsii object made at init does not outlive jsii.Close.
func fiveMinutes() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

// ferryMetric is one of Ferry's metrics, totalled over a state machine's
// runs (the {StateMachine} dimension set), labelled with its name.
func ferryMetric(name, stateMachine, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricsNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{DimensionStateMachine: jsii.String(stateMachine)},
		Statistic:     jsii.String(statistic),
		Period:        fiveMinutes(),
		Label:         jsii.String(name),
	})
}

// ReplicationLagMetric is the largest replication lag, over 5 minutes, of
// the replicate state machine's runs. It has no label, so that an alarm on
// it is on the metric itself, not on a metric math expression.
func ReplicationLagMetric(stateMachine string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricsNamespace),
		MetricName:    jsii.String(MetricReplicationLag),
		DimensionsMap: &map[string]*string{DimensionStateMachine: jsii.String(stateMachine)},
		Statistic:     jsii.String("Maximum"),
		Period:        fiveMinutes(),
	})
}

// perDestination is a SEARCH for one metric of a state machine, one line
// per destination ({StateMachine, Destination}).
func perDestination(metric, stateMachine, statistic string) awscloudwatch.SearchExpression {
	return awscloudwatch.NewSearchExpression(&awscloudwatch.SearchExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', '%s', 300)`,
			MetricsNamespace, DimensionStateMachine, DimensionDestination, metric, DimensionStateMachine, stateMachine, statistic)),
		Label:  jsii.String(""),
		Period: fiveMinutes(),
	})
}

// DashboardProps configures the dashboard.
type DashboardProps struct {
	Name      string // the dashboard's name: the stack's
	Replicate awsstepfunctions.StateMachine
	Reconcile awsstepfunctions.StateMachine
	// ReplicateName and ReconcileName are the state machines' names, the
	// StateMachine dimension of Ferry's metrics.
	ReplicateName, ReconcileName string
	Alarms                       []awscloudwatch.Alarm
	LagAlarmMinutes              int // drawn on the lag graph
}

// NewDashboard builds one CloudWatch dashboard: both state machines'
// executions, Ferry's own metrics totalled per state machine and per
// destination, and every alarm's state.
func NewDashboard(scope constructs.Construct, id string, p DashboardProps) awscloudwatch.Dashboard {
	lag := p.LagAlarmMinutes
	if lag == 0 {
		lag = DefaultLagAlarmMinutes
	}
	sum := &awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Sum")}
	executions := func(title string, sm awsstepfunctions.StateMachine) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title),
			Width: jsii.Number(12),
			Left: &[]awscloudwatch.IMetric{
				sm.MetricStarted(sum), sm.MetricSucceeded(sum), sm.MetricFailed(sum), sm.MetricTimedOut(sum), sm.MetricAborted(sum),
			},
		})
	}
	outcomes := func(title, stateMachine string) awscloudwatch.IWidget {
		var metrics []awscloudwatch.IMetric
		for _, m := range OutcomeMetrics {
			metrics = append(metrics, ferryMetric(m, stateMachine, "Sum"))
		}
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(12), Left: &metrics, Stacked: jsii.Bool(true),
		})
	}
	graph := func(title string, width float64, metrics ...awscloudwatch.IMetric) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(width), Left: &metrics})
	}
	lagGraph := awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String("Replication lag, largest (push to tag written; ms)"),
		Width: jsii.Number(12),
		Left:  &[]awscloudwatch.IMetric{ferryMetric(MetricReplicationLag, p.ReplicateName, "Maximum")},
		LeftAnnotations: &[]*awscloudwatch.HorizontalAnnotation{{
			Value: jsii.Number(float64(lag) * 60 * 1000), Label: jsii.String(fmt.Sprintf("lag alarm (%d min)", lag)),
		}},
	})
	alarms := make([]awscloudwatch.IAlarm, len(p.Alarms))
	for i, a := range p.Alarms {
		alarms[i] = a
	}
	rows := [][]awscloudwatch.IWidget{
		{awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Width: jsii.Number(24), Height: jsii.Number(2),
			Markdown: jsii.String("# Ferry: " + p.Name + "\n" +
				"Runs of `" + p.ReplicateName + "` (pushes) and `" + p.ReconcileName + "` (the reconcile), and what they did to each destination. " +
				"Inspect and redrive runs in the Step Functions console."),
		})},
		{executions("Replication runs ("+p.ReplicateName+")", p.Replicate), executions("Reconcile runs ("+p.ReconcileName+")", p.Reconcile)},
		{outcomes("Replication: destinations by outcome", p.ReplicateName), outcomes("Reconcile: jobs by outcome", p.ReconcileName)},
		{lagGraph, graph("Replication lag by destination, largest (ms)", 12, perDestination(MetricReplicationLag, p.ReplicateName, "Maximum"))},
		{
			graph("Bytes copied", 12, ferryMetric(MetricBytesCopied, p.ReplicateName, "Sum"), ferryMetric(MetricBytesCopied, p.ReconcileName, "Sum")),
			graph("Failed by destination", 12, perDestination("Failed", p.ReplicateName, "Sum"), perDestination("Failed", p.ReconcileName, "Sum")),
		},
		{
			graph("Copied by destination", 12, perDestination("Copied", p.ReplicateName, "Sum"), perDestination("Copied", p.ReconcileName, "Sum")),
			graph("Bytes copied by destination", 12, perDestination(MetricBytesCopied, p.ReplicateName, "Sum"), perDestination(MetricBytesCopied, p.ReconcileName, "Sum")),
		},
		{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String("Alarms"), Width: jsii.Number(24), Height: jsii.Number(6), Alarms: &alarms,
			SortBy: awscloudwatch.AlarmStatusWidgetSortBy_STATE_UPDATED_TIMESTAMP,
		})},
	}
	widgets := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		widgets[i] = &rows[i]
	}
	return awscloudwatch.NewDashboard(scope, jsii.String(id), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(p.Name),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
		Widgets:         &widgets,
	})
}
