package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
)

// ASL placeholders filled with function ARNs, by function.
var functionPlaceholders = map[string]string{
	FnValidate:         "ValidateFunctionArn",
	FnCheckGates:       "CheckGatesFunctionArn",
	FnAssumeRole:       "AssumeRoleFunctionArn",
	FnEnsureRepository: "EnsureRepositoryFunctionArn",
	FnCopyImage:        "CopyImageFunctionArn",
	FnVerify:           "VerifyFunctionArn",
	FnSummarize:        "SummarizeFunctionArn",
	FnApprovalRequest:  "ApprovalRequestFunctionArn",
	// The reconcile's own steps.
	FnDiscover:           "DiscoverFunctionArn",
	FnReconcileSummarize: "ReconcileSummaryFunctionArn",
}

// Other ASL placeholders.
const (
	PlaceholderMaxConcurrency       = "MaxConcurrency"
	PlaceholderApprovalTimeout      = "ApprovalTimeoutSeconds"
	PlaceholderReconcileConcurrency = "ReconcileConcurrency"
)

// placeholderRE finds ${Name} in an ASL file.
var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// Placeholders returns the distinct ${...} names in an ASL text, sorted.
func Placeholders(asl string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(asl, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckSubstitutions reports placeholders in asl that names does not fill,
// and names asl does not use; and whether asl is JSON once filled.
func CheckSubstitutions(asl string, names []string) error {
	used := Placeholders(asl)
	var missing, unused []string
	for _, u := range used {
		if !slices.Contains(names, u) {
			missing = append(missing, "${"+u+"}")
		}
	}
	for _, n := range names {
		if !slices.Contains(used, n) {
			unused = append(unused, "${"+n+"}")
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "no substitution for "+strings.Join(missing, ", "))
	}
	if len(unused) > 0 {
		problems = append(problems, "substitutions not used: "+strings.Join(unused, ", "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	filled := placeholderRE.ReplaceAllString(asl, "1")
	if !json.Valid([]byte(filled)) {
		return fmt.Errorf("not valid JSON once its ${...} placeholders are filled")
	}
	return nil
}

// WorkflowProps configures a state machine.
type WorkflowProps struct {
	Name      string // state machine name, fixed so its ARN is known in advance
	Account   string // the stack's account and region, for that ARN
	Region    string
	ASLFile   string // statemachine/replicate.asl.json or reconcile.asl.json
	Functions *Functions
	// Invoke are the functions the state machine invokes: each fills its
	// placeholder (functionPlaceholders) with its ARN.
	Invoke []string
	// Values fill the other placeholders (MaxConcurrency, ...).
	Values           map[string]int
	LogRetentionDays int
	// Key encrypts the execution log group (see LogsKeyStatement); nil:
	// CloudWatch Logs' own keys.
	Key awskms.IKey
}

// Workflow is a state machine and its execution log.
type Workflow struct {
	constructs.Construct
	StateMachine  awsstepfunctions.StateMachine
	Substitutions map[string]string // placeholder -> value (tokens for ARNs)
	LogGroupName  string            // the execution log group
}

// NewWorkflow loads the ASL file and fills its placeholders: a Standard
// state machine, logging every event to CloudWatch Logs, traced by X-Ray.
func NewWorkflow(scope constructs.Construct, id string, p WorkflowProps) (*Workflow, error) {
	if p.Account == "" || p.Region == "" {
		return nil, fmt.Errorf("state machine %s: no account or region", p.Name)
	}
	asl, err := os.ReadFile(p.ASLFile)
	if err != nil {
		return nil, fmt.Errorf("read state machine definition: %w", err)
	}
	subs := map[string]string{}
	for ph, v := range p.Values {
		subs[ph] = strconv.Itoa(v)
	}
	var invoke []*string
	for _, fn := range p.Invoke {
		ph, ok := functionPlaceholders[fn]
		if !ok {
			return nil, fmt.Errorf("state machine %s: function %s has no placeholder", p.Name, fn)
		}
		subs[ph] = *p.Functions.ByName[fn].FunctionArn()
		invoke = append(invoke, p.Functions.ByName[fn].FunctionArn())
	}
	if err := CheckSubstitutions(string(asl), sortedKeys(subs)); err != nil {
		return nil, fmt.Errorf("state machine definition %s: %w", p.ASLFile, err)
	}
	retention, err := retentionDays(p.LogRetentionDays)
	if err != nil {
		return nil, err
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	logName := StateMachineLogGroupName(p.Name)
	logs := awslogs.NewLogGroup(c, jsii.String("Executions"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(logName),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		EncryptionKey: p.Key,
	})
	jsiiSubs := make(map[string]*string, len(subs))
	for k, v := range subs {
		jsiiSubs[k] = jsii.String(v)
	}
	sm := awsstepfunctions.NewStateMachine(c, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(p.Name),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(asl))),
		DefinitionSubstitutions: &jsiiSubs,
		// Every state's events, without their input and output: the
		// execution history in the console has those, and the approval
		// task's input holds its task token, which should not be copied
		// into a log group that more people may read.
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled: jsii.Bool(true),
	})
	// Only Step Functions acting for this state machine, in this account,
	// may assume its role: the confused-deputy guard of "Creating an IAM
	// role for your state machine" in the Step Functions Developer Guide,
	// whose aws:SourceArn is a state machine ARN (its example,
	// stateMachine:*, is narrowed here to this one name, which is fixed;
	// Ferry publishes no versions or aliases, whose ARNs would add
	// ":<version>"). The Distributed Map's child executions are executions
	// of this same state machine. The condition is set on the role CDK
	// made rather than on a role of Ferry's own, so that the role, and its
	// logical id, stay the same on upgrade: executions that started before
	// an update keep the role they started with, and one waiting for an
	// approval (up to approvalTimeoutSeconds) would fail if that role were
	// replaced and deleted.
	role := sm.Role().Node().DefaultChild().(awsiam.CfnRole)
	role.AddPropertyOverride(jsii.String("AssumeRolePolicyDocument.Statement.0.Condition"), map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": p.Account},
		"ArnLike":      map[string]any{"aws:SourceArn": StateMachineARN(p.Account, p.Region, p.Name)},
	})
	// Invoke the functions by their unqualified ARNs only (no versions or
	// aliases, so no "arn:*" wildcard).
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeFerryFunctions"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &invoke,
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(sm, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Resource::* only for actions with no resource-level permissions: " +
			"the CloudWatch Logs delivery actions Step Functions needs to log executions " +
			"(logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, " +
			"PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray tracing " +
			"(xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets)."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))
	return &Workflow{Construct: c, StateMachine: sm, Substitutions: subs, LogGroupName: logName}, nil
}

// StateMachineLogGroupName is the execution log group of a state machine:
// under /aws/vendedlogs/, as the Step Functions guide advises, so that log
// delivery does not add to the account's CloudWatch Logs resource policy.
func StateMachineLogGroupName(stateMachine string) string {
	return "/aws/vendedlogs/states/" + stateMachine
}

// StateMachineARN builds the ARN of a state machine from its name.
func StateMachineARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", config.Partition(region), region, account, name)
}

// FunctionForPlaceholder returns the function a placeholder names, if any.
func FunctionForPlaceholder(ph string) (string, bool) {
	for fn, p := range functionPlaceholders {
		if p == ph {
			return fn, true
		}
	}
	return "", false
}
