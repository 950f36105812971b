package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/workflow"
)

// Reconcile settings.
const (
	// DefaultReconcileConcurrency is how many of the Distributed Map's child
	// executions (one job each) run at once unless told.
	DefaultReconcileConcurrency = 10
	// MaxReconcileConcurrency is the most a Distributed Map runs at once.
	MaxReconcileConcurrency = 10000
	// ReconcileRunsPrefix is where every object of a reconcile run lives
	// (runs/<execution>/..., see internal/workflow/reconcile.go): the only
	// part of the bucket anyone is granted.
	ReconcileRunsPrefix = "runs/"
	// ReconcileRunDays is how long a run's objects are kept.
	ReconcileRunDays = 30
)

// ReconcileProps configures the reconcile: the bucket its runs go to, its
// state machine and its schedule.
type ReconcileProps struct {
	StackName              string
	Source                 config.Source
	ASLFile                string // statemachine/reconcile.asl.json
	Functions              *Functions
	Concurrency            int
	ApprovalTimeoutSeconds int
	LogRetentionDays       int
	// Schedule is an EventBridge Scheduler expression, or config.ScheduleOff.
	Schedule string
	// DeadLetterQueue gets the schedule's invocations that failed every
	// retry; Key encrypts it, and the state machine's log group.
	DeadLetterQueue awssqs.IQueue
	Key             awskms.IKey
}

// Reconcile keeps every destination converged on the rules: Discover
// writes the jobs to Bucket, the state machine's Distributed Map runs them
// through the per-destination steps, and EventBridge Scheduler starts it.
type Reconcile struct {
	constructs.Construct
	Bucket   awss3.Bucket
	Workflow *Workflow
	Schedule awsscheduler.CfnSchedule // nil when the schedule is off
}

// NewReconcile builds the reconcile's bucket, state machine and schedule,
// and grants its functions the bucket.
func NewReconcile(scope constructs.Construct, id string, p ReconcileProps) (*Reconcile, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	bucket := awss3.NewBucket(c, jsii.String("Runs"), &awss3.BucketProps{
		// S3-managed keys: run data is job lists and results (image names
		// and digests, no secrets), and SSE-S3 needs no key grants for the
		// functions and the state machine that read and write it.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireRuns"),
			Prefix:                              jsii.String(ReconcileRunsPrefix),
			Expiration:                          awscdk.Duration_Days(jsii.Number(ReconcileRunDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		// Runs are transient (30 days) and each is redone by the next one,
		// so the bucket goes with the stack rather than being orphaned.
		// Without autoDeleteObjects: that adds a custom-resource Lambda
		// allowed to delete every object, to save an "aws s3 rm" before
		// deleting the stack; CloudFormation refuses to delete a bucket
		// that still holds runs, and says so.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(bucket, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("The bucket holds transient run data (job lists and Map results, expired after 30 days) that only this stack's " +
			"reconcile functions and state machine can read or write, under runs/ only. Each run is in the Step Functions execution history; " +
			"a log bucket would keep more than the bucket itself holds and need a log bucket of its own. " +
			"Enable CloudTrail S3 data events on it if an audit needs per-object records."),
	}}, jsii.Bool(false))
	runs := bucket.ArnForObjects(jsii.String(ReconcileRunsPrefix + "*"))
	runsFinding := fmt.Sprintf("Resource::<%s.Arn>/%s*", *stack.GetLogicalId(bucket.Node().DefaultChild().(awscdk.CfnElement)), ReconcileRunsPrefix)

	// Discover writes the plan and jobs and, after approvals, reads them
	// back; ReconcileSummary reads the Map's results and writes the
	// summary and the failed jobs. Objects under runs/ only: no listing,
	// no deletes, nothing else in the bucket.
	for _, name := range []string{FnDiscover, FnReconcileSummarize} {
		fn, role := p.Functions.ByName[name], p.Functions.Roles[name]
		fn.AddEnvironment(jsii.String(workflow.EnvReconcileBucket), bucket.BucketName(), nil)
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadWriteReconcileRuns"),
			Actions:   jsii.Strings("s3:GetObject", "s3:PutObject"),
			Resources: &[]*string{runs},
		}))
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Objects of the reconcile bucket under runs/ only (each run writes its own runs/<execution>/ keys), to get and put; no listing, no deletes."),
			AppliesTo: &[]any{runsFinding},
		}}, jsii.Bool(true))
	}

	name := p.StackName + "-reconcile"
	wf, err := NewWorkflow(c, "Workflow", WorkflowProps{
		Name:      name,
		Account:   p.Source.Account,
		Region:    p.Source.Region,
		ASLFile:   p.ASLFile,
		Functions: p.Functions,
		Invoke:    ReconcileFunctions,
		Values: map[string]int{
			PlaceholderReconcileConcurrency: p.Concurrency,
			PlaceholderApprovalTimeout:      p.ApprovalTimeoutSeconds,
		},
		LogRetentionDays: p.LogRetentionDays,
		Key:              p.Key,
	})
	if err != nil {
		return nil, err
	}
	// The Distributed Map starts one child execution of this state machine
	// per job, reads the jobs from S3 (ItemReader) and writes the results
	// there (ResultWriter): the permissions of "IAM policies for using
	// Distributed Map states" in the Step Functions Developer Guide, on
	// ARNs built from the fixed name (a reference to the state machine
	// from its own role would be a cycle).
	smARN := StateMachineARN(p.Source.Account, p.Source.Region, name)
	executions := ExecutionARN(p.Source.Account, p.Source.Region, name) + ":*"
	mapRuns := ExecutionARN(p.Source.Account, p.Source.Region, name) + "/*:*"
	for _, st := range []*awsiam.PolicyStatementProps{
		{Sid: jsii.String("StartMapRunChildren"), Actions: jsii.Strings("states:StartExecution"), Resources: jsii.Strings(smARN)},
		{Sid: jsii.String("WatchMapRunChildren"), Actions: jsii.Strings("states:DescribeExecution", "states:StopExecution"), Resources: jsii.Strings(executions)},
		// A redrive of a failed run redrives its Map Run's failed children.
		{Sid: jsii.String("RedriveMapRuns"), Actions: jsii.Strings("states:RedriveExecution"), Resources: jsii.Strings(mapRuns)},
		{Sid: jsii.String("ReadJobs"), Actions: jsii.Strings("s3:GetObject"), Resources: &[]*string{runs}},
		{Sid: jsii.String("WriteResults"), Actions: jsii.Strings("s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"), Resources: &[]*string{runs}},
	} {
		wf.StateMachine.AddToRolePolicy(awsiam.NewPolicyStatement(st))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(wf.StateMachine, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The Distributed Map's own child executions: this state machine's executions (" + executions + ", to describe " +
			"and stop them) and its Map Runs' (" + mapRuns + ", to redrive them; the Map state has no fixed label). The reconcile " +
			"bucket's objects under runs/ only, where the Map reads its jobs and writes its results."),
		AppliesTo: &[]any{"Resource::" + executions, "Resource::" + mapRuns, runsFinding},
	}}, jsii.Bool(true))

	r := &Reconcile{Construct: c, Bucket: bucket, Workflow: wf}
	if p.Schedule != config.ScheduleOff {
		r.Schedule = newReconcileSchedule(c, name, wf.StateMachine.StateMachineArn(), p)
	}
	return r, nil
}

// Retry policy of the reconcile schedule: like the push triggers'.
const (
	DefaultScheduleRetryAttempts = DefaultTriggerRetryAttempts
	DefaultScheduleMaxEventAge   = DefaultTriggerMaxEventAge
)

// newReconcileSchedule starts the reconcile on p.Schedule, in UTC, with
// input {}, through a role that may only start it (and hand an invocation
// that failed every retry to the dead-letter queue).
func newReconcileSchedule(c constructs.Construct, name string, stateMachineARN *string, p ReconcileProps) awsscheduler.CfnSchedule {
	scheduleARN := fmt.Sprintf("arn:%s:scheduler:%s:%s:schedule/default/%s", config.Partition(p.Source.Region), p.Source.Region, p.Source.Account, name)
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("StartReconcile"),
			Actions:   jsii.Strings("states:StartExecution"),
			Resources: &[]*string{stateMachineARN},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DeadLetters"),
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: &[]*string{p.DeadLetterQueue.QueueArn()},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("EncryptDeadLetters"),
			Actions:   jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources: &[]*string{p.Key.KeyArn()},
		}),
	}
	role := awsiam.NewRole(c, jsii.String("ScheduleRole"), &awsiam.RoleProps{
		Description: jsii.String("EventBridge Scheduler starts Ferry's reconcile (" + name + ") with this role"),
		// Only this schedule, in this account (the confused-deputy guard
		// the EventBridge Scheduler User Guide recommends).
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": p.Source.Account},
				"ArnEquals":    map[string]any{"aws:SourceArn": scheduleARN},
			},
		}),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"ferry": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
		},
	})
	return awsscheduler.NewCfnSchedule(c, jsii.String("Schedule"), &awsscheduler.CfnScheduleProps{
		Name:                       jsii.String(name),
		Description:                jsii.String("Ferry: start the reconcile, which converges every destination on the rules"),
		ScheduleExpression:         jsii.String(p.Schedule),
		ScheduleExpressionTimezone: jsii.String("UTC"),
		FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:                      jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:     stateMachineARN,
			RoleArn: role.RoleArn(),
			Input:   jsii.String("{}"),
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(DefaultScheduleRetryAttempts),
				MaximumEventAgeInSeconds: jsii.Number(DefaultScheduleMaxEventAge.Seconds()),
			},
			DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: p.DeadLetterQueue.QueueArn()},
		},
	})
}

// ExecutionARN is the prefix of a state machine's execution ARNs:
// arn:...:execution:<name>.
func ExecutionARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:execution:%s", config.Partition(region), region, account, name)
}
