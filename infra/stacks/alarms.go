package stacks

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
)

// AlarmsProps configures failure notifications and alarms.
type AlarmsProps struct {
	StackName       string
	Account         string // the stack's account and region, for the alarms' ARNs
	Region          string
	StateMachine    awsstepfunctions.StateMachine // replicate
	ReplicateName   string                        // its name, the lag metric's StateMachine; "": <stack>-replicate
	Reconcile       awsstepfunctions.StateMachine
	Functions       *Functions
	DeadLetterQueue awssqs.IQueue
	Key             awskms.IKey // encrypts the alerts topic
	Emails          []string    // subscribed to alerts, if any
	// LagAlarmMinutes is the replication lag (ReplicationLag, from a push
	// to its tag written in a destination) above which the lag alarm
	// fires; 0 means DefaultLagAlarmMinutes.
	LagAlarmMinutes int
}

// DefaultLagAlarmMinutes is the lag alarm's threshold unless told.
const DefaultLagAlarmMinutes = 30

// Alarms makes failures visible: an SNS topic that hears about every
// failed, timed-out or aborted run, and CloudWatch alarms on failed runs,
// Lambda errors and throttles, undeliverable events and replication lag.
type Alarms struct {
	constructs.Construct
	Topic  awssns.Topic
	Alarms []awscloudwatch.Alarm
	// Names are the alarms' names, in the order of Alarms; each is
	// <stack>-<what it watches>.
	Names []string
}

// FailedStatuses are the execution statuses that notify the alerts topic.
var FailedStatuses = []string{"FAILED", "TIMED_OUT", "ABORTED"}

// DeliberateFailures are the functions that end every failed run with an
// error on purpose (so that Redrive can resume there): their Errors alarm
// would fire with each failed run, which the runs' alarms already report.
var DeliberateFailures = []string{FnSummarize, FnReconcileSummarize}

// NewAlarms builds the alerts topic, the failed-run rule and the alarms.
func NewAlarms(scope constructs.Construct, id string, p AlarmsProps) *Alarms {
	c := constructs.NewConstruct(scope, jsii.String(id))
	topic := awssns.NewTopic(c, jsii.String("Alerts"), &awssns.TopicProps{
		DisplayName: jsii.String("Ferry alerts"),
		MasterKey:   p.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, e := range p.Emails {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	a := &Alarms{Construct: c, Topic: topic}

	statuses := make([]any, len(FailedStatuses))
	for i, s := range FailedStatuses {
		statuses[i] = s
	}
	ruleName := EventRuleName(p.StackName, "runs-failed")
	rule := awsevents.NewRule(c, jsii.String("RunFailed"), &awsevents.RuleProps{
		RuleName:    jsii.String(ruleName),
		Description: jsii.String("Ferry: tell the alerts topic about failed, timed-out and aborted replication and reconcile runs"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.states"),
			DetailType: jsii.Strings("Step Functions Execution Status Change"),
			Detail: &map[string]any{
				"status":          statuses,
				"stateMachineArn": []any{*p.StateMachine.StateMachineArn(), *p.Reconcile.StateMachineArn()},
			},
		},
	})
	field := func(path string) string { return *awsevents.EventField_FromPath(jsii.String(path)) }
	// Only EventBridge acting for this rule, in this account, may assume
	// its role (as the triggers' role, see NewTrigger).
	role := awsiam.NewRole(c, jsii.String("RunFailedRole"), &awsiam.RoleProps{
		Description: jsii.String("EventBridge tells Ferry's alerts topic about failed runs with this role"),
		AssumedBy:   eventsPrincipal(p.Account, []string{EventRuleARN(p.Account, p.Region, ruleName)}),
	})
	rule.AddTarget(awseventstargets.NewSnsTopic(topic, &awseventstargets.SnsTopicProps{
		Message: awsevents.RuleTargetInput_FromText(jsii.String(
			"Ferry run " + field("$.detail.name") + " ended " + field("$.detail.status") +
				". Inspect it (and redrive it) in the Step Functions console: execution " +
				field("$.detail.executionArn"))),
		DeadLetterQueue: p.DeadLetterQueue,
		// A role of its own, rather than a topic policy (and a key policy
		// statement) for all of EventBridge: only this rule can publish.
		AuthorizeUsingRole: jsii.Bool(true),
		Role:               role,
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The rule's own role may publish to the alerts topic only; kms:GenerateDataKey* (GenerateDataKey and " +
			"GenerateDataKeyWithoutPlaintext, which SNS uses) is on this stack's key only, as grantPublish gives it."),
		AppliesTo: &[]any{"Action::kms:GenerateDataKey*"},
	}}, jsii.Bool(true))

	action := awscloudwatchactions.NewSnsAction(topic)
	// alarmWith adds an alarm that fires when one 5-minute value of metric
	// compares with threshold by op; no data is not a breach.
	alarmWith := func(name, description string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator) {
		full := p.StackName + "-" + name
		al := awscloudwatch.NewAlarm(c, jsii.String(name), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(full),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: op,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		al.AddAlarmAction(action)
		a.Alarms = append(a.Alarms, al)
		a.Names = append(a.Names, full)
	}
	alarm := func(name, description string, metric awscloudwatch.IMetric) {
		alarmWith(name, description, metric, 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	}
	five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	alarm("RunsFailed", "A Ferry replication run failed in the last 5 minutes", p.StateMachine.MetricFailed(five))
	alarm("RunsTimedOut", "A Ferry replication run timed out in the last 5 minutes", p.StateMachine.MetricTimedOut(five))
	alarm("ReconcileRunsFailed", "A Ferry reconcile run failed in the last 5 minutes", p.Reconcile.MetricFailed(five))
	alarm("ReconcileRunsTimedOut", "A Ferry reconcile run timed out in the last 5 minutes", p.Reconcile.MetricTimedOut(five))
	for _, name := range FunctionNames {
		fn := p.Functions.ByName[name]
		// Summarize and ReconcileSummary end every failed run with a
		// deliberate error (ReplicationFailed, ReconcileFailed) so that
		// Redrive can resume there; the runs' alarms report those.
		if !slices.Contains(DeliberateFailures, name) {
			alarm(name+"-Errors", "Ferry's "+name+" Lambda returned errors in the last 5 minutes", fn.MetricErrors(five))
		}
		alarm(name+"-Throttles", "Ferry's "+name+" Lambda was throttled in the last 5 minutes", fn.MetricThrottles(five))
	}
	alarm("UndeliveredEvents", "An event that should have started a Ferry run (or notified a failure) is in the dead-letter queue",
		p.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
		}))
	lag := p.LagAlarmMinutes
	if lag == 0 {
		lag = DefaultLagAlarmMinutes
	}
	replicate := p.ReplicateName
	if replicate == "" {
		replicate = p.StackName + "-replicate"
	}
	alarmWith("ReplicationLag", fmt.Sprintf("A Ferry replication run took more than %d minutes from a push to its tag in a destination "+
		"(from the approval, for a destination that waits for one)", lag),
		ReplicationLagMetric(replicate), float64(lag)*60*1000,
		awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD)

	// The topic has a policy of its own (EnforceSSL's Deny), so CloudWatch
	// may publish to it only if the policy says so: only for these alarms,
	// in this account (the confused-deputy guard of the SNS Developer
	// Guide). They are listed by ARN, built from their fixed names.
	arns := make([]string, len(a.Names))
	for i, n := range a.Names {
		arns[i] = AlarmARN(p.Account, p.Region, n)
	}
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowFerryAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": p.Account},
			"ArnEquals":    map[string]any{"aws:SourceArn": arns},
		},
	}))
	return a
}

// AlarmARN is the ARN of a CloudWatch alarm.
func AlarmARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", config.Partition(region), region, account, name)
}
