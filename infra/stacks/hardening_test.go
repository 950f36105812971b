package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Every Lambda task of each state machine waits longer than its function
// may run: a state that timed out while its function went on would report a
// failure for a copy that then writes its tag anyway.
func TestTaskTimeoutsOutlastTheirFunctions(t *testing.T) {
	for _, tc := range []struct {
		asl       string
		functions []string
		// known are the states known to wait no longer than their
		// function, by name: each must still be short, so that the list
		// goes once the definition is fixed.
		known map[string]bool
	}{
		{asl: aslFile(t), functions: ReplicateFunctions},
		{asl: reconcileASLFile(t), functions: ReconcileFunctions},
	} {
		b, err := os.ReadFile(tc.asl)
		if err != nil {
			t.Fatal(err)
		}
		asl := strings.NewReplacer("${"+PlaceholderApprovalTimeout+"}", "86400", "${"+PlaceholderMaxConcurrency+"}", "10",
			"${"+PlaceholderReconcileConcurrency+"}", "10").Replace(string(b))
		var def struct{ States map[string]json.RawMessage }
		if err := json.Unmarshal([]byte(asl), &def); err != nil {
			t.Fatalf("%s: %v", tc.asl, err)
		}
		checked := map[string]bool{}
		var walk func(states map[string]json.RawMessage)
		walk = func(states map[string]json.RawMessage) {
			for name, raw := range states {
				var st struct {
					Type           string
					TimeoutSeconds int
					Parameters     struct{ FunctionName string }
					ItemProcessor  *struct{ States map[string]json.RawMessage }
					Iterator       *struct{ States map[string]json.RawMessage }
				}
				if err := json.Unmarshal(raw, &st); err != nil {
					t.Fatalf("%s: state %q: %v", tc.asl, name, err)
				}
				if st.ItemProcessor != nil {
					walk(st.ItemProcessor.States)
				}
				if st.Iterator != nil {
					walk(st.Iterator.States)
				}
				ph := strings.TrimSuffix(strings.TrimPrefix(st.Parameters.FunctionName, "${"), "}")
				fn, ok := FunctionForPlaceholder(ph)
				if st.Type != "Task" || !ok {
					continue
				}
				checked[fn] = true
				limit := FunctionSpecs[fn].Timeout
				got := time.Duration(st.TimeoutSeconds) * time.Second
				switch {
				case got <= limit && !tc.known[name]:
					t.Errorf("%s: state %q waits %s for the %s function, which may run %s: want longer", tc.asl, name, got, fn, limit)
				case got > limit && tc.known[name]:
					t.Errorf("%s: state %q now outlasts its function: take it off the known list", tc.asl, name)
				}
			}
		}
		walk(def.States)
		for _, fn := range tc.functions {
			if !checked[fn] {
				t.Errorf("%s: no Lambda task of the %s function checked", tc.asl, fn)
			}
		}
	}
}

// No resource policy grants an AWS service without a condition that ties
// it to this account or resource: "events.amazonaws.com may publish" alone
// would let any account's EventBridge rule publish to Ferry's topics.
func TestServiceGrantsAreConditioned(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	policies := map[string]string{"AWS::KMS::Key": "KeyPolicy", "AWS::SNS::TopicPolicy": "PolicyDocument", "AWS::SQS::QueuePolicy": "PolicyDocument"}
	checked := 0
	for stack, tmpl := range b.json {
		for typ, field := range policies {
			for id, r := range resources(tmpl, typ) {
				doc, _ := props(r)[field].(map[string]any)
				stmts, _ := doc["Statement"].([]any)
				for _, s := range stmts {
					st := s.(map[string]any)
					p, _ := st["Principal"].(map[string]any)
					if _, ok := p["Service"]; !ok || st["Effect"] != "Allow" {
						continue
					}
					checked++
					if st["Condition"] == nil {
						t.Errorf("%s/%s grants %v %v with no condition", stack, id, p["Service"], st["Action"])
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no service grant found: the test looks in the wrong place")
	}
}

// buildWith synthesizes the example configuration's app with some props
// changed: the source stack's template as JSON, and the stack.
func buildWith(t *testing.T, change func(*AppProps)) (map[string]any, *SourceStack) {
	t.Helper()
	root, _ := ModuleRoot(".")
	cfgPath := exampleConfigPath(t)
	p := AppProps{
		Config: loadConfig(t, cfgPath), ConfigFile: cfgPath, Root: root,
		BuildDir: fakeBuildDir(t, FunctionNames), StagingDir: t.TempDir(), ASLFile: aslFile(t),
	}
	change(&p)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	s, err := Build(app, p)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return *assertions.Template_FromStack(s.Source.Stack, nil).ToJSON(), s.Source
}

// onlyResource is the one resource of a type that satisfies keep.
func onlyResource(t *testing.T, tmpl map[string]any, typ string, keep func(id string, props map[string]any) bool) (string, map[string]any) {
	t.Helper()
	var ids []string
	var found map[string]any
	for id, r := range resources(tmpl, typ) {
		if keep(id, props(r)) {
			ids = append(ids, id)
			found = props(r)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d %s resources found (%v), want 1", len(ids), typ, ids)
	}
	return ids[0], found
}

// alarmARNs are the ARNs of every alarm in a template, from their names.
func alarmARNs(t *testing.T, tmpl map[string]any) []string {
	t.Helper()
	var out []string
	for id, r := range resources(tmpl, "AWS::CloudWatch::Alarm") {
		name, ok := props(r)["AlarmName"].(string)
		if !ok {
			t.Fatalf("alarm %s has no fixed name, so the alerts topic's policy cannot name it", id)
		}
		out = append(out, "arn:aws:cloudwatch:us-east-1:111111111111:alarm:"+name)
	}
	slices.Sort(out)
	return out
}

// TestAlertsTopicPolicy: CloudWatch may publish to the alerts topic for
// the stack's own alarms, every one of them and no other, in the stack's
// account; publishing without TLS is still denied.
func TestAlertsTopicPolicy(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	topicID, _ := onlyResource(t, tmpl, "AWS::SNS::Topic", func(_ string, p map[string]any) bool { return p["DisplayName"] == "Ferry alerts" })
	_, policy := onlyResource(t, tmpl, "AWS::SNS::TopicPolicy", func(_ string, p map[string]any) bool {
		return fmt.Sprint(p["Topics"]) == fmt.Sprint([]any{map[string]any{"Ref": topicID}})
	})
	arns := alarmARNs(t, tmpl)
	if len(arns) < 20 {
		t.Fatalf("only %d alarms", len(arns))
	}
	wantAllow := map[string]any{
		"Sid":       "AllowFerryAlarms",
		"Effect":    "Allow",
		"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
		"Action":    "sns:Publish",
		"Resource":  map[string]any{"Ref": topicID},
		"Condition": map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": "111111111111"},
			"ArnEquals":    map[string]any{"aws:SourceArn": toAny(arns)},
		},
	}
	var allow, deny int
	for _, s := range policy["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		st := s.(map[string]any)
		switch st["Effect"] {
		case "Allow":
			allow++
			got := normalized(t, st)
			// The alarms' order in the policy is the order they are made.
			cond := got.(map[string]any)["Condition"].(map[string]any)["ArnEquals"].(map[string]any)
			listed := strs(cond["aws:SourceArn"])
			slices.Sort(listed)
			cond["aws:SourceArn"] = toAny(listed)
			if !reflect.DeepEqual(got, normalized(t, wantAllow)) {
				t.Errorf("alerts topic allows\n %v\nwant\n %v", got, normalized(t, wantAllow))
			}
		case "Deny":
			deny++
			if st["Sid"] != "AllowPublishThroughSSLOnly" || fmt.Sprint(st["Condition"]) != fmt.Sprint(map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
				t.Errorf("alerts topic's Deny is %v, want publishing without TLS denied", st)
			}
		}
	}
	if allow != 1 || deny != 1 {
		t.Errorf("alerts topic policy has %d Allow and %d Deny statements, want 1 each", allow, deny)
	}
}

// TestServiceTrusts: a role that an AWS service assumes names the account
// and the very resources that may use it (aws:SourceAccount,
// aws:SourceArn): each state machine's role only its state machine, each
// EventBridge role only the rules that use it, the schedule's role only the
// schedule. The Lambda execution roles are the documented exception (see
// NewFunctions).
func TestServiceTrusts(t *testing.T) {
	for _, cfg := range []string{exampleConfigPath(t), "testdata/untag.yaml"} {
		b := build(t, cfg)
		tmpl := b.json["Ferry"]
		// Which resources use each role, by the ARN they give the trust.
		users := map[string][]string{} // role logical id -> source ARNs
		getAtt := func(v any) string {
			ga, _ := v.(map[string]any)["Fn::GetAtt"].([]any)
			if len(ga) == 2 && ga[1] == "Arn" {
				return ga[0].(string)
			}
			return ""
		}
		for _, r := range resources(tmpl, "AWS::StepFunctions::StateMachine") {
			p := props(r)
			users[getAtt(p["RoleArn"])] = append(users[getAtt(p["RoleArn"])], StateMachineARN("111111111111", "us-east-1", p["StateMachineName"].(string)))
		}
		for id, r := range resources(tmpl, "AWS::Events::Rule") {
			p := props(r)
			name, ok := p["Name"].(string)
			if !ok {
				t.Fatalf("%s: rule %s has no fixed name, so its role's trust cannot name it", cfg, id)
			}
			for _, target := range p["Targets"].([]any) {
				if role := getAtt(target.(map[string]any)["RoleArn"]); role != "" {
					users[role] = append(users[role], EventRuleARN("111111111111", "us-east-1", name))
				}
			}
		}
		for _, r := range resources(tmpl, "AWS::Scheduler::Schedule") {
			p := props(r)
			role := getAtt(p["Target"].(map[string]any)["RoleArn"])
			users[role] = append(users[role], "arn:aws:scheduler:us-east-1:111111111111:schedule/default/"+p["Name"].(string))
		}
		checked := map[string]int{}
		for id, r := range resources(tmpl, "AWS::IAM::Role") {
			for _, s := range props(r)["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				service, _ := st["Principal"].(map[string]any)["Service"].(string)
				if service == "" {
					continue
				}
				checked[service]++
				cond, _ := st["Condition"].(map[string]any)
				if service == "lambda.amazonaws.com" {
					if cond != nil {
						t.Errorf("%s: Lambda execution role %s has trust conditions %v; Lambda does not document setting them (see NewFunctions)", cfg, id, cond)
					}
					continue
				}
				if got := fmt.Sprint(cond["StringEquals"]); got != fmt.Sprint(map[string]any{"aws:SourceAccount": "111111111111"}) {
					t.Errorf("%s: role %s (%s): aws:SourceAccount condition %s, want the stack's account", cfg, id, service, got)
				}
				var arns []string
				for _, op := range []string{"ArnEquals", "ArnLike"} {
					if m, ok := cond[op].(map[string]any); ok {
						arns = append(arns, strs(m["aws:SourceArn"])...)
					}
				}
				want := users[id]
				slices.Sort(arns)
				slices.Sort(want)
				if len(want) == 0 || !reflect.DeepEqual(arns, want) {
					t.Errorf("%s: role %s (%s) trusts aws:SourceArn %v, want exactly those of what uses it, %v", cfg, id, service, arns, want)
				}
			}
		}
		for _, s := range []string{"lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com", "scheduler.amazonaws.com"} {
			if checked[s] == 0 {
				t.Errorf("%s: no role trusts %s: the test looks in the wrong place", cfg, s)
			}
		}
		if checked["events.amazonaws.com"] != 2 || checked["states.amazonaws.com"] != 2 {
			t.Errorf("%s: %d EventBridge and %d Step Functions roles, want 2 each (triggers and failed runs; replicate and reconcile)",
				cfg, checked["events.amazonaws.com"], checked["states.amazonaws.com"])
		}
	}
}

// TestLogGroupsEncrypted: every log group is encrypted with the stack's
// key, whose policy lets CloudWatch Logs in the region use it for exactly
// those log groups.
func TestLogGroupsEncrypted(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	tmpl := b.json["Ferry"]
	keyID, key := onlyResource(t, tmpl, "AWS::KMS::Key", func(string, map[string]any) bool { return true })
	var want []string
	for id, r := range resources(tmpl, "AWS::Logs::LogGroup") {
		p := props(r)
		if fmt.Sprint(p["KmsKeyId"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}}) {
			t.Errorf("log group %s (%v) is encrypted with %v, want the stack's key %s", id, p["LogGroupName"], p["KmsKeyId"], keyID)
		}
		want = append(want, LogGroupARN("111111111111", "us-east-1", p["LogGroupName"].(string)))
	}
	if len(want) != len(FunctionNames)+2 {
		t.Errorf("%d log groups, want one per function and per state machine", len(want))
	}
	found := 0
	for _, s := range key["KeyPolicy"].(map[string]any)["Statement"].([]any) {
		st := s.(map[string]any)
		if fmt.Sprint(st["Principal"]) != fmt.Sprint(map[string]any{"Service": "logs.us-east-1.amazonaws.com"}) {
			continue
		}
		found++
		got := strs(st["Condition"].(map[string]any)["ArnEquals"].(map[string]any)["kms:EncryptionContext:aws:logs:arn"])
		slices.Sort(got)
		slices.Sort(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CloudWatch Logs may use the key for\n %v\nwant the log groups\n %v", got, want)
		}
		for _, a := range strs(st["Action"]) {
			if strings.ContainsAny(a, "*") || !strings.HasPrefix(a, "kms:") {
				t.Errorf("CloudWatch Logs is allowed %q", a)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d key policy statements for logs.us-east-1.amazonaws.com, want 1", found)
	}
}

func TestReservedConcurrencyPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		limit    int
		want     map[string]int
		wantWarn bool
	}{
		{"new account at 10", 10, nil, true},
		{"just short", MinUnreservedConcurrency + CallbackConcurrency - 1, nil, true},
		{"just enough", MinUnreservedConcurrency + CallbackConcurrency, map[string]int{FnApprovalCallback: CallbackConcurrency}, false},
		{"default", DefaultLambdaConcurrencyLimit, map[string]int{FnApprovalCallback: CallbackConcurrency}, false},
	}
	for _, tt := range tests {
		got, warning := ReservedConcurrency(tt.limit)
		if !reflect.DeepEqual(got, tt.want) || (warning != "") != tt.wantWarn {
			t.Errorf("%s: ReservedConcurrency(%d) = %v, %q; want %v, warning %v", tt.name, tt.limit, got, warning, tt.want, tt.wantWarn)
		}
		if tt.wantWarn && !strings.Contains(warning, "L-B99A9384") {
			t.Errorf("%s: warning %q does not say which quota to raise", tt.name, warning)
		}
	}
}

// TestReservedConcurrency: the approval callback, behind a Function URL
// anyone can call, reserves CallbackConcurrency (which also caps it); no
// other function reserves any. In an account whose limit leaves nothing
// to reserve, none does, so the stack still deploys, and synth warns.
func TestReservedConcurrency(t *testing.T) {
	reservedBy := func(tmpl map[string]any) map[string]any {
		out := map[string]any{}
		for _, r := range resources(tmpl, "AWS::Lambda::Function") {
			p := props(r)
			if n, ok := p["ReservedConcurrentExecutions"]; ok {
				out[strings.TrimPrefix(p["FunctionName"].(string), "Ferry-")] = n
			}
		}
		return out
	}
	b := build(t, exampleConfigPath(t))
	if got, want := reservedBy(b.json["Ferry"]), map[string]any{FnApprovalCallback: float64(CallbackConcurrency)}; !reflect.DeepEqual(got, want) {
		t.Errorf("reserved concurrency %v, want %v", got, want)
	}
	warnings := func(s *SourceStack) []string {
		var out []string
		for _, m := range *assertions.Annotations_FromStack(s.Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(".*Concurrent executions.*"))) {
			out = append(out, fmt.Sprint(m.Entry.Data))
		}
		return out
	}
	if w := warnings(b.stacks.Source); len(w) != 0 {
		t.Errorf("warnings at the default limit: %v", w)
	}
	tmpl, src := buildWith(t, func(p *AppProps) { p.LambdaConcurrencyLimit = 10 })
	if got := reservedBy(tmpl); len(got) != 0 {
		t.Errorf("limit 10: reserved concurrency %v, want none (Lambda would refuse it)", got)
	}
	if w := warnings(src); len(w) != 1 {
		t.Errorf("limit 10: warnings %v, want one saying the callback is not capped", w)
	}
}

func TestEventRuleName(t *testing.T) {
	t.Parallel()
	if got := EventRuleName("Ferry", "push-releases"); got != "Ferry-push-releases" {
		t.Errorf("EventRuleName = %q, want Ferry-push-releases", got)
	}
	long := strings.Repeat("r", 60)
	a, b := EventRuleName("Ferry", "push-"+long+"-a"), EventRuleName("Ferry", "push-"+long+"-b")
	for _, n := range []string{a, b} {
		if len(n) > maxRuleName || !strings.HasPrefix(n, "Ferry-push-rrr") {
			t.Errorf("EventRuleName of a long rule = %q (%d characters), want at most %d starting with the stack's name", n, len(n), maxRuleName)
		}
	}
	if a == b {
		t.Errorf("two long rules share the name %q", a)
	}
}
