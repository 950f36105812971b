package stacks

import (
	"maps"
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

// TriggerProps configures the triggers.
type TriggerProps struct {
	StackName string
	Rules     []TriggerRule
	// Referrers is the pattern of the rule for referrers pushed after their
	// image (ReferrerEventPattern); nil for no such rule.
	Referrers map[string]any
	// Deletes is the pattern of the rule for deletes in the source
	// (DeleteEventPattern); nil for no such rule, as when no destination
	// removes a tag deleted in the source.
	Deletes      map[string]any
	StateMachine awsstepfunctions.IStateMachine
	Key          awskms.IKey // encrypts the dead-letter queue
	// Retry: how often and how long EventBridge retries starting an
	// execution before the event goes to the dead-letter queue.
	RetryAttempts int
	MaxEventAge   time.Duration
}

// Trigger starts the workflow on pushes, one EventBridge rule per Ferry
// rule, on referrers pushed after their image, and on deletes where a
// destination removes the deleted tag, with a dead-letter queue for events
// it could not deliver.
type Trigger struct {
	constructs.Construct
	Rules           []awsevents.Rule // one per Ferry rule, in order
	Referrers       awsevents.Rule   // nil without TriggerProps.Referrers
	Deletes         awsevents.Rule   // nil without TriggerProps.Deletes
	DeadLetterQueue awssqs.Queue
}

// Values of the execution input's "ferryTrigger", which names the trigger
// that started a run that no single Ferry rule's trigger did.
const (
	TriggerReferrers = "referrers"
	TriggerDeletes   = "deletes"
)

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
		Reason: jsii.String("This queue is itself the dead-letter queue of the triggers (pushes, referrers, deletes) and the failure notifications; an alarm fires when it holds a message."),
	}}, jsii.Bool(false))
	t := &Trigger{Construct: c, DeadLetterQueue: dlq}
	// newRule makes one rule that starts the state machine with the event
	// and the extra input fields, retrying as configured.
	newRule := func(id, description string, pattern, extra map[string]any) awsevents.Rule {
		rule := awsevents.NewRule(c, jsii.String(id), &awsevents.RuleProps{
			Description:  jsii.String(description),
			EventPattern: eventPattern(pattern),
		})
		rule.AddTarget(awseventstargets.NewSfnStateMachine(p.StateMachine, &awseventstargets.SfnStateMachineProps{
			Input:           pushInput(extra),
			DeadLetterQueue: dlq,
			RetryAttempts:   jsii.Number(p.RetryAttempts),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(p.MaxEventAge.Seconds())),
		}))
		return rule
	}
	for _, r := range p.Rules {
		t.Rules = append(t.Rules, newRule("Push-"+r.Name,
			"Ferry rule "+r.Name+": start a replication run on a matching ECR push (coarse filter; Validate applies the exact rule)",
			r.Pattern, map[string]any{"ferryRule": r.Name}))
	}
	if p.Referrers != nil {
		t.Referrers = newRule("Referrers",
			"Ferry referrers: start a replication run for a signature, attestation, SBOM or other referrer pushed after its image (coarse filter; Validate checks it exactly)",
			p.Referrers, map[string]any{"ferryTrigger": TriggerReferrers})
	}
	if p.Deletes != nil {
		t.Deletes = newRule("Deletes",
			"Ferry deletes: start a run that removes a tag deleted in the source from the destinations with onSourceDelete: untag (coarse filter; Validate applies the exact rules)",
			p.Deletes, map[string]any{"ferryTrigger": TriggerDeletes})
	}
	return t
}

// pushInput is the execution input for an event: the EventBridge event as
// it came, field for field (so it decodes as events.ECRImageActionEvent),
// plus the extra fields, which say what started the run: "ferryRule", the
// name of the Ferry rule whose push trigger fired, or "ferryTrigger"
// (TriggerReferrers, TriggerDeletes).
func pushInput(extra map[string]any) awsevents.RuleTargetInput {
	field := func(path string) *string { return awsevents.EventField_FromPath(jsii.String(path)) }
	input := map[string]any{
		"version":     field("$.version"),
		"id":          field("$.id"),
		"detail-type": field("$.detail-type"),
		"source":      field("$.source"),
		"account":     field("$.account"),
		"time":        field("$.time"),
		"region":      field("$.region"),
		"resources":   field("$.resources"),
		"detail":      field("$.detail"),
	}
	maps.Copy(input, extra)
	return awsevents.RuleTargetInput_FromObject(input)
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
