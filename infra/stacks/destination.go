package stacks

import (
	"maps"
	"slices"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ferry-dev/ferry/internal/ecr"
)

// DestinationRoleProps configures one role Ferry assumes in a destination
// account.
type DestinationRoleProps struct {
	Role AccessRole
	// Readers, Writers and Admins are the source Lambdas' execution roles,
	// the only principals that may assume the role: each only with its
	// session tag (DestinationReaders, DestinationWriters,
	// DestinationAdmins). At least one of them is required.
	Readers, Writers, Admins []string
	ExternalID               string
}

// NewDestinationRole builds a role that trusts only the source Lambdas'
// roles, and only with Ferry's external id, and may only do what copying
// into the rules' repositories takes.
func NewDestinationRole(scope constructs.Construct, id string, p DestinationRoleProps) awsiam.Role {
	// in allows actions on repositories to sessions tagged access only,
	// under the further StringEquals conditions also.
	in := func(access, sid string, repositories, actions []string, also map[string]any) awsiam.PolicyStatement {
		cond := map[string]any{"aws:PrincipalTag/" + ecr.TagAccess: access}
		maps.Copy(cond, also)
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Actions:    jsii.Strings(actions...),
			Resources:  jsii.Strings(repositories...),
			Conditions: &map[string]any{"StringEquals": cond},
		})
	}
	// tagKeys holds a request's tag keys to keys (ForAllValues): a request
	// that tags with any other key is denied.
	tagKeys := func(st awsiam.PolicyStatement, keys ...string) awsiam.PolicyStatement {
		st.AddCondition(jsii.String("ForAllValues:StringEquals"), map[string]any{"aws:TagKeys": toAnySlice(keys)})
		return st
	}
	// Ferry's marker and the tags the role's destinations configure.
	created := append([]string{ecr.SettingsTag}, p.Role.TagKeys...)
	repos := p.Role.Repositories
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadRuleRepositories"),
			Actions:   jsii.Strings(DestinationReadActions...),
			Resources: jsii.Strings(repos...),
		}),
		in(ecr.AccessWrite, "PushToRuleRepositories", repos, DestinationPushActions, nil),
	}
	// Removing a tag deleted in the source: only where a destination asks
	// for it (onSourceDelete: untag).
	if len(p.Role.UntagRepositories) > 0 {
		statements = append(statements, in(ecr.AccessWrite, "UntagRuleRepositories", p.Role.UntagRepositories, DestinationUntagActions, nil))
	}
	statements = append(statements,
		// EnsureRepository creates a repository marked pending, with the
		// configured tags and no other...
		tagKeys(in(ecr.AccessAdmin, "CreateRuleRepositories", repos, DestinationCreateActions,
			map[string]any{"aws:RequestTag/" + ecr.SettingsTag: ecr.SettingsPending}), created...),
		// ...which ECR also checks as ecr:TagResource, on a repository
		// with no tags yet: no resource tag condition can hold here.
		tagKeys(in(ecr.AccessAdmin, "TagCreatedRepositories", repos, DestinationTagActions,
			map[string]any{"aws:RequestTag/" + ecr.SettingsTag: ecr.SettingsPending}), created...),
		// It sets policies only on a repository still marked pending...
		in(ecr.AccessAdmin, "SetUpCreatedRepositories", repos, DestinationSetUpActions,
			map[string]any{"aws:ResourceTag/" + ecr.SettingsTag: ecr.SettingsPending}),
		// ...then marks it applied, changing no other tag.
		tagKeys(in(ecr.AccessAdmin, "MarkCreatedRepositoriesApplied", repos, DestinationTagActions,
			map[string]any{"aws:RequestTag/" + ecr.SettingsTag: ecr.SettingsApplied, "aws:ResourceTag/" + ecr.SettingsTag: ecr.SettingsPending}), ecr.SettingsTag),
	)
	statements = append(statements, registryLogin())
	appliesTo := []any{"Resource::*"}
	for _, arn := range p.Role.Repositories {
		appliesTo = append(appliesTo, "Resource::"+arn)
	}
	for _, arn := range p.Role.UntagRepositories {
		if !slices.Contains(p.Role.Repositories, arn) {
			appliesTo = append(appliesTo, "Resource::"+arn)
		}
	}
	// The keys only through ECR (kms:ViaService): the role cannot decrypt
	// other data under a key, or grant it to anyone, by calling KMS itself.
	// A grant only for ECR itself (kms:GrantIsForAWSResource), which
	// CreateRepository makes on an encrypted repository's key.
	viaECR := map[string]any{"kms:ViaService": ViaECR}
	forECR := map[string]any{"kms:GrantIsForAWSResource": "true"}
	if len(p.Role.KMSKeys) > 0 {
		statements = append(statements,
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("UseRepositoryKeys"),
				Actions:    jsii.Strings(KMSActions...),
				Resources:  jsii.Strings(p.Role.KMSKeys...),
				Conditions: &map[string]any{"StringLike": viaECR},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("GrantRepositoryKeysToECR"),
				Actions:    jsii.Strings(KMSGrantActions...),
				Resources:  jsii.Strings(p.Role.KMSKeys...),
				Conditions: &map[string]any{"StringLike": viaECR, "Bool": forECR},
			}))
	}
	for i, a := range p.Role.KMSAliases {
		byAlias := map[string]any{"kms:ResourceAliases": a.Alias}
		statements = append(statements,
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("UseRepositoryKeyByAlias" + strconv.Itoa(i)),
				Actions:   jsii.Strings(KMSActions...),
				Resources: jsii.Strings(a.KeysARN()),
				Conditions: &map[string]any{
					"ForAnyValue:StringEquals": byAlias,
					"StringLike":               viaECR,
				},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("GrantRepositoryKeyByAliasToECR" + strconv.Itoa(i)),
				Actions:   jsii.Strings(KMSGrantActions...),
				Resources: jsii.Strings(a.KeysARN()),
				Conditions: &map[string]any{
					"ForAnyValue:StringEquals": byAlias,
					"StringLike":               viaECR,
					"Bool":                     forECR,
				},
			}))
		appliesTo = append(appliesTo, "Resource::"+a.KeysARN())
	}
	if len(p.Role.KMSKeys)+len(p.Role.KMSAliases) > 0 {
		appliesTo = append(appliesTo, "Action::kms:GenerateDataKey*")
	}
	role := awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		RoleName:    jsii.String(p.Role.Name),
		Description: jsii.String("Ferry copies images into this account's ECR repositories with this role"),
		// Replaced below by the statements naming every trusted role.
		AssumedBy: awsiam.NewArnPrincipal(jsii.String(slices.Concat(p.Admins, p.Writers, p.Readers)[0])),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"ferry": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
		},
	})
	role.Node().DefaultChild().(awsiam.CfnRole).AddPropertyOverride(jsii.String("AssumeRolePolicyDocument"),
		TrustPolicy(p.Readers, p.Writers, p.Admins, p.ExternalID))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Resource::* only for ecr:GetAuthorizationToken, which has no resource-level permissions. " +
			"Repository wildcards are the rules' repository patterns after renaming (a glob becomes an ARN wildcard, " +
			"a regular expression its anchored literal prefix and *, or the rule's iamScope as written; synth refuses a rule that would write repository/* without asking for it): " +
			"the role can write only where the rules can copy, " +
			"and remove tags (ecr:BatchDeleteImage) only where a destination has onSourceDelete: untag. " +
			"kms:GenerateDataKey* covers GenerateDataKey and GenerateDataKeyWithoutPlaintext, which ECR uses, and only on the configured keys " +
			"(a key named by alias is matched with kms:ResourceAliases, because IAM checks the key, not the alias)."),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
	return role
}

// TrustPolicy lets only the given roles assume a role, and only with the
// external id: one statement per session value, each naming the only roles
// that may start such a session, so a reviewer reads it at a glance. A
// statement with no roles is left out.
func TrustPolicy(readers, writers, admins []string, externalID string) map[string]any {
	statement := func(sid string, arns []string, access string) map[string]any {
		principals := make([]any, len(arns))
		for i, a := range arns {
			principals[i] = a
		}
		return map[string]any{
			"Sid":       sid,
			"Effect":    "Allow",
			"Action":    []any{"sts:AssumeRole", "sts:TagSession"},
			"Principal": map[string]any{"AWS": principals},
			"Condition": map[string]any{
				"StringEquals":              map[string]any{"sts:ExternalId": externalID, "aws:RequestTag/" + ecr.TagAccess: access},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{ecr.TagAccess}},
			},
		}
	}
	var statements []any
	for _, s := range []struct {
		sid    string
		arns   []string
		access string
	}{
		{"FerryReaders", readers, ecr.AccessRead},
		{"FerryWriters", writers, ecr.AccessWrite},
		{"FerryAdmins", admins, ecr.AccessAdmin},
	} {
		if len(s.arns) > 0 {
			statements = append(statements, statement(s.sid, s.arns, s.access))
		}
	}
	return map[string]any{"Version": "2012-10-17", "Statement": statements}
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// DestinationStackProps configures one destination account's stack.
type DestinationStackProps struct {
	StackName                string
	Access                   Access
	Readers, Writers, Admins []string
	ExternalID               string
}

// NewDestinationStack builds the roles Ferry assumes in one destination
// account, in the first region the rules use there (IAM is global).
func NewDestinationStack(scope constructs.Construct, id string, p DestinationStackProps) awscdk.Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		StackName:   jsii.String(p.StackName),
		Description: jsii.String("Ferry: the role(s) Ferry assumes to copy images into account " + p.Access.Account),
		Env: &awscdk.Environment{
			Account: jsii.String(p.Access.Account),
			Region:  jsii.String(p.Access.Region),
		},
		// No bootstrap-version rule: the template needs nothing from a CDK
		// bootstrap, so it can also be deployed as a CloudFormation StackSet.
		Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
			GenerateBootstrapVersionRule: jsii.Bool(false),
		}),
	})
	for _, r := range p.Access.Roles {
		NewDestinationRole(stack, "Role-"+r.Name, DestinationRoleProps{
			Role: r, Readers: p.Readers, Writers: p.Writers, Admins: p.Admins, ExternalID: p.ExternalID,
		})
	}
	return stack
}
