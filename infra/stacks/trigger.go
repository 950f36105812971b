package stacks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
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
	Account   string // the stack's account and region, for the rules' ARNs
	Region    string
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
	// Role is the role every rule starts the state machine with.
	Role awsiam.Role
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
	// Each rule has a fixed name, so that the role's trust can name the
	// rules' ARNs (a reference to a rule from the role it uses would be a
	// dependency cycle).
	type ruleSpec struct {
		id, name, description string
		pattern, extra        map[string]any
		into                  *awsevents.Rule
	}
	var specs []ruleSpec
	t.Rules = make([]awsevents.Rule, len(p.Rules))
	for i, r := range p.Rules {
		specs = append(specs, ruleSpec{"Push-" + r.Name, EventRuleName(p.StackName, "push-"+r.Name),
			"Ferry rule " + r.Name + ": start a replication run on a matching ECR push (coarse filter; Validate applies the exact rule)",
			r.Pattern, map[string]any{"ferryRule": r.Name}, &t.Rules[i]})
	}
	if p.Referrers != nil {
		specs = append(specs, ruleSpec{"Referrers", EventRuleName(p.StackName, "referrers"),
			"Ferry referrers: start a replication run for a signature, attestation, SBOM or other referrer pushed after its image (coarse filter; Validate checks it exactly)",
			p.Referrers, map[string]any{"ferryTrigger": TriggerReferrers}, &t.Referrers})
	}
	if p.Deletes != nil {
		specs = append(specs, ruleSpec{"Deletes", EventRuleName(p.StackName, "deletes"),
			"Ferry deletes: start a run that removes a tag deleted in the source from the destinations with onSourceDelete: untag (coarse filter; Validate applies the exact rules)",
			p.Deletes, map[string]any{"ferryTrigger": TriggerDeletes}, &t.Deletes})
	}
	var arns []string
	for _, sp := range specs {
		arns = append(arns, EventRuleARN(p.Account, p.Region, sp.name))
	}
	// One role for every trigger rule (CDK would make one too, shared by
	// the rules that start this state machine), which only EventBridge
	// acting for these rules, in this account, may assume: the
	// confused-deputy guard of the EventBridge User Guide, whose
	// aws:SourceArn is "the ARN of the rule that is sending the event".
	t.Role = awsiam.NewRole(c, jsii.String("StartRole"), &awsiam.RoleProps{
		Description: jsii.String("EventBridge starts Ferry's replication runs (pushes, referrers, deletes) with this role"),
		AssumedBy:   eventsPrincipal(p.Account, arns),
	})
	for _, sp := range specs {
		rule := awsevents.NewRule(c, jsii.String(sp.id), &awsevents.RuleProps{
			RuleName:     jsii.String(sp.name),
			Description:  jsii.String(sp.description),
			EventPattern: eventPattern(sp.pattern),
		})
		rule.AddTarget(awseventstargets.NewSfnStateMachine(p.StateMachine, &awseventstargets.SfnStateMachineProps{
			Input:           pushInput(sp.extra),
			DeadLetterQueue: dlq,
			RetryAttempts:   jsii.Number(p.RetryAttempts),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(p.MaxEventAge.Seconds())),
			Role:            t.Role,
		}))
		*sp.into = rule
	}
	return t
}

// maxRuleName is the longest name EventBridge allows a rule.
const maxRuleName = 64

// EventRuleName is the name of one of the stack's EventBridge rules:
// <stack>-<suffix>, or, when that is longer than EventBridge allows, its
// first characters and a hash of the whole, so that names stay distinct.
func EventRuleName(stackName, suffix string) string {
	name := stackName + "-" + suffix
	if len(name) <= maxRuleName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	return name[:maxRuleName-len(h)-1] + "-" + h
}

// EventRuleARN is the ARN of a rule on the default event bus.
func EventRuleARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", config.Partition(region), region, account, name)
}

// eventsPrincipal is EventBridge acting for one of the rules (ARNs) in
// account only.
func eventsPrincipal(account string, ruleARNs []string) awsiam.IPrincipal {
	return awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": account},
			"ArnEquals":    map[string]any{"aws:SourceArn": ruleARNs},
		},
	})
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
