// Package stacks is Ferry's infrastructure as CDK constructs: the source
// stack (Lambdas, the replicate and reconcile state machines, push
// triggers, the reconcile's schedule and bucket, approval, alarms) and one
// destination access stack per destination account, all derived from one
// ferry.yaml. Each construct takes a Props struct of plain Go values.
package stacks

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/workflow"
)

// Defaults for AppProps.
const (
	DefaultStackName              = "Ferry"
	DefaultMaxConcurrency         = 10
	DefaultApprovalTimeoutSeconds = 24 * 60 * 60
	DefaultBuildDir               = "bin/lambda"
	DefaultASLFile                = "statemachine/replicate.asl.json"
	DefaultReconcileASLFile       = "statemachine/reconcile.asl.json"
	MaxLagAlarmMinutes            = 7 * 24 * 60
)

// AppProps is everything the app is built from. Relative paths are
// resolved from Root.
type AppProps struct {
	Config     *config.Config
	ConfigFile string // the file Config came from; copied into every Lambda asset
	Root       string // the module root

	StackName              string // "" means DefaultStackName
	BuildDir               string // holds <function>/bootstrap; "" means DefaultBuildDir
	StagingDir             string // where Lambda assets are staged; required
	ASLFile                string // "" means DefaultASLFile
	ReconcileASLFile       string // "" means DefaultReconcileASLFile
	MaxConcurrency         int    // Map concurrency, 1 to workflow.MaxConcurrency (40); 0 means DefaultMaxConcurrency
	ReconcileConcurrency   int    // Distributed Map concurrency; 0 means DefaultReconcileConcurrency
	ApprovalTimeoutSeconds int    // 0 means DefaultApprovalTimeoutSeconds
	LogRetentionDays       int    // 0 means DefaultLogRetentionDays
	LagAlarmMinutes        int    // the lag alarm's threshold; 0 means DefaultLagAlarmMinutes
	// LambdaConcurrencyLimit is the account's Lambda "Concurrent
	// executions" quota in the source region; 0 means
	// DefaultLambdaConcurrencyLimit. Below what ReservedConcurrency needs,
	// nothing is reserved (and synth warns).
	LambdaConcurrencyLimit int
	ApprovalEmails         []string
	AlertEmails            []string
	// Nag runs cdk-nag's AwsSolutions checks on every stack.
	Nag bool
}

// Stacks is what Build adds to an app.
type Stacks struct {
	Source       *SourceStack
	Destinations []awscdk.Stack
}

func (p *AppProps) defaults() error {
	if p.Config == nil {
		return fmt.Errorf("no configuration")
	}
	if p.StagingDir == "" {
		return fmt.Errorf("no staging directory for Lambda assets")
	}
	if p.StackName == "" {
		p.StackName = DefaultStackName
	}
	if p.BuildDir == "" {
		p.BuildDir = DefaultBuildDir
	}
	if p.ASLFile == "" {
		p.ASLFile = DefaultASLFile
	}
	if p.ReconcileASLFile == "" {
		p.ReconcileASLFile = DefaultReconcileASLFile
	}
	if p.MaxConcurrency == 0 {
		p.MaxConcurrency = DefaultMaxConcurrency
	}
	if p.ReconcileConcurrency == 0 {
		p.ReconcileConcurrency = DefaultReconcileConcurrency
	}
	if p.ApprovalTimeoutSeconds == 0 {
		p.ApprovalTimeoutSeconds = DefaultApprovalTimeoutSeconds
	}
	if p.LagAlarmMinutes == 0 {
		p.LagAlarmMinutes = DefaultLagAlarmMinutes
	}
	if p.LambdaConcurrencyLimit == 0 {
		p.LambdaConcurrencyLimit = DefaultLambdaConcurrencyLimit
	}
	if err := workflow.CheckMaxConcurrency(p.MaxConcurrency); err != nil {
		return err
	}
	switch {
	case p.ReconcileConcurrency < 1 || p.ReconcileConcurrency > MaxReconcileConcurrency:
		return fmt.Errorf("reconcileConcurrency %d: want 1 to %d (a Distributed Map runs at most %d child executions at once)",
			p.ReconcileConcurrency, MaxReconcileConcurrency, MaxReconcileConcurrency)
	case p.ApprovalTimeoutSeconds < 60 || p.ApprovalTimeoutSeconds > 365*24*60*60:
		return fmt.Errorf("approvalTimeoutSeconds %d: want 60 seconds to a year", p.ApprovalTimeoutSeconds)
	case p.LagAlarmMinutes < 1 || p.LagAlarmMinutes > MaxLagAlarmMinutes:
		return fmt.Errorf("lagAlarmMinutes %d: want 1 to %d (a week)", p.LagAlarmMinutes, MaxLagAlarmMinutes)
	case p.LambdaConcurrencyLimit < 1:
		return fmt.Errorf("lambdaConcurrencyLimit %d: want the account's Lambda \"Concurrent executions\" quota (Service Quotas, L-B99A9384)", p.LambdaConcurrencyLimit)
	}
	if _, err := retentionDays(p.LogRetentionDays); err != nil {
		return err
	}
	p.BuildDir = p.abs(p.BuildDir)
	p.ASLFile = p.abs(p.ASLFile)
	p.ReconcileASLFile = p.abs(p.ReconcileASLFile)
	return CheckStackName(p.StackName, p.Config.Source.Region)
}

func (p *AppProps) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Root, path)
}

// Build adds Ferry's stacks to app: the source stack, then one destination
// access stack per destination account, each depending on the source stack
// (a trust policy can name only roles that exist).
func Build(app awscdk.App, p AppProps) (*Stacks, error) {
	if err := p.defaults(); err != nil {
		return nil, err
	}
	cfg := p.Config
	if err := CheckRepositoryScopes(cfg); err != nil {
		return nil, err
	}
	assets, err := StageFunctionAssets(p.BuildDir, p.ConfigFile, p.StagingDir, FunctionNames, cfg.KeyFiles()...)
	if err != nil {
		return nil, err
	}
	src, err := NewSourceStack(app, p.StackName, SourceStackProps{
		StackName:              p.StackName,
		Source:                 cfg.Source,
		AssetDirs:              assets,
		ASLFile:                p.ASLFile,
		ReconcileASLFile:       p.ReconcileASLFile,
		MaxConcurrency:         p.MaxConcurrency,
		ReconcileConcurrency:   p.ReconcileConcurrency,
		ReconcileSchedule:      cfg.Reconcile.Schedule,
		ApprovalTimeoutSeconds: p.ApprovalTimeoutSeconds,
		LogRetentionDays:       p.LogRetentionDays,
		SourceRepositoryARNs:   SourceRepositoryARNs(cfg),
		DestinationRoleARNs:    DestinationRoleARNs(cfg),
		Gated:                  Gated(cfg),
		GateKMSKeyARNs:         GateKMSKeyARNs(cfg),
		Triggers:               triggerRules(cfg),
		ReferrerTrigger:        ReferrerEventPattern(cfg.Source, cfg.Rules),
		DeleteTrigger:          deleteTrigger(cfg),
		ApprovalEmails:         p.ApprovalEmails,
		AlertEmails:            p.AlertEmails,
		LagAlarmMinutes:        p.LagAlarmMinutes,
		LambdaConcurrencyLimit: p.LambdaConcurrencyLimit,
	})
	if err != nil {
		return nil, err
	}
	out := &Stacks{Source: src}
	roleARNs := func(fns []string) []string {
		var out []string
		for _, fn := range fns {
			out = append(out, SourceRoleARN(cfg.Source, p.StackName, fn))
		}
		return out
	}
	for _, a := range DestinationAccess(cfg) {
		name := p.StackName + "-Access-" + a.Account
		d := NewDestinationStack(app, name, DestinationStackProps{
			StackName: name, Access: a, ExternalID: cfg.ExternalID,
			Readers: roleARNs(DestinationReaders), Writers: roleARNs(DestinationWriters), Admins: roleARNs(DestinationAdmins),
		})
		d.AddDependency(src.Stack, jsii.String("the trust policy names the source Lambdas' roles, which must exist"))
		out.Destinations = append(out.Destinations, d)
	}
	if p.Nag {
		awscdk.Aspects_Of(app).Add(newNag(), nil)
	}
	return out, nil
}

// newNag is cdk-nag's AwsSolutions pack, explaining each finding.
func newNag() awscdk.IAspect {
	return cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)})
}

func triggerRules(cfg *config.Config) []TriggerRule {
	var out []TriggerRule
	for _, r := range cfg.Rules {
		out = append(out, TriggerRule{Name: r.Name, Pattern: PushEventPattern(cfg.Source, r)})
	}
	return out
}

// deleteTrigger is the pattern of the deletes trigger, or nil when no
// destination removes a tag deleted in the source.
func deleteTrigger(cfg *config.Config) map[string]any {
	rules := UntagRules(cfg.Rules)
	if len(rules) == 0 {
		return nil
	}
	return DeleteEventPattern(cfg.Source, rules)
}

// SourceStackProps configures the source stack.
type SourceStackProps struct {
	StackName              string
	Source                 config.Source
	AssetDirs              map[string]string
	ASLFile                string
	ReconcileASLFile       string
	MaxConcurrency         int
	ReconcileConcurrency   int
	ReconcileSchedule      string // config.Reconcile.Schedule; config.ScheduleOff for none
	ApprovalTimeoutSeconds int
	LogRetentionDays       int
	SourceRepositoryARNs   []string
	DestinationRoleARNs    []string
	Gated                  bool     // some destination has gates (CheckGates and Discover read what they need)
	GateKMSKeyARNs         []string // the signature gates' KMS keys, which the gate checkers alone may use
	Triggers               []TriggerRule
	ReferrerTrigger        map[string]any // ReferrerEventPattern; nil for none
	DeleteTrigger          map[string]any // DeleteEventPattern; nil for none
	ApprovalEmails         []string
	AlertEmails            []string
	LagAlarmMinutes        int // 0: DefaultLagAlarmMinutes
	LambdaConcurrencyLimit int // 0: DefaultLambdaConcurrencyLimit
}

// SourceStack is the workflow in the source account and region.
type SourceStack struct {
	awscdk.Stack
	Key       awskms.Key
	Functions *Functions
	Workflow  *Workflow // replicate
	Reconcile *Reconcile
	Approval  *Approval
	Trigger   *Trigger
	Alarms    *Alarms
	Dashboard awscloudwatch.Dashboard
}

// NewSourceStack builds the source stack.
func NewSourceStack(scope constructs.Construct, id string, p SourceStackProps) (*SourceStack, error) {
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		StackName:   jsii.String(p.StackName),
		Description: jsii.String("Ferry: replicate ECR images to the destinations in ferry.yaml"),
		Env: &awscdk.Environment{
			Account: jsii.String(p.Source.Account),
			Region:  jsii.String(p.Source.Region),
		},
	})
	s := &SourceStack{Stack: stack}
	s.Key = awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("Ferry: encrypts the approval and alerts topics, the dead-letter queue and the log groups"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	// EventBridge (to the alerts topic and the dead-letter queue) and
	// CloudWatch alarms (to the alerts topic) write encrypted messages.
	s.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowEventBridgeAndAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil), awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": p.Source.Account}},
	}), nil)

	limit := p.LambdaConcurrencyLimit
	if limit == 0 {
		limit = DefaultLambdaConcurrencyLimit
	}
	reservedConcurrency, warning := ReservedConcurrency(limit)
	var err error
	if s.Functions, err = NewFunctions(stack, "Functions", FunctionsProps{
		StackName:            p.StackName,
		SourceAccount:        p.Source.Account,
		SourceRegion:         p.Source.Region,
		AssetDirs:            p.AssetDirs,
		LogRetentionDays:     p.LogRetentionDays,
		Key:                  s.Key,
		ReservedConcurrency:  reservedConcurrency,
		SourceRepositoryARNs: p.SourceRepositoryARNs,
		DestinationRoleARNs:  p.DestinationRoleARNs,
		Gated:                p.Gated,
		GateKMSKeyARNs:       p.GateKMSKeyARNs,
	}); err != nil {
		return nil, err
	}
	if warning != "" {
		awscdk.Annotations_Of(s.Functions.ByName[FnApprovalCallback]).AddWarningV2(jsii.String("ferry:reservedConcurrency"), jsii.String(warning))
	}
	smName := p.StackName + "-replicate"
	s.Approval = NewApproval(stack, "Approval", ApprovalProps{
		Key:      s.Key,
		Request:  s.Functions.ByName[FnApprovalRequest],
		Callback: s.Functions.ByName[FnApprovalCallback],
		StateMachineARNs: []string{
			StateMachineARN(p.Source.Account, p.Source.Region, smName),
			StateMachineARN(p.Source.Account, p.Source.Region, p.StackName+"-reconcile"),
		},
		TTLSeconds: p.ApprovalTimeoutSeconds,
		Emails:     p.ApprovalEmails,
	})
	if s.Workflow, err = NewWorkflow(stack, "Workflow", WorkflowProps{
		Name:      smName,
		Account:   p.Source.Account,
		Region:    p.Source.Region,
		ASLFile:   p.ASLFile,
		Functions: s.Functions,
		Invoke:    ReplicateFunctions,
		Values: map[string]int{
			PlaceholderMaxConcurrency:  p.MaxConcurrency,
			PlaceholderApprovalTimeout: p.ApprovalTimeoutSeconds,
		},
		LogRetentionDays: p.LogRetentionDays,
		Key:              s.Key,
	}); err != nil {
		return nil, err
	}
	s.Trigger = NewTrigger(stack, "Trigger", TriggerProps{
		StackName:    p.StackName,
		Account:      p.Source.Account,
		Region:       p.Source.Region,
		Rules:        p.Triggers,
		Referrers:    p.ReferrerTrigger,
		Deletes:      p.DeleteTrigger,
		StateMachine: s.Workflow.StateMachine,
		Key:          s.Key,
	})
	if s.Reconcile, err = NewReconcile(stack, "Reconcile", ReconcileProps{
		StackName:              p.StackName,
		Source:                 p.Source,
		ASLFile:                p.ReconcileASLFile,
		Functions:              s.Functions,
		Concurrency:            p.ReconcileConcurrency,
		ApprovalTimeoutSeconds: p.ApprovalTimeoutSeconds,
		LogRetentionDays:       p.LogRetentionDays,
		Schedule:               p.ReconcileSchedule,
		DeadLetterQueue:        s.Trigger.DeadLetterQueue,
		Key:                    s.Key,
	}); err != nil {
		return nil, err
	}
	s.Alarms = NewAlarms(stack, "Alarms", AlarmsProps{
		StackName:       p.StackName,
		Account:         p.Source.Account,
		Region:          p.Source.Region,
		StateMachine:    s.Workflow.StateMachine,
		ReplicateName:   smName,
		Reconcile:       s.Reconcile.Workflow.StateMachine,
		Functions:       s.Functions,
		DeadLetterQueue: s.Trigger.DeadLetterQueue,
		Key:             s.Key,
		Emails:          p.AlertEmails,
		LagAlarmMinutes: p.LagAlarmMinutes,
	})
	// CheckGates tells the alerts topic about each destination a gate
	// blocked (grantPublish: sns:Publish and the topic's key).
	gates := s.Functions.ByName[FnCheckGates]
	gates.AddEnvironment(jsii.String(workflow.EnvAlertsTopic), s.Alarms.Topic.TopicArn(), nil)
	s.Alarms.Topic.GrantPublish(gates)
	s.Dashboard = NewDashboard(stack, "Dashboard", DashboardProps{
		Name:            p.StackName,
		Replicate:       s.Workflow.StateMachine,
		Reconcile:       s.Reconcile.Workflow.StateMachine,
		ReplicateName:   smName,
		ReconcileName:   p.StackName + "-reconcile",
		Alarms:          s.Alarms.Alarms,
		LagAlarmMinutes: p.LagAlarmMinutes,
	})
	// CloudWatch Logs may use the key for Ferry's log groups only.
	logGroups := []string{s.Workflow.LogGroupName, s.Reconcile.Workflow.LogGroupName}
	for _, fn := range FunctionNames {
		logGroups = append(logGroups, s.Functions.LogGroups[fn])
	}
	s.Key.AddToResourcePolicy(LogsKeyStatement(p.Source.Account, p.Source.Region, logGroups), nil)
	awscdk.NewCfnOutput(stack, jsii.String("StateMachineArn"), &awscdk.CfnOutputProps{
		Value:       s.Workflow.StateMachine.StateMachineArn(),
		Description: jsii.String("The replication workflow: watch, approve and redrive runs in the Step Functions console"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ReconcileStateMachineArn"), &awscdk.CfnOutputProps{
		Value:       s.Reconcile.Workflow.StateMachine.StateMachineArn(),
		Description: jsii.String("The reconcile, which converges every destination on the rules: start it by hand with {} or {\"dryRun\": true}"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ReconcileBucketName"), &awscdk.CfnOutputProps{
		Value:       s.Reconcile.Bucket.BucketName(),
		Description: jsii.String("Each reconcile run's plan, jobs, results and summary, under runs/<execution>/ for 30 days"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ApprovalTopicArn"), &awscdk.CfnOutputProps{
		Value:       s.Approval.Topic.TopicArn(),
		Description: jsii.String("Subscribe approvers here (email); each message has approve and reject links"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("AlertsTopicArn"), &awscdk.CfnOutputProps{
		Value:       s.Alarms.Topic.TopicArn(),
		Description: jsii.String("Failed, timed-out and aborted runs and alarms are published here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("DashboardName"), &awscdk.CfnOutputProps{
		Value:       s.Dashboard.DashboardName(),
		Description: jsii.String("The CloudWatch dashboard: runs of both state machines, copies, failures, bytes and lag per destination, and the alarms"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("DeadLetterQueueUrl"), &awscdk.CfnOutputProps{
		Value:       s.Trigger.DeadLetterQueue.QueueUrl(),
		Description: jsii.String("ECR events (pushes, referrers, deletes) EventBridge could not deliver to the workflow, and reconcile schedule invocations that failed"),
	})
	return s, nil
}
