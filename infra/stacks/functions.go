package stacks

import (
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/config"
)

// FunctionSpec sizes one Lambda for its work.
type FunctionSpec struct {
	Description string
	MemoryMB    int
	Timeout     time.Duration
}

// FunctionSpecs sizes each Lambda. CopyImage streams blobs from source to
// destination, so it needs network throughput (which grows with memory)
// and time for large images, but no ephemeral storage beyond the default.
var FunctionSpecs = map[string]FunctionSpec{
	FnValidate: {"Ferry: apply the rules to a push and plan one job per destination", 256, 1 * time.Minute},
	// CheckGates reads scan findings and signature blobs (small), and
	// verifies a few signatures.
	FnCheckGates:       {"Ferry: check a destination's scan and signature gates before any approval or copy", 256, 2 * time.Minute},
	FnAssumeRole:       {"Ferry: prove the destination role can be assumed", 128, 30 * time.Second},
	FnEnsureRepository: {"Ferry: create the destination repository if it is missing", 256, 1 * time.Minute},
	FnCopyImage:        {"Ferry: copy an image, digest for digest, to one destination", 2048, 15 * time.Minute},
	FnVerify:           {"Ferry: check the destination image matches the source digest", 512, 2 * time.Minute},
	FnSummarize:        {"Ferry: sum up the per-destination results of a run", 128, 30 * time.Second},
	FnApprovalRequest:  {"Ferry: ask a person to approve a copy (task token)", 128, 30 * time.Second},
	FnApprovalCallback: {"Ferry: approve or reject a copy from a signed link", 128, 15 * time.Second},
	// Discover lists whole registries (every source repository the rules
	// select and each destination repository they map to), page by page.
	FnDiscover:           {"Ferry: list what the destinations lack and write the reconcile's jobs to S3", 1024, 15 * time.Minute},
	FnReconcileSummarize: {"Ferry: count a reconcile's results, fail it or hand its failed jobs back", 512, 5 * time.Minute},
}

// FunctionsProps configures the Lambdas.
type FunctionsProps struct {
	StackName        string
	SourceAccount    string
	SourceRegion     string
	AssetDirs        map[string]string // function name -> directory with bootstrap and ferry.yaml
	LogRetentionDays int               // 0: 90 days
	// Key encrypts the log groups; its policy must let CloudWatch Logs use
	// it for them (LogsKeyStatement). nil: CloudWatch Logs' own keys.
	Key awskms.IKey
	// ReservedConcurrency is the reserved concurrency of each function
	// that has one (see ReservedConcurrency); the others share the
	// account's unreserved pool.
	ReservedConcurrency map[string]int
	// SourceRepositoryARNs are the source repositories the readers may read.
	SourceRepositoryARNs []string
	// DestinationRoleARNs are the roles the assumers may assume.
	DestinationRoleARNs []string
	// Gated: some destination has gates, which CheckGates and Discover
	// check; GateKMSKeyARNs are the signature gates' KMS keys.
	Gated          bool
	GateKMSKeyARNs []string
}

// Functions is every Ferry Lambda with its execution role and log group.
type Functions struct {
	constructs.Construct
	ByName    map[string]awslambda.Function
	Roles     map[string]awsiam.Role
	LogGroups map[string]string // function -> log group name
}

// NewFunctions builds the Lambdas: arm64 provided.al2023 bootstraps, JSON
// logs with a retention, X-Ray tracing, and a fixed-name role each holding
// only what that function needs.
func NewFunctions(scope constructs.Construct, id string, p FunctionsProps) (*Functions, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &Functions{Construct: c, ByName: map[string]awslambda.Function{}, Roles: map[string]awsiam.Role{}, LogGroups: map[string]string{}}
	retention, err := retentionDays(p.LogRetentionDays)
	if err != nil {
		return nil, err
	}
	for _, name := range FunctionNames {
		spec := FunctionSpecs[name]
		dir, ok := p.AssetDirs[name]
		if !ok {
			return nil, fmt.Errorf("no asset directory for function %s", name)
		}
		// The trust names lambda.amazonaws.com with no aws:SourceAccount
		// or aws:SourceArn condition, on purpose. The Lambda Developer
		// Guide documents aws:SourceArn only for resource-based policies,
		// where a function is what is invoked, and does not say that Lambda
		// sets either key when it assumes an execution role; a condition
		// it does not meet would stop CreateFunction ("The role defined for
		// the function cannot be assumed by Lambda") or every invocation.
		// Nothing is lost: a function gets this role only from someone
		// allowed iam:PassRole on it, which no other account can be (a role
		// is never passed across accounts), so no other account's Lambda
		// can act as a confused deputy with it. cdk-nag has no rule on
		// trust conditions, so this comment stands where a suppression
		// would.
		role := awsiam.NewRole(c, jsii.String(name+"Role"), &awsiam.RoleProps{
			RoleName:    jsii.String(SourceRoleName(p.StackName, p.SourceRegion, name)),
			Description: jsii.String("Execution role of Ferry's " + name + " Lambda"),
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
		logName := FunctionLogGroupName(p.StackName, name)
		logs := awslogs.NewLogGroup(c, jsii.String(name+"Logs"), &awslogs.LogGroupProps{
			LogGroupName:  jsii.String(logName),
			Retention:     retention,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
			EncryptionKey: p.Key,
		})
		f.LogGroups[name] = logName
		logs.GrantWrite(role)
		fn := awslambda.NewFunction(c, jsii.String(name), &awslambda.FunctionProps{
			FunctionName:          jsii.String(p.StackName + "-" + name),
			Description:           jsii.String(spec.Description),
			Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:          awslambda.Architecture_ARM_64(),
			Handler:               jsii.String("bootstrap"),
			Code:                  awslambda.Code_FromAsset(jsii.String(dir), nil),
			MemorySize:            jsii.Number(spec.MemoryMB),
			Timeout:               awscdk.Duration_Seconds(jsii.Number(spec.Timeout.Seconds())),
			Role:                  role,
			LogGroup:              logs,
			LoggingFormat:         awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
			SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
			Tracing:               awslambda.Tracing_ACTIVE,
			Environment: &map[string]*string{
				"FERRY_CONFIG": jsii.String(ConfigFileName),
			},
			ReservedConcurrentExecutions: reserved(p.ReservedConcurrency, name),
		})
		f.ByName[name] = fn
		f.Roles[name] = role
	}

	var wildcards []any
	for _, name := range SourceReaders {
		role := f.Roles[name]
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadSourceRepositories"),
			Actions:   jsii.Strings(SourceActions...),
			Resources: jsii.Strings(p.SourceRepositoryARNs...),
		}))
		role.AddToPrincipalPolicy(registryLogin())
	}
	registry := SourceRegistryARN(config.Source{Account: p.SourceAccount, Region: p.SourceRegion})
	for _, name := range SourceListers {
		role := f.Roles[name]
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ListSourceImages"),
			Actions:   jsii.Strings(SourceListActions...),
			Resources: jsii.Strings(p.SourceRepositoryARNs...),
		}))
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ListSourceRepositories"),
			Actions:   jsii.Strings("ecr:DescribeRepositories"),
			Resources: jsii.Strings(registry),
		}))
	}
	// The gates read only when a destination has them: the source images
	// (manifests, signature blobs), their scans, and the KMS keys named.
	for _, name := range GateCheckers {
		if !p.Gated {
			break
		}
		role := f.Roles[name]
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("GatesReadSourceImages"),
			Actions:   jsii.Strings(SourceActions...),
			Resources: jsii.Strings(p.SourceRepositoryARNs...),
		}))
		role.AddToPrincipalPolicy(registryLogin())
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("GatesReadScanFindings"),
			Actions:   jsii.Strings(GateScanActions...),
			Resources: jsii.Strings(p.SourceRepositoryARNs...),
		}))
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("GatesReadRegistryScanning"),
			Actions:   jsii.Strings(GateRegistryActions...),
			Resources: jsii.Strings("*"),
		}))
		if len(p.GateKMSKeyARNs) > 0 {
			role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("GatesReadKMSKeys"),
				Actions:   jsii.Strings(GateKMSActions...),
				Resources: jsii.Strings(p.GateKMSKeyARNs...),
			}))
		}
	}
	for _, arn := range p.SourceRepositoryARNs {
		wildcards = append(wildcards, "Resource::"+arn)
	}
	for _, name := range DestinationAssumers {
		f.Roles[name].AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AssumeDestinationRoles"),
			Actions:   jsii.Strings("sts:AssumeRole", "sts:TagSession"),
			Resources: jsii.Strings(p.DestinationRoleARNs...),
		}))
	}
	for _, name := range FunctionNames {
		reason := "Resource::* only for X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords), which has no resource-level permissions."
		appliesTo := []any{"Resource::*"}
		if slices.Contains(SourceReaders, name) {
			reason = "Resource::* only for actions with no resource-level permissions: ecr:GetAuthorizationToken (registry login) " +
				"and X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords). The source repository wildcards are the rules' " +
				"repository patterns (a glob becomes an ARN wildcard; a regular expression or semver pattern, which no ARN can express, " +
				"becomes repository/*), so the function reads only repositories the rules can select."
			appliesTo = append(appliesTo, wildcards...)
		}
		if slices.Contains(SourceListers, name) {
			reason = "Resource::* only for X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords), which has no resource-level permissions. " +
				"The source repository wildcards are the rules' repository patterns (a glob becomes an ARN wildcard; a regular expression or " +
				"semver pattern becomes repository/*): the function lists the images (ecr:DescribeImages, ecr:ListImages, no image reads) only of " +
				"repositories the rules can select. " + registry + " is for ecr:DescribeRepositories alone: called without repository names to " +
				"list the registry, it is authorized on every repository; it reveals repository names and settings, not images."
			appliesTo = append(appliesTo, wildcards...)
			if !slices.Contains(p.SourceRepositoryARNs, registry) {
				appliesTo = append(appliesTo, "Resource::"+registry)
			}
		}
		if slices.Contains(GateCheckers, name) && p.Gated {
			reason += " With gates: Resource::* is also for ecr:GetAuthorizationToken (reading the source image's signatures) and " +
				"ecr:GetRegistryScanningConfiguration, which have no resource-level permissions (the latter tells whether the source " +
				"registry scans the repositories: a gate blocks an image nothing scans, saying how to turn scanning on); the source " +
				"repository wildcards are the rules' repository patterns, for the images, scans and scan-on-push settings the gates read."
			if !slices.Contains(SourceListers, name) { // Discover's already name them
				appliesTo = append(appliesTo, wildcards...)
			}
		}
		if name == FnCheckGates {
			reason += " kms:GenerateDataKey* is on this stack's key only, for the alerts topic, as grantPublish gives it."
			appliesTo = append(appliesTo, "Action::kms:GenerateDataKey*")
		}
		cdknag.NagSuppressions_AddResourceSuppressions(f.Roles[name], &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String(reason),
			AppliesTo: &appliesTo,
		}}, jsii.Bool(true))
	}
	return f, nil
}

// registryLogin allows ecr:GetAuthorizationToken, which has no resource.
func registryLogin() awsiam.PolicyStatement { return registryLoginOn("*") }

func registryLoginOn(resource string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RegistryLogin"),
		Actions:   jsii.Strings("ecr:GetAuthorizationToken"),
		Resources: jsii.Strings(resource),
	})
}

// logRetentions are the retention periods CloudWatch Logs accepts, in days.
var logRetentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// DefaultLogRetentionDays is how long Ferry keeps logs unless told.
const DefaultLogRetentionDays = 90

// retentionDays returns the retention for days (0: the default).
func retentionDays(days int) (awslogs.RetentionDays, error) {
	if days == 0 {
		days = DefaultLogRetentionDays
	}
	r, ok := logRetentions[days]
	if !ok {
		return "", fmt.Errorf("log retention of %d days is not one CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)", days)
	}
	return r, nil
}

// FunctionLogGroupName is the log group of a function.
func FunctionLogGroupName(stackName, function string) string {
	return fmt.Sprintf("/aws/lambda/%s-%s", stackName, function)
}

// LogGroupARN is the ARN of a log group as CloudWatch Logs puts it in the
// encryption context of its KMS calls (no ":*" after the name).
func LogGroupARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", config.Partition(region), region, account, name)
}

// LogsKeyStatement is the key policy statement that lets CloudWatch Logs
// (the regional logs.<region>.amazonaws.com, as the CloudWatch Logs User
// Guide's "Encrypt log data in CloudWatch Logs using AWS KMS" asks) use the
// key for the named log groups only: their ARN is the
// kms:EncryptionContext:aws:logs:arn of every call it makes for them. The
// actions are that guide's Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*
// and Describe*, spelled out, less the asymmetric data key pairs.
func LogsKeyStatement(account, region string, logGroups []string) awsiam.PolicyStatement {
	arns := make([]string, len(logGroups))
	for i, name := range logGroups {
		arns[i] = LogGroupARN(account, region, name)
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchLogs"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+region+".amazonaws.com"), nil)},
		Actions: jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
			"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnEquals": map[string]any{"kms:EncryptionContext:aws:logs:arn": arns}},
	})
}

// Reserved concurrency.
//
// Only the approval callback reserves any. Its Function URL (AuthType
// NONE, since links are opened from email) is the one way into Ferry from
// outside AWS; a reserved concurrency is also a cap, so a flood of requests
// to it runs at most CallbackConcurrency at once (the URL answers the rest
// with 429) and cannot use up the account's concurrency and throttle
// CopyImage.
//
// The other functions reserve none, on purpose. Their concurrency is set by
// the state machines, not by outsiders: a replicate run copies at most
// maxConcurrency destinations at once and the reconcile runs
// reconcileConcurrency jobs at once, but every push starts a run of its
// own, so how many copies run at once has no bound a synth can know. A
// reservation sized from maxConcurrency + reconcileConcurrency would cap
// CopyImage there, throttling the copies of two pushes at once that the
// account could have run; and it would take that much from the account's
// unreserved pool, which every other function shares, whether Ferry copies
// anything or not (reconcileConcurrency alone may be 10000). Lambda keeps
// MinUnreservedConcurrency unreserved, so an account at the default limit
// cannot reserve anything at all. Raise the account's limit instead
// (README, "Lambda concurrency"); the tasks retry
// Lambda.TooManyRequestsException with backoff meanwhile.
const (
	// CallbackConcurrency is the approval callback's reserved concurrency:
	// people clicking links need one or two at a time.
	CallbackConcurrency = 5
	// DefaultLambdaConcurrencyLimit is the account's Lambda "Concurrent
	// executions" quota assumed unless told (Lambda's usual default; new
	// accounts may start at 10).
	DefaultLambdaConcurrencyLimit = 1000
	// MinUnreservedConcurrency is what Lambda keeps for functions without
	// reserved concurrency: "You can reserve up to the Unreserved account
	// concurrency value that is shown, minus 100" (Lambda Developer Guide,
	// "Configuring reserved concurrency"). Below a limit of 100 nothing can
	// be reserved.
	MinUnreservedConcurrency = 100
)

// ReservedConcurrency returns the reserved concurrency of each function
// that gets one in an account whose Lambda concurrency limit is limit, and,
// when the limit leaves nothing to reserve, a warning that says so and what
// to do.
func ReservedConcurrency(limit int) (map[string]int, string) {
	if limit-CallbackConcurrency < MinUnreservedConcurrency {
		return nil, fmt.Sprintf("the account's Lambda concurrency limit of %d leaves nothing to reserve (Lambda keeps %d unreserved), "+
			"so the approval callback's Function URL is not capped at %d concurrent requests and a flood of requests to it can "+
			"throttle the copies. Raise the quota \"Concurrent executions\" (L-B99A9384) in Service Quotas to %d or more, "+
			"then deploy with -c lambdaConcurrencyLimit=<the new limit>",
			limit, MinUnreservedConcurrency, CallbackConcurrency, DefaultLambdaConcurrencyLimit)
	}
	return map[string]int{FnApprovalCallback: CallbackConcurrency}, ""
}

// reserved is a function's reserved concurrency for FunctionProps: nil for
// none (0 would be a reservation of nothing, which stops the function).
func reserved(by map[string]int, function string) *float64 {
	n, ok := by[function]
	if !ok {
		return nil
	}
	return jsii.Number(n)
}
