package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// These tests build the whole app with CDK (through jsii, on the project's
// Node) and check the synthesized templates.

func TestMain(m *testing.M) {
	root, err := ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !UseProjectNode(root) {
		fmt.Fprintln(os.Stderr, "infra tests: node_modules/.bin/node is missing (run 'make node_modules/.installed'); using the system node")
	}
	// Apps built once are shared by several tests, so their files live
	// beyond any one test's TempDir.
	shared, err = os.MkdirTemp("", "ferry-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(shared)
	os.Exit(code)
}

// shared holds the files of the apps in builtApps.
var shared string

// sharedDir makes a new directory under shared.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(shared, "")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// aslFile is the state machine definition the tests build with: the real
// one once it exists, else a fixture that uses every placeholder.
func aslFile(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(root, DefaultASLFile)
	if _, err := os.Stat(real); err == nil {
		return real
	}
	t.Logf("%s does not exist yet; using testdata/fixture.asl.json", DefaultASLFile)
	return filepath.Join(root, "infra", "stacks", "testdata", "fixture.asl.json")
}

// reconcileASLFile is the reconcile state machine's definition.
func reconcileASLFile(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, DefaultReconcileASLFile)
}

// built is one synthesized app.
type built struct {
	stacks    *Stacks
	templates map[string]assertions.Template // by stack name
	json      map[string]map[string]any      // the same templates as JSON
}

var builtApps = map[string]*built{}

// build synthesizes the app for a configuration file, once per file.
func build(t *testing.T, configFile string) *built {
	t.Helper()
	if b, ok := builtApps[configFile]; ok {
		return b
	}
	cfg := loadConfig(t, configFile)
	root, _ := ModuleRoot(".")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(sharedDir(t))})
	s, err := Build(app, AppProps{
		Config:     cfg,
		ConfigFile: configFile,
		Root:       root,
		BuildDir:   fakeBuildDirIn(t, sharedDir(t), FunctionNames),
		StagingDir: sharedDir(t),
		ASLFile:    aslFile(t),
		Nag:        true,
	})
	if err != nil {
		t.Fatalf("Build(%s): %v", configFile, err)
	}
	b := &built{stacks: s, templates: map[string]assertions.Template{}, json: map[string]map[string]any{}}
	all := append([]awscdk.Stack{s.Source.Stack}, s.Destinations...)
	for _, st := range all {
		tmpl := assertions.Template_FromStack(st, nil)
		name := *st.StackName()
		b.templates[name] = tmpl
		b.json[name] = *tmpl.ToJSON()
	}
	builtApps[configFile] = b
	return b
}

// resources returns a template's resources of one type, by logical id.
func resources(tmpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			if str, ok := s.(string); ok {
				out = append(out, str)
			} else {
				b, _ := json.Marshal(s)
				out = append(out, string(b))
			}
		}
		return out
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

// statements returns every IAM policy statement in a template, inline or
// attached, with where it came from.
func statements(tmpl map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	add := func(where string, doc any) {
		d, _ := doc.(map[string]any)
		for _, s := range d["Statement"].([]any) {
			out[where] = append(out[where], s.(map[string]any))
		}
	}
	for id, r := range resources(tmpl, "AWS::IAM::Policy") {
		add(id, props(r)["PolicyDocument"])
	}
	for id, r := range resources(tmpl, "AWS::IAM::Role") {
		ps, _ := props(r)["Policies"].([]any)
		for _, p := range ps {
			add(id, p.(map[string]any)["PolicyDocument"])
		}
	}
	return out
}

func TestEventPatterns(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	src := b.templates["Ferry"]
	// Two push rules, the referrers rule and the failure rule; no deletes
	// rule, since every destination keeps a tag deleted in the source.
	src.ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(4))
	push := func(repos []any, tags []any) map[string]any {
		detail := map[string]any{"action-type": []any{"PUSH"}, "result": []any{"SUCCESS"}}
		if repos != nil {
			detail["repository-name"] = repos
		}
		if tags != nil {
			detail["image-tag"] = tags
		}
		return map[string]any{
			"source":      []any{"aws.ecr"},
			"detail-type": []any{"ECR Image Action"},
			"account":     []any{"111111111111"},
			"region":      []any{"us-east-1"},
			"detail":      detail,
		}
	}
	// releases: team/** -> prefix; its tags include a semver range, so no
	// tag filter. mirrors: tools/* -> prefix; a regexp tag, no tag filter.
	for _, want := range []map[string]any{
		push([]any{map[string]any{"prefix": "team/"}}, nil),
		push([]any{map[string]any{"prefix": "tools/"}}, nil),
	} {
		src.HasResourceProperties(jsii.String("AWS::Events::Rule"), &map[string]any{
			"EventPattern": assertions.Match_ObjectEquals(&want),
			"Targets": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"RetryPolicy":      map[string]any{"MaximumRetryAttempts": DefaultTriggerRetryAttempts, "MaximumEventAgeInSeconds": DefaultTriggerMaxEventAge.Seconds()},
				"DeadLetterConfig": assertions.Match_ObjectLike(&map[string]any{"Arn": assertions.Match_AnyValue()}),
			})}),
		})
	}

	// The referrers rule: every rule's repositories, only referrer tags
	// and pushes by digest.
	wantPattern(t, onlyTriggerRule(t, b, "Referrers"),
		referrerPattern("111111111111", "us-east-1", []any{map[string]any{"prefix": "team/"}, map[string]any{"prefix": "tools/"}}))

	eb := build(t, "testdata/edge.yaml")
	edge := eb.templates["Ferry"]
	want := push(
		[]any{"apps/web", map[string]any{"wildcard": "apps/*/api"}},
		[]any{"latest", map[string]any{"wildcard": "v*.*-final"}},
	)
	want["account"], want["region"] = []any{"111111111111"}, []any{"eu-west-1"}
	edge.HasResourceProperties(jsii.String("AWS::Events::Rule"), &map[string]any{
		"EventPattern": assertions.Match_ObjectEquals(&want),
	})
	// A regular expression among the rules' repositories: every
	// repository.
	wantPattern(t, onlyTriggerRule(t, eb, "Referrers"), referrerPattern("111111111111", "eu-west-1", nil))
	if rules := triggerResources(eb, "Deletes"); len(rules) != 0 {
		t.Errorf("edge.yaml: %d deletes rules, want none (no destination has onSourceDelete: untag)", len(rules))
	}
}

// TestPushInput: the execution input is the event, field for field, plus
// the name of the rule whose trigger fired.
func TestPushInput(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	found := 0
	for _, r := range triggerResources(b, "Push") {
		targets := props(r)["Targets"].([]any)
		it, ok := targets[0].(map[string]any)["InputTransformer"].(map[string]any)
		if !ok || !strings.Contains(fmt.Sprint(props(r)["EventPattern"]), "aws.ecr") {
			continue
		}
		found++
		// The push rules' input, byte for byte as before the referrers and
		// deletes triggers shared its code.
		name := "releases"
		if strings.Contains(it["InputTemplate"].(string), `"mirrors"`) {
			name = "mirrors"
		}
		if got, want := it["InputTemplate"], eventInputTemplate(`"ferryRule":"`+name+`"`); got != want {
			t.Errorf("push rule %s: input template\n %s\nwant\n %s", name, got, want)
		}
		tmpl := it["InputTemplate"].(string)
		for _, f := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
			if !strings.Contains(tmpl, fmt.Sprintf(`"%s":<%s>`, f, f)) {
				t.Errorf("input template %s lacks the event's %q", tmpl, f)
			}
			if it["InputPathsMap"].(map[string]any)[f] != "$."+f {
				t.Errorf("input path %s = %v, want $.%s", f, it["InputPathsMap"].(map[string]any)[f], f)
			}
		}
		if !strings.Contains(tmpl, `"ferryRule":"releases"`) && !strings.Contains(tmpl, `"ferryRule":"mirrors"`) {
			t.Errorf("input template %s does not name its Ferry rule", tmpl)
		}
	}
	if found != 2 {
		t.Errorf("found %d push rules with an input transformer, want 2", found)
	}
}

func TestStateMachineSubstitutions(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	src := b.templates["Ferry"]
	src.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), &map[string]any{
		"StateMachineType":     "STANDARD",
		"TracingConfiguration": map[string]any{"Enabled": true},
		"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"Level": "ALL", "IncludeExecutionData": false}),
	})
	sms := resources(b.json["Ferry"], "AWS::StepFunctions::StateMachine")
	if len(sms) != 2 {
		t.Fatalf("%d state machines, want 2 (replicate and reconcile)", len(sms))
	}
	var sm map[string]any
	for _, r := range sms {
		if props(r)["StateMachineName"] == "Ferry-replicate" {
			sm = props(r)
		}
	}
	if sm == nil {
		t.Fatal("no state machine named Ferry-replicate")
	}
	asl, err := os.ReadFile(aslFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if sm["DefinitionString"] != string(asl) {
		t.Errorf("DefinitionString is not %s as written", aslFile(t))
	}
	subs := sm["DefinitionSubstitutions"].(map[string]any)
	used := Placeholders(string(asl))
	if len(used) == 0 {
		t.Fatalf("%s has no ${...} placeholders", aslFile(t))
	}
	for _, p := range used {
		if _, ok := subs[p]; !ok {
			t.Errorf("placeholder ${%s} in %s has no substitution", p, aslFile(t))
		}
	}
	for k := range subs {
		if !slices.Contains(used, k) {
			t.Errorf("substitution %s is not used in %s", k, aslFile(t))
		}
	}
	// Each function placeholder is that function's ARN.
	fnByID := map[string]string{}
	for id, r := range resources(b.json["Ferry"], "AWS::Lambda::Function") {
		fnByID[id] = strings.TrimPrefix(props(r)["FunctionName"].(string), "Ferry-")
	}
	for ph, v := range subs {
		fn, ok := FunctionForPlaceholder(ph)
		if !ok {
			continue
		}
		ga, _ := v.(map[string]any)["Fn::GetAtt"].([]any)
		if len(ga) != 2 || ga[1] != "Arn" || fnByID[ga[0].(string)] != fn {
			t.Errorf("${%s} = %v, want the ARN of the %s function", ph, v, fn)
		}
	}
	if subs[PlaceholderMaxConcurrency] != "10" || subs[PlaceholderApprovalTimeout] != "86400" {
		t.Errorf("MaxConcurrency = %v, ApprovalTimeoutSeconds = %v; want the defaults 10 and 86400",
			subs[PlaceholderMaxConcurrency], subs[PlaceholderApprovalTimeout])
	}
}

func TestLambdas(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	src := b.templates["Ferry"]
	src.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(len(FunctionNames)))
	src.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
		"TracingConfig": map[string]any{"Mode": "Active"},
		"LoggingConfig": assertions.Match_ObjectLike(&map[string]any{"LogFormat": "JSON"}),
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"FERRY_CONFIG": ConfigFileName,
		})},
	})
	src.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"FunctionName": "Ferry-copyimage",
		"MemorySize":   2048,
		"Timeout":      900,
	})
	src.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"FunctionName": "Ferry-approvalrequest",
		"Environment": map[string]any{"Variables": map[string]any{
			"FERRY_CONFIG":               ConfigFileName,
			"FERRY_APPROVAL_TOPIC_ARN":   assertions.Match_AnyValue(),
			"FERRY_APPROVAL_SECRET_ARN":  assertions.Match_AnyValue(),
			"FERRY_APPROVAL_URL":         assertions.Match_AnyValue(),
			"FERRY_APPROVAL_TTL_SECONDS": "86400",
		}},
	})
	src.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"FunctionName": "Ferry-approvalcallback",
		"Environment": map[string]any{"Variables": map[string]any{
			"FERRY_CONFIG":              ConfigFileName,
			"FERRY_APPROVAL_SECRET_ARN": assertions.Match_AnyValue(),
		}},
	})
	src.HasResourceProperties(jsii.String("AWS::Lambda::Url"), &map[string]any{"AuthType": "NONE"})
	// Every log group has a retention.
	src.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), &map[string]any{"RetentionInDays": 90})
}

// sourceRoleARNs are the ARNs the source roles get from their fixed names.
func sourceRoleARNs(t *testing.T, b *built) map[string]string {
	t.Helper()
	out := map[string]string{} // function -> role ARN
	for _, r := range resources(b.json["Ferry"], "AWS::IAM::Role") {
		name, _ := props(r)["RoleName"].(string)
		for _, fn := range FunctionNames {
			if name == "Ferry-us-east-1-"+fn {
				out[fn] = "arn:aws:iam::111111111111:role/" + name
			}
		}
	}
	if len(out) != len(FunctionNames) {
		t.Fatalf("found fixed-name roles for %v, want all of %v", out, FunctionNames)
	}
	return out
}

func TestDestinationTrust(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	roles := sourceRoleARNs(t, b)
	statement := func(sid string, fns []string, access string) map[string]any {
		var principals []any
		for _, fn := range fns {
			principals = append(principals, roles[fn])
		}
		return map[string]any{
			"Sid":       sid,
			"Effect":    "Allow",
			"Action":    []any{"sts:AssumeRole", "sts:TagSession"},
			"Principal": map[string]any{"AWS": principals},
			"Condition": map[string]any{
				"StringEquals":              map[string]any{"sts:ExternalId": "ferry-111111111111", "aws:RequestTag/ferry-access": access},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry-access"}},
			},
		}
	}
	// AssumeRole, Verify and Discover may only read; CopyImage writes;
	// only EnsureRepository may start an admin session.
	want := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			statement("FerryReaders", []string{FnAssumeRole, FnVerify, FnDiscover}, "read"),
			statement("FerryWriters", []string{FnCopyImage}, "write"),
			statement("FerryAdmins", []string{FnEnsureRepository}, "admin"),
		},
	}
	if len(b.stacks.Destinations) != 3 {
		t.Fatalf("%d destination stacks, want 3 (one per account)", len(b.stacks.Destinations))
	}
	for _, d := range b.stacks.Destinations {
		name := *d.StackName()
		tmpl := b.templates[name]
		tmpl.ResourceCountIs(jsii.String("AWS::IAM::Role"), jsii.Number(1))
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), &map[string]any{
			"RoleName":                 "ferry-replication",
			"AssumeRolePolicyDocument": assertions.Match_ObjectEquals(&want),
		})
		account := strings.TrimPrefix(name, "Ferry-Access-")
		if *d.Account() != account {
			t.Errorf("stack %s is in account %s", name, *d.Account())
		}
		if rules, _ := b.json[name]["Rules"].(map[string]any); rules["CheckBootstrapVersion"] != nil {
			t.Errorf("stack %s checks the CDK bootstrap version, so it cannot be a StackSet template", name)
		}
	}
}

// TestTwoRoleNames: two rules naming one account with different role names
// make two roles there, each with only its own repositories and keys.
func TestTwoRoleNames(t *testing.T) {
	b := build(t, "testdata/edge.yaml")
	if len(b.stacks.Destinations) != 1 {
		t.Fatalf("%d destination stacks, want 1", len(b.stacks.Destinations))
	}
	name := *b.stacks.Destinations[0].StackName()
	tmpl := b.templates[name]
	tmpl.ResourceCountIs(jsii.String("AWS::IAM::Role"), jsii.Number(2))
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), &map[string]any{
		"RoleName": "ferry-tools",
		"Policies": []any{map[string]any{"PolicyName": "ferry", "PolicyDocument": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{
				map[string]any{
					"Sid": "ReadRuleRepositories", "Effect": "Allow", "Action": toAny(DestinationReadActions),
					"Resource": "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
				},
				map[string]any{
					"Sid": "PushToRuleRepositories", "Effect": "Allow", "Action": toAny(DestinationPushActions),
					"Resource":  "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
					"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "write"}},
				},
				// Only admin sessions (EnsureRepository) create repositories,
				// marked pending, and set policies and tags only on those:
				// never on a repository it found (TestAdminOnly has the
				// details).
				map[string]any{
					"Sid": "CreateRuleRepositories", "Effect": "Allow", "Action": "ecr:CreateRepository",
					"Resource": "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
					"Condition": map[string]any{
						"StringEquals":              map[string]any{"aws:PrincipalTag/ferry-access": "admin", "aws:RequestTag/ferry:settings": "pending"},
						"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry:settings"}},
					},
				},
				map[string]any{
					"Sid": "TagCreatedRepositories", "Effect": "Allow", "Action": "ecr:TagResource",
					"Resource": "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
					"Condition": map[string]any{
						"StringEquals":              map[string]any{"aws:PrincipalTag/ferry-access": "admin", "aws:RequestTag/ferry:settings": "pending"},
						"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry:settings"}},
					},
				},
				map[string]any{
					"Sid": "SetUpCreatedRepositories", "Effect": "Allow", "Action": toAny(DestinationSetUpActions),
					"Resource": "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
					"Condition": map[string]any{"StringEquals": map[string]any{
						"aws:PrincipalTag/ferry-access": "admin", "aws:ResourceTag/ferry:settings": "pending"}},
				},
				map[string]any{
					"Sid": "MarkCreatedRepositoriesApplied", "Effect": "Allow", "Action": "ecr:TagResource",
					"Resource": "arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*",
					"Condition": map[string]any{
						"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "admin",
							"aws:RequestTag/ferry:settings": "applied", "aws:ResourceTag/ferry:settings": "pending"},
						"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry:settings"}},
					},
				},
				map[string]any{"Sid": "RegistryLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
			},
		}}},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), &map[string]any{
		"RoleName": "ferry-replication",
		"AssumeRolePolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Sid": "FerryWriters",
			"Condition": map[string]any{
				"StringEquals":              map[string]any{"sts:ExternalId": "edge-external-id", "aws:RequestTag/ferry-access": "write"},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry-access"}},
			},
		})})}),
		"Policies": []any{map[string]any{"PolicyName": "ferry", "PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
			"Statement": assertions.Match_ArrayWith(&[]any{
				map[string]any{
					"Sid": "UseRepositoryKeys", "Effect": "Allow", "Action": toAny(KMSActions),
					"Resource":  "arn:aws:kms:eu-central-1:222222222222:key/0123abcd-12ab-34cd-56ef-1234567890ab",
					"Condition": map[string]any{"StringLike": map[string]any{"kms:ViaService": "ecr.*.amazonaws.com"}},
				},
				map[string]any{
					"Sid": "UseRepositoryKeyByAlias0", "Effect": "Allow", "Action": toAny(KMSActions),
					"Resource": "arn:aws:kms:eu-west-1:222222222222:key/*",
					"Condition": map[string]any{
						"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": "alias/ecr-images"},
						"StringLike":               map[string]any{"kms:ViaService": "ecr.*.amazonaws.com"},
					},
				},
			}),
		})}},
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestNoECRWriteOnStar: the only ECR action any policy allows on "*" is
// ecr:GetAuthorizationToken, and no policy uses an ECR action wildcard.
func TestNoECRWriteOnStar(t *testing.T) {
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml", "testdata/untag.yaml"} {
		b := build(t, cfg)
		checked := 0
		for stack, tmpl := range b.json {
			for where, sts := range statements(tmpl) {
				for _, s := range sts {
					checked++
					actions := strs(s["Action"])
					for _, a := range actions {
						if strings.HasPrefix(a, "ecr:") && strings.ContainsAny(a, "*?") {
							t.Errorf("%s %s: ECR action wildcard %q", stack, where, a)
						}
					}
					if !slices.Contains(strs(s["Resource"]), "*") {
						continue
					}
					for _, a := range actions {
						if strings.HasPrefix(a, "ecr:") && a != "ecr:GetAuthorizationToken" {
							t.Errorf("%s %s: %s allowed on *", stack, where, a)
						}
					}
				}
			}
		}
		if checked < 10 {
			t.Errorf("%s: checked only %d statements", cfg, checked)
		}
	}
}

// TestSourceLeastPrivilege: source ECR access only on the rules' source
// repositories and only for the functions that read them; sts:AssumeRole
// only on the destination roles and only for the functions that assume them.
func TestSourceLeastPrivilege(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	roleFn := map[string]string{} // role logical id -> function
	for id, r := range resources(tmpl, "AWS::IAM::Role") {
		name, _ := props(r)["RoleName"].(string)
		for _, fn := range FunctionNames {
			if name == "Ferry-us-east-1-"+fn {
				roleFn[id] = fn
			}
		}
	}
	readers, assumers := map[string]bool{}, map[string]bool{}
	for _, r := range resources(tmpl, "AWS::IAM::Policy") {
		p := props(r)
		var fn string
		for _, role := range p["Roles"].([]any) {
			fn = roleFn[role.(map[string]any)["Ref"].(string)]
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := s.(map[string]any)
			actions, res := strs(s["Action"]), strs(s["Resource"])
			if slices.Contains(actions, "sts:AssumeRole") {
				assumers[fn] = true
				want := []string{
					"arn:aws:iam::222222222222:role/ferry-replication",
					"arn:aws:iam::333333333333:role/ferry-replication",
					"arn:aws:iam::444444444444:role/ferry-replication",
				}
				if !reflect.DeepEqual(actions, []string{"sts:AssumeRole", "sts:TagSession"}) || !reflect.DeepEqual(res, want) {
					t.Errorf("%s: %v on %v, want sts:AssumeRole and sts:TagSession (its ferry-access tag) on %v", fn, actions, res, want)
				}
			}
			if slices.Contains(actions, "ecr:BatchGetImage") {
				readers[fn] = true
				want := []string{
					"arn:aws:ecr:us-east-1:111111111111:repository/team/*",
					"arn:aws:ecr:us-east-1:111111111111:repository/tools/*",
				}
				if !reflect.DeepEqual(actions, SourceActions) || !reflect.DeepEqual(res, want) {
					t.Errorf("%s: %v on %v, want %v on %v", fn, actions, res, SourceActions, want)
				}
			}
		}
	}
	if got := sortedKeys(readers); !reflect.DeepEqual(got, sorted(SourceReaders)) {
		t.Errorf("functions that read the source: %v, want %v", got, sorted(SourceReaders))
	}
	if got := sortedKeys(assumers); !reflect.DeepEqual(got, sorted(DestinationAssumers)) {
		t.Errorf("functions that assume destination roles: %v, want %v", got, sorted(DestinationAssumers))
	}
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// TestNag: cdk-nag's AwsSolutions pack reports no error and no warning
// that is not suppressed with a reason.
func TestNag(t *testing.T) {
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml", "testdata/untag.yaml", "testdata/gates.yaml"} {
		b := build(t, cfg)
		all := append([]awscdk.Stack{b.stacks.Source.Stack}, b.stacks.Destinations...)
		for _, st := range all {
			a := assertions.Annotations_FromStack(st)
			any := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for _, m := range *a.FindError(jsii.String("*"), any) {
				t.Errorf("%s: %s: %v", *st.StackName(), *m.Id, m.Entry.Data)
			}
			for _, m := range *a.FindWarning(jsii.String("*"), any) {
				t.Errorf("%s: %s: %v", *st.StackName(), *m.Id, m.Entry.Data)
			}
		}
	}
}

// TestNagCatchesUnsuppressed: the nag check is live (a wildcard without a
// suppression is an error), so TestNag can fail.
func TestNagCatchesUnsuppressed(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	st := awscdk.NewStack(app, jsii.String("Probe"), nil)
	NewDestinationRole(st, "Probe", DestinationRoleProps{
		Role:       AccessRole{Name: "probe", Repositories: []string{"arn:aws:ecr:us-east-1:1:repository/x/*"}},
		Readers:    []string{"arn:aws:iam::1:role/r"},
		Writers:    []string{"arn:aws:iam::1:role/w"},
		ExternalID: "x",
	})
	// A second statement with a wildcard the role's suppression does not name.
	st2 := awscdk.NewStack(app, jsii.String("Probe2"), nil)
	r := NewDestinationRole(st2, "Probe", DestinationRoleProps{
		Role:       AccessRole{Name: "probe", Repositories: []string{"arn:aws:ecr:us-east-1:1:repository/x"}},
		Readers:    []string{"arn:aws:iam::1:role/r"},
		Writers:    []string{"arn:aws:iam::1:role/w"},
		ExternalID: "x",
	})
	r.AddToPrincipalPolicy(registryLoginOn("arn:aws:ecr:us-east-1:1:repository/unlisted/*"))
	awscdk.Aspects_Of(app).Add(newNag(), nil)
	any := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-IAM5.*"))
	if n := len(*assertions.Annotations_FromStack(st).FindError(jsii.String("*"), any)); n != 0 {
		t.Errorf("suppressed role: %d IAM5 errors, want 0", n)
	}
	if n := len(*assertions.Annotations_FromStack(st2).FindError(jsii.String("*"), any)); n == 0 {
		t.Error("unsuppressed wildcard: no IAM5 error")
	}
}

// TestBuildErrors: what stops synth before any template is written.
func TestBuildErrors(t *testing.T) {
	root, _ := ModuleRoot(".")
	cfgPath := exampleConfigPath(t)
	cfg := loadConfig(t, cfgPath)
	badASL := filepath.Join(t.TempDir(), "bad.asl.json")
	asl, _ := os.ReadFile(aslFile(t))
	body := strings.TrimRight(string(asl), "\n ")
	body = strings.TrimSuffix(body, "}") + `, "X": "${Unknown}"}`
	if err := os.WriteFile(badASL, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	badReconcileASL := filepath.Join(t.TempDir(), "reconcile.asl.json")
	asl, _ = os.ReadFile(reconcileASLFile(t))
	body = strings.TrimSuffix(strings.TrimRight(string(asl), "\n "), "}") + `, "X": "${Unknown}"}`
	if err := os.WriteFile(badReconcileASL, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		props   AppProps
		wantErr string
	}{
		{"missing binaries", AppProps{BuildDir: t.TempDir()}, "make build"},
		{"unknown placeholder", AppProps{ASLFile: badASL}, "no substitution for ${Unknown}"},
		{"bad retention", AppProps{LogRetentionDays: 10}, "log retention of 10 days"},
		{"long stack name", AppProps{StackName: strings.Repeat("F", 50)}, "too long"},
		{"map concurrency over the inline Map's 40", AppProps{MaxConcurrency: 41}, "maxConcurrency 41: want 1 to 40"},
		{"map concurrency negative", AppProps{MaxConcurrency: -1}, "maxConcurrency -1: want 1 to 40"},
		{"reconcile concurrency too high", AppProps{ReconcileConcurrency: 10001}, "reconcileConcurrency 10001: want 1 to 10000"},
		{"reconcile concurrency negative", AppProps{ReconcileConcurrency: -1}, "reconcileConcurrency -1: want 1 to 10000"},
		{"unknown reconcile placeholder", AppProps{ReconcileASLFile: badReconcileASL}, "reconcile.asl.json: no substitution for ${Unknown}"},
		{"lag alarm negative", AppProps{LagAlarmMinutes: -1}, "lagAlarmMinutes -1: want 1 to 10080"},
		{"lag alarm over a week", AppProps{LagAlarmMinutes: 10081}, "lagAlarmMinutes 10081: want 1 to 10080"},
		{"concurrency limit negative", AppProps{LambdaConcurrencyLimit: -1}, "lambdaConcurrencyLimit -1"},
	}
	for _, tt := range tests {
		p := tt.props
		p.Config, p.ConfigFile, p.Root, p.StagingDir = cfg, cfgPath, root, t.TempDir()
		if p.BuildDir == "" {
			p.BuildDir = fakeBuildDir(t, FunctionNames)
		}
		if p.ASLFile == "" {
			p.ASLFile = aslFile(t)
		}
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		_, err := Build(app, p)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Build error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestAlarms: failed runs alarm once (RunsFailed, ReconcileRunsFailed);
// every Lambda alarms on errors and throttles, except that Summarize's and
// ReconcileSummary's errors are the failed runs themselves (their
// deliberate ReplicationFailed and ReconcileFailed let Redrive resume
// there).
func TestAlarms(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	names := map[string]bool{}
	for _, r := range resources(b.json["Ferry"], "AWS::CloudWatch::Alarm") {
		if n, ok := props(r)["AlarmName"].(string); ok {
			names[n] = true
		}
	}
	var got []string
	for n := range names {
		got = append(got, n)
	}
	want := []string{"Ferry-RunsFailed", "Ferry-RunsTimedOut", "Ferry-ReconcileRunsFailed", "Ferry-ReconcileRunsTimedOut", "Ferry-UndeliveredEvents",
		"Ferry-ReplicationLag"}
	deliberate := []string{"summarize", "reconcilesummary"}
	for _, f := range FunctionNames {
		if !slices.Contains(deliberate, f) {
			want = append(want, f+"-Errors")
		}
		want = append(want, f+"-Throttles")
	}
	for _, w := range want {
		found := false
		for n := range names {
			if strings.HasSuffix(n, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no alarm named …%s; alarms: %v", w, sorted(got))
		}
	}
	// 4 on runs, 9 on Lambda errors, 11 on throttles, the dead-letter
	// queue and the replication lag.
	if len(want) != 26 || len(names) != len(want) {
		t.Errorf("%d alarms (%v), want these %d: %v", len(names), sorted(got), len(want), sorted(want))
	}
	for n := range names {
		if strings.HasSuffix(n, "summarize-Errors") || strings.HasSuffix(n, "reconcilesummary-Errors") {
			t.Errorf("alarm %s fires on every failed run, which RunsFailed or ReconcileRunsFailed already reports", n)
		}
	}
	// Failed, timed-out and aborted runs of both state machines reach the
	// alerts topic.
	smRefs := []any{
		map[string]any{"Ref": stateMachineID(t, b, "Ferry-replicate")},
		map[string]any{"Ref": stateMachineID(t, b, "Ferry-reconcile")},
	}
	b.templates["Ferry"].HasResourceProperties(jsii.String("AWS::Events::Rule"), &map[string]any{
		"EventPattern": map[string]any{
			"source":      []any{"aws.states"},
			"detail-type": []any{"Step Functions Execution Status Change"},
			"detail": map[string]any{
				"status":          []any{"FAILED", "TIMED_OUT", "ABORTED"},
				"stateMachineArn": smRefs,
			},
		},
	})
}

// stateMachineID is the logical id of the state machine with a name.
func stateMachineID(t *testing.T, b *built, name string) string {
	t.Helper()
	for id, r := range resources(b.json["Ferry"], "AWS::StepFunctions::StateMachine") {
		if props(r)["StateMachineName"] == name {
			return id
		}
	}
	t.Fatalf("no state machine named %s", name)
	return ""
}
