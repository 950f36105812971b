package stacks

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// TriggerRule is one EventBridge rule: a Ferry rule's name and its coarse
// event pattern (see PushEventPattern).
type TriggerRule struct {
	Name    string
	Pattern map[string]any
}

// TriggerProps configures the push triggers.
type TriggerProps struct {
	StackName    string
	Rules        []TriggerRule
	StateMachine awsstepfunctions.IStateMachine
	Key          awskms.IKey // encrypts the dead-letter queue
	// Retry: how often and how long EventBridge retries starting an
	// execution before the event goes to the dead-letter queue.
	RetryAttempts int
	MaxEventAge   time.Duration
}

// Trigger starts the workflow on pushes, one EventBridge rule per Ferry
// rule, with a dead-letter queue for events it could not deliver.
type Trigger struct {
	constructs.Construct
	Rules           []awsevents.Rule
	DeadLetterQueue awssqs.Queue
}

// Default retry policy of the triggers.
const (
	DefaultTriggerRetryAttempts = 20
	DefaultTriggerMaxEventAge   = 6 * time.Hour
)

// NewTrigger builds the rules and their dead-letter queue.
func NewTrigger(scope constructs.Construct, id string, p TriggerProps) *Trigger {
	c := constructs.NewConstruct(scope, jsii.String(id))
	if p.RetryAttempts == 0 {
		p.RetryAttempts = DefaultTriggerRetryAttempts
	}
	if p.MaxEventAge == 0 {
		p.MaxEventAge = DefaultTriggerMaxEventAge
	}
	dlq := awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: p.Key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter queue of the push triggers and the failure notifications; an alarm fires when it holds a message."),
	}}, jsii.Bool(false))
	t := &Trigger{Construct: c, DeadLetterQueue: dlq}
	for _, r := range p.Rules {
		rule := awsevents.NewRule(c, jsii.String("Push-"+r.Name), &awsevents.RuleProps{
			Description:  jsii.String("Ferry rule " + r.Name + ": start a replication run on a matching ECR push (coarse filter; Validate applies the exact rule)"),
			EventPattern: eventPattern(r.Pattern),
		})
		rule.AddTarget(awseventstargets.NewSfnStateMachine(p.StateMachine, &awseventstargets.SfnStateMachineProps{
			Input:           pushInput(r.Name),
			DeadLetterQueue: dlq,
			RetryAttempts:   jsii.Number(p.RetryAttempts),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(p.MaxEventAge.Seconds())),
		}))
		t.Rules = append(t.Rules, rule)
	}
	return t
}

// pushInput is the execution input for a push: the EventBridge event as it
// came, field for field (so it decodes as events.ECRImageActionEvent), plus
// "ferryRule", the name of the Ferry rule whose trigger started the run.
func pushInput(rule string) awsevents.RuleTargetInput {
	field := func(path string) *string { return awsevents.EventField_FromPath(jsii.String(path)) }
	return awsevents.RuleTargetInput_FromObject(map[string]any{
		"version":     field("$.version"),
		"id":          field("$.id"),
		"detail-type": field("$.detail-type"),
		"source":      field("$.source"),
		"account":     field("$.account"),
		"time":        field("$.time"),
		"region":      field("$.region"),
		"resources":   field("$.resources"),
		"detail":      field("$.detail"),
		"ferryRule":   rule,
	})
}

// eventPattern converts a JSON-ready pattern to CDK's EventPattern.
func eventPattern(p map[string]any) *awsevents.EventPattern {
	strs := func(key string) *[]*string {
		v, ok := p[key].([]any)
		if !ok {
			return nil
		}
		out := make([]*string, 0, len(v))
		for _, s := range v {
			out = append(out, jsii.String(s.(string)))
		}
		return &out
	}
	ep := &awsevents.EventPattern{
		Source:     strs("source"),
		DetailType: strs("detail-type"),
		Account:    strs("account"),
		Region:     strs("region"),
	}
	if d, ok := p["detail"].(map[string]any); ok {
		ep.Detail = &d
	}
	return ep
}
