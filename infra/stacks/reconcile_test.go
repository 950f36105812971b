package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// These tests check the reconcile in the synthesized source stack: its
// schedule, its state machine (a Distributed Map with every placeholder
// filled), its bucket and the least privilege of everything around it.

// flatten renders a CloudFormation value as cdk-nag does: a string as it
// is, {"Fn::GetAtt": [id, attr]} as <id.attr>, {"Ref": id} as <id>, and
// an Fn::Join as the joined parts.
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprintf("<%v.%v>", ga[0], ga[1])
		}
		if ref, ok := v["Ref"]; ok {
			return fmt.Sprintf("<%v>", ref)
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, flatten(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// grants lists the statements as "action on resource", one per pair,
// sorted; a statement that is not a plain Allow is listed as such.
func grants(sts []map[string]any) []string {
	var out []string
	for _, s := range sts {
		if s["Effect"] != "Allow" || s["Condition"] != nil || s["NotAction"] != nil || s["NotResource"] != nil {
			b, _ := json.Marshal(s)
			out = append(out, "not a plain Allow: "+string(b))
			continue
		}
		var res []string
		switch r := s["Resource"].(type) {
		case []any:
			for _, x := range r {
				res = append(res, flatten(x))
			}
		default:
			res = []string{flatten(r)}
		}
		for _, a := range strs(s["Action"]) {
			for _, r := range res {
				out = append(out, a+" on "+r)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// roleStatements returns the statements of a role's inline policies and of
// the policies attached to it.
func roleStatements(tmpl map[string]any, roleID string) []map[string]any {
	var out []map[string]any
	add := func(doc any) {
		d, _ := doc.(map[string]any)
		for _, s := range d["Statement"].([]any) {
			out = append(out, s.(map[string]any))
		}
	}
	if r, ok := resources(tmpl, "AWS::IAM::Role")[roleID]; ok {
		ps, _ := props(r)["Policies"].([]any)
		for _, p := range ps {
			add(p.(map[string]any)["PolicyDocument"])
		}
	}
	for _, r := range resources(tmpl, "AWS::IAM::Policy") {
		for _, role := range props(r)["Roles"].([]any) {
			if role.(map[string]any)["Ref"] == roleID {
				add(props(r)["PolicyDocument"])
			}
		}
	}
	return out
}

// functionRoleID is the logical id of a function's fixed-name role.
func functionRoleID(t *testing.T, tmpl map[string]any, fn string) string {
	t.Helper()
	for id, r := range resources(tmpl, "AWS::IAM::Role") {
		if props(r)["RoleName"] == "Ferry-us-east-1-"+fn {
			return id
		}
	}
	t.Fatalf("no role for function %s", fn)
	return ""
}

// onlyID returns the logical id of the one resource of a type, or of the
// one whose property key equals value.
func onlyID(t *testing.T, tmpl map[string]any, typ, key string, value any) string {
	t.Helper()
	var ids []string
	for id, r := range resources(tmpl, typ) {
		if key == "" || props(r)[key] == value {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d %s resources with %s = %v, want 1: %v", len(ids), typ, key, value, ids)
	}
	return ids[0]
}

func diffGrants(t *testing.T, who string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	var extra, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(extra)+len(missing) > 0 {
		t.Errorf("%s:\n  granted beyond what it needs: %q\n  missing: %q", who, extra, missing)
	}
}

// each pairs every action with every resource.
func each(actions []string, resources ...string) []string {
	var out []string
	for _, a := range actions {
		for _, r := range resources {
			out = append(out, a+" on "+r)
		}
	}
	return out
}

// offConfig is ferry.example.yaml with the reconcile schedule off.
func offConfig(t *testing.T) string {
	t.Helper()
	example, err := os.ReadFile(exampleConfigPath(t))
	if err != nil {
		t.Fatal(err)
	}
	const on = "  schedule: rate(1 day)\n"
	if !strings.Contains(string(example), on) {
		t.Fatalf("ferry.example.yaml has no %q to turn off", on)
	}
	path := filepath.Join(shared, "reconcile-off.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(example), on, "  schedule: off\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReconcileSchedule: the schedule starts the reconcile state machine on
// the configured expression, with {}; with "off" there is no schedule, and
// the state machine is still there to be started by hand.
func TestReconcileSchedule(t *testing.T) {
	for _, tc := range []struct {
		config, region, want string
	}{
		{exampleConfigPath(t), "us-east-1", "rate(1 day)"},
		{"testdata/edge.yaml", "eu-west-1", "cron(30 2 ? * MON-FRI *)"},
	} {
		b := build(t, tc.config)
		tmpl := b.json["Ferry"]
		schedules := resources(tmpl, "AWS::Scheduler::Schedule")
		if len(schedules) != 1 {
			t.Fatalf("%s: %d schedules, want 1", tc.config, len(schedules))
		}
		sm := stateMachineID(t, b, "Ferry-reconcile")
		for _, r := range schedules {
			p := props(r)
			target := p["Target"].(map[string]any)
			if p["Name"] != "Ferry-reconcile" || p["ScheduleExpression"] != tc.want || p["ScheduleExpressionTimezone"] != "UTC" ||
				p["State"] != "ENABLED" || flatten(p["FlexibleTimeWindow"]) != `{"Mode":"OFF"}` {
				t.Errorf("%s: schedule %v, want Ferry-reconcile on %s in UTC, enabled, no flexible window", tc.config, p, tc.want)
			}
			if flatten(target["Arn"]) != "<"+sm+">" || target["Input"] != "{}" {
				t.Errorf("%s: schedule target %v, want the reconcile state machine (%s) with input {}", tc.config, target, sm)
			}
			retry, _ := target["RetryPolicy"].(map[string]any)
			if retry["MaximumRetryAttempts"] != float64(DefaultScheduleRetryAttempts) || retry["MaximumEventAgeInSeconds"] != DefaultScheduleMaxEventAge.Seconds() {
				t.Errorf("%s: retry policy %v", tc.config, retry)
			}
			dlq := "<" + onlyID(t, tmpl, "AWS::SQS::Queue", "", nil) + ".Arn>"
			if flatten(target["DeadLetterConfig"].(map[string]any)["Arn"]) != dlq {
				t.Errorf("%s: schedule dead letters go to %v, want the dead-letter queue", tc.config, target["DeadLetterConfig"])
			}

			// Its role: only EventBridge Scheduler, only for this schedule,
			// and it may only start the reconcile (and dead-letter).
			roleID := strings.TrimSuffix(strings.TrimPrefix(flatten(target["RoleArn"]), "<"), ".Arn>")
			role := props(resources(tmpl, "AWS::IAM::Role")[roleID])
			trust := role["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
			wantTrust := map[string]any{
				"Action":    "sts:AssumeRole",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
				"Condition": map[string]any{
					"StringEquals": map[string]any{"aws:SourceAccount": "111111111111"},
					"ArnEquals":    map[string]any{"aws:SourceArn": "arn:aws:scheduler:" + tc.region + ":111111111111:schedule/default/Ferry-reconcile"},
				},
			}
			if len(trust) != 1 || flatten(trust[0]) != flatten(wantTrust) {
				t.Errorf("%s: schedule role trust %v, want %v", tc.config, trust, wantTrust)
			}
			key := "<" + onlyID(t, tmpl, "AWS::KMS::Key", "", nil) + ".Arn>"
			diffGrants(t, tc.config+": schedule role", grants(roleStatements(tmpl, roleID)), []string{
				"states:StartExecution on <" + sm + ">",
				"sqs:SendMessage on " + dlq,
				"kms:Decrypt on " + key, "kms:GenerateDataKey on " + key,
			})
		}
	}

	b := build(t, offConfig(t))
	if n := len(resources(b.json["Ferry"], "AWS::Scheduler::Schedule")); n != 0 {
		t.Errorf("schedule: off: %d schedules, want none", n)
	}
	stateMachineID(t, b, "Ferry-reconcile")
}

// TestReconcileDefinition: the reconcile state machine is reconcile.asl.json
// as written, every placeholder filled (each function's with its ARN); once
// filled, its jobs Map is a Distributed Map that reads its items from and
// writes its results to S3, and runs ${ReconcileConcurrency} at once.
func TestReconcileDefinition(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	sm := props(resources(tmpl, "AWS::StepFunctions::StateMachine")[stateMachineID(t, b, "Ferry-reconcile")])
	asl, err := os.ReadFile(reconcileASLFile(t))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := sm["DefinitionString"].(string)
	if def != string(asl) {
		t.Fatalf("DefinitionString is not %s as written", reconcileASLFile(t))
	}
	if sm["StateMachineType"] != "STANDARD" || flatten(sm["TracingConfiguration"]) != `{"Enabled":true}` {
		t.Errorf("reconcile state machine: type %v, tracing %v; want STANDARD, traced", sm["StateMachineType"], sm["TracingConfiguration"])
	}
	logging, _ := sm["LoggingConfiguration"].(map[string]any)
	if logging["Level"] != "ALL" || logging["IncludeExecutionData"] != false {
		t.Errorf("reconcile logging %v, want every event without execution data", logging)
	}
	subs := sm["DefinitionSubstitutions"].(map[string]any)
	fnByID := map[string]string{}
	for id, r := range resources(tmpl, "AWS::Lambda::Function") {
		fnByID[id] = strings.TrimPrefix(props(r)["FunctionName"].(string), "Ferry-")
	}
	used := Placeholders(def)
	want := []string{"ApprovalRequestFunctionArn", "ApprovalTimeoutSeconds", "AssumeRoleFunctionArn", "CopyImageFunctionArn",
		"DiscoverFunctionArn", "EnsureRepositoryFunctionArn", "ReconcileConcurrency", "ReconcileSummaryFunctionArn", "VerifyFunctionArn"}
	if !slices.Equal(used, want) || !slices.Equal(sortedKeys(subs), want) {
		t.Errorf("placeholders %v, substitutions %v; want both %v", used, sortedKeys(subs), want)
	}
	filled := def
	for ph, v := range subs {
		value := ""
		switch v := v.(type) {
		case string:
			value = v
		case map[string]any:
			ga, _ := v["Fn::GetAtt"].([]any)
			fn, ok := FunctionForPlaceholder(ph)
			if len(ga) != 2 || ga[1] != "Arn" || !ok || fnByID[ga[0].(string)] != fn {
				t.Errorf("${%s} = %v, want the ARN of its function", ph, v)
				continue
			}
			value = "arn:aws:lambda:us-east-1:111111111111:function:Ferry-" + fn
		}
		filled = strings.ReplaceAll(filled, "${"+ph+"}", value)
	}
	if subs[PlaceholderReconcileConcurrency] != "10" || subs[PlaceholderApprovalTimeout] != "86400" {
		t.Errorf("ReconcileConcurrency = %v, ApprovalTimeoutSeconds = %v; want the defaults 10 and 86400",
			subs[PlaceholderReconcileConcurrency], subs[PlaceholderApprovalTimeout])
	}
	if left := regexp.MustCompile(`\$\{[^}]*\}`).FindAllString(filled, -1); len(left) > 0 {
		t.Fatalf("placeholders left once filled: %v", left)
	}
	var machine struct {
		States map[string]struct {
			Type           string
			MaxConcurrency any
			ItemReader     *struct{ Resource string }
			ResultWriter   *struct{ Resource string }
			ItemProcessor  *struct {
				ProcessorConfig struct{ Mode, ExecutionType string }
			}
		}
	}
	if err := json.Unmarshal([]byte(filled), &machine); err != nil {
		t.Fatalf("the filled definition is not JSON: %v", err)
	}
	var distributed []string
	for name, st := range machine.States {
		if st.Type != "Map" || st.ItemProcessor == nil || st.ItemProcessor.ProcessorConfig.Mode != "DISTRIBUTED" {
			continue
		}
		distributed = append(distributed, name)
		if st.MaxConcurrency != float64(DefaultReconcileConcurrency) || st.ItemProcessor.ProcessorConfig.ExecutionType != "STANDARD" ||
			st.ItemReader == nil || st.ItemReader.Resource != "arn:aws:states:::s3:getObject" ||
			st.ResultWriter == nil || st.ResultWriter.Resource != "arn:aws:states:::s3:putObject" {
			t.Errorf("Map %q: MaxConcurrency %v, children %s, reader %+v, writer %+v; want 10 STANDARD children read from and written to S3",
				name, st.MaxConcurrency, st.ItemProcessor.ProcessorConfig.ExecutionType, st.ItemReader, st.ResultWriter)
		}
	}
	if len(distributed) != 1 {
		t.Errorf("Distributed Maps %v, want one (the jobs)", distributed)
	}
}

// TestReconcileFunctionPolicies: Discover and ReconcileSummary hold exactly
// what they need: no ECR write or image read, no S3 wildcard action, no
// object outside runs/, nothing on the bucket itself.
func TestReconcileFunctionPolicies(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	runs := "<" + onlyID(t, tmpl, "AWS::S3::Bucket", "", nil) + ".Arn>/runs/*"
	logs := func(fn string) string {
		return "<" + onlyID(t, tmpl, "AWS::Logs::LogGroup", "LogGroupName", "/aws/lambda/Ferry-"+fn) + ".Arn>"
	}
	base := func(fn string) []string {
		return append(each([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, logs(fn)),
			each([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*")...)
	}
	discover := base(FnDiscover)
	discover = append(discover, each([]string{"ecr:DescribeImages"},
		"arn:aws:ecr:us-east-1:111111111111:repository/team/*", "arn:aws:ecr:us-east-1:111111111111:repository/tools/*")...)
	discover = append(discover, "ecr:DescribeRepositories on arn:aws:ecr:us-east-1:111111111111:repository/*")
	discover = append(discover, each([]string{"sts:AssumeRole", "sts:TagSession"},
		"arn:aws:iam::222222222222:role/ferry-replication", "arn:aws:iam::333333333333:role/ferry-replication",
		"arn:aws:iam::444444444444:role/ferry-replication")...)
	discover = append(discover, each([]string{"s3:GetObject", "s3:PutObject"}, runs)...)
	diffGrants(t, "discover", grants(roleStatements(tmpl, functionRoleID(t, tmpl, FnDiscover))), discover)

	summary := append(base(FnReconcileSummarize), each([]string{"s3:GetObject", "s3:PutObject"}, runs)...)
	diffGrants(t, "reconcilesummary", grants(roleStatements(tmpl, functionRoleID(t, tmpl, FnReconcileSummarize))), summary)

	// Both are told the bucket.
	bucket := onlyID(t, tmpl, "AWS::S3::Bucket", "", nil)
	for _, fn := range []string{FnDiscover, FnReconcileSummarize} {
		f := props(resources(tmpl, "AWS::Lambda::Function")[onlyID(t, tmpl, "AWS::Lambda::Function", "FunctionName", "Ferry-"+fn)])
		env := f["Environment"].(map[string]any)["Variables"].(map[string]any)
		if flatten(env[workflow.EnvReconcileBucket]) != "<"+bucket+">" {
			t.Errorf("%s: %s = %v, want the reconcile bucket", fn, workflow.EnvReconcileBucket, env[workflow.EnvReconcileBucket])
		}
		if f["MemorySize"] != float64(FunctionSpecs[fn].MemoryMB) || f["Timeout"] != FunctionSpecs[fn].Timeout.Seconds() {
			t.Errorf("%s: %v MB, %v s; want %d MB, %v", fn, f["MemorySize"], f["Timeout"], FunctionSpecs[fn].MemoryMB, FunctionSpecs[fn].Timeout)
		}
	}
	if FunctionSpecs[FnDiscover].MemoryMB != 1024 || FunctionSpecs[FnDiscover].Timeout.Minutes() != 15 ||
		FunctionSpecs[FnReconcileSummarize].MemoryMB != 512 || FunctionSpecs[FnReconcileSummarize].Timeout.Minutes() != 5 {
		t.Errorf("discover %+v, reconcilesummary %+v; want 1024 MB for 15 minutes, 512 MB for 5", FunctionSpecs[FnDiscover], FunctionSpecs[FnReconcileSummarize])
	}
}

// TestReconcileStateMachineRole: the reconcile's role may invoke its
// functions, run its Distributed Map (its own child executions) and read
// and write runs/ objects; "*" only for log delivery and X-Ray, which have
// no resource-level permissions.
func TestReconcileStateMachineRole(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	sm := props(resources(tmpl, "AWS::StepFunctions::StateMachine")[stateMachineID(t, b, "Ferry-reconcile")])
	roleID := strings.TrimSuffix(strings.TrimPrefix(flatten(sm["RoleArn"]), "<"), ".Arn>")
	runs := "<" + onlyID(t, tmpl, "AWS::S3::Bucket", "", nil) + ".Arn>/runs/*"
	want := each([]string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
		"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
		"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}, "*")
	for _, fn := range ReconcileFunctions {
		want = append(want, "lambda:InvokeFunction on <"+onlyID(t, tmpl, "AWS::Lambda::Function", "FunctionName", "Ferry-"+fn)+".Arn>")
	}
	want = append(want,
		"states:StartExecution on arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-reconcile",
		"states:DescribeExecution on arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile:*",
		"states:StopExecution on arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile:*",
		"states:RedriveExecution on arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile/*:*",
	)
	want = append(want, each([]string{"s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"}, runs)...)
	got := grants(roleStatements(tmpl, roleID))
	diffGrants(t, "reconcile state machine role", got, want)
	for _, g := range got {
		if strings.HasSuffix(g, " on *") && !strings.HasPrefix(g, "logs:") && !strings.HasPrefix(g, "xray:") {
			t.Errorf("reconcile state machine role: %s", g)
		}
	}
}

// TestReconcileBucket: private, encrypted, TLS only, runs expire, and it
// goes with the stack.
func TestReconcileBucket(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	id := onlyID(t, tmpl, "AWS::S3::Bucket", "", nil)
	r := resources(tmpl, "AWS::S3::Bucket")[id]
	p := props(r)
	if r["DeletionPolicy"] != "Delete" {
		t.Errorf("bucket DeletionPolicy %v, want Delete", r["DeletionPolicy"])
	}
	if got := flatten(p["PublicAccessBlockConfiguration"]); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
		t.Errorf("public access block %s, want all blocked", got)
	}
	if got := flatten(p["BucketEncryption"]); !strings.Contains(got, `"SSEAlgorithm":"AES256"`) {
		t.Errorf("bucket encryption %s, want SSE-S3", got)
	}
	rules, _ := p["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)
	want := `{"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1},"ExpirationInDays":30,"Id":"ExpireRuns","Prefix":"runs/","Status":"Enabled"}`
	if len(rules) != 1 || flatten(rules[0]) != want {
		t.Errorf("lifecycle rules %v, want %s", rules, want)
	}
	var tls bool
	for _, bp := range resources(tmpl, "AWS::S3::BucketPolicy") {
		if flatten(props(bp)["Bucket"]) != "<"+id+">" {
			continue
		}
		for _, s := range props(bp)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := s.(map[string]any)
			if s["Effect"] == "Deny" && s["Action"] == "s3:*" && flatten(s["Principal"]) == `{"AWS":"*"}` &&
				flatten(s["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` &&
				slices.Equal(strs(s["Resource"]), []string{`{"Fn::GetAtt":["` + id + `","Arn"]}`, `{"Fn::Join":["",[{"Fn::GetAtt":["` + id + `","Arn"]},"/*"]]}`}) {
				tls = true
			}
			if s["Effect"] == "Allow" {
				t.Errorf("the bucket policy allows %v: access is by the roles' own policies only", s)
			}
		}
	}
	if !tls {
		t.Error("no bucket policy denies requests without TLS on the bucket and its objects")
	}
}

// TestApprovalAnswersBothMachines: the approval callback may answer the
// task tokens of both state machines, and nothing else of Step Functions.
func TestApprovalAnswersBothMachines(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	var states []string
	for _, g := range grants(roleStatements(tmpl, functionRoleID(t, tmpl, FnApprovalCallback))) {
		if strings.HasPrefix(g, "states:") {
			states = append(states, g)
		}
	}
	diffGrants(t, "approvalcallback", states, []string{
		"states:SendTaskFailure on arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-reconcile",
		"states:SendTaskFailure on arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-replicate",
		"states:SendTaskSuccess on arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-reconcile",
		"states:SendTaskSuccess on arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-replicate",
	})
}

// TestReconcileOutputs: the reconcile's state machine and bucket are named
// in the stack's outputs.
func TestReconcileOutputs(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	outputs := tmpl["Outputs"].(map[string]any)
	for name, want := range map[string]string{
		"ReconcileStateMachineArn": "<" + stateMachineID(t, b, "Ferry-reconcile") + ">",
		"ReconcileBucketName":      "<" + onlyID(t, tmpl, "AWS::S3::Bucket", "", nil) + ">",
	} {
		o, _ := outputs[name].(map[string]any)
		if got := flatten(o["Value"]); got != want {
			t.Errorf("output %s = %s, want %s", name, got, want)
		}
	}
}

// TestFunctionNamesMatchHandlers: every Lambda the stack deploys is one the
// workflow package has a handler for, and the other way round (the names
// are the asset directories and the local runner's function names).
func TestFunctionNamesMatchHandlers(t *testing.T) {
	t.Parallel()
	if got, want := sorted(FunctionNames), sorted(workflow.Functions); !slices.Equal(got, want) {
		t.Errorf("stacks.FunctionNames %v, workflow.Functions %v: want the same", got, want)
	}
}
