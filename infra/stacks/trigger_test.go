package stacks

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// These tests build the app with CDK and check the triggers other than the
// push rules (referrers, deletes) and what the deletes need in IAM.

// triggerResources returns the source stack's EventBridge rules of one kind
// of trigger ("Push", "Referrers", "Deletes"), by logical id: CDK names
// Trigger/<id> "Trigger<id><hash>".
func triggerResources(b *built, kind string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range resources(b.json["Ferry"], "AWS::Events::Rule") {
		if strings.HasPrefix(id, "Trigger"+kind) {
			out[id] = r
		}
	}
	return out
}

// onlyTriggerRule is the one rule of a kind of trigger.
func onlyTriggerRule(t *testing.T, b *built, kind string) map[string]any {
	t.Helper()
	rules := triggerResources(b, kind)
	if len(rules) != 1 {
		t.Fatalf("%d %s rules, want 1", len(rules), kind)
	}
	for _, r := range rules {
		return r
	}
	return nil
}

// normalized is v as JSON would decode it.
func normalized(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantPattern checks a rule's event pattern, exactly.
func wantPattern(t *testing.T, rule map[string]any, want map[string]any) {
	t.Helper()
	got := normalized(t, props(rule)["EventPattern"])
	if !reflect.DeepEqual(got, normalized(t, want)) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("event pattern\n %s\nwant\n %s", g, w)
	}
}

// referrerPattern is the referrers rule's pattern, written out: nil repos
// for no repository filter.
func referrerPattern(account, region string, repos []any) map[string]any {
	detail := map[string]any{
		"action-type": []any{"PUSH"},
		"result":      []any{"SUCCESS"},
		"$or": []any{
			map[string]any{"image-tag": []any{
				map[string]any{"wildcard": "sha256-*.sig"},
				map[string]any{"wildcard": "sha256-*.att"},
				map[string]any{"wildcard": "sha256-*.sbom"},
				"",
			}},
			map[string]any{"image-tag": []any{map[string]any{"exists": false}}},
		},
	}
	if repos != nil {
		detail["repository-name"] = repos
	}
	return map[string]any{
		"source":      []any{"aws.ecr"},
		"detail-type": []any{"ECR Image Action"},
		"account":     []any{account},
		"region":      []any{region},
		"detail":      detail,
	}
}

// eventInputTemplate is the input template of a trigger: the event, field
// for field, with one more field (`"name":"value"`), as CDK writes it (keys
// sorted).
func eventInputTemplate(extra string) string {
	fields := []string{extra}
	for _, f := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		fields = append(fields, `"`+f+`":<`+f+`>`)
	}
	slices.Sort(fields)
	return "{" + strings.Join(fields, ",") + "}"
}

// wantTarget checks a trigger rule's one target: the replicate state
// machine, with the event as its input plus extra, the push rules' retry
// policy and their dead-letter queue.
func wantTarget(t *testing.T, b *built, rule map[string]any, extra string) {
	t.Helper()
	targets, _ := props(rule)["Targets"].([]any)
	if len(targets) != 1 {
		t.Fatalf("%d targets, want 1", len(targets))
	}
	target := targets[0].(map[string]any)
	it, _ := target["InputTransformer"].(map[string]any)
	if got, want := it["InputTemplate"], eventInputTemplate(extra); got != want {
		t.Errorf("input template\n %v\nwant\n %s", got, want)
	}
	paths := map[string]any{}
	for _, f := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		paths[f] = "$." + f
	}
	if !reflect.DeepEqual(it["InputPathsMap"], paths) {
		t.Errorf("input paths %v, want %v", it["InputPathsMap"], paths)
	}
	if got, want := normalized(t, target["Arn"]), normalized(t, map[string]any{"Ref": stateMachineID(t, b, "Ferry-replicate")}); !reflect.DeepEqual(got, want) {
		t.Errorf("target %v, want the replicate state machine %v", got, want)
	}
	push := onlyOne(t, triggerResources(b, "Push"))
	pushTarget := props(push)["Targets"].([]any)[0].(map[string]any)
	for _, k := range []string{"RetryPolicy", "DeadLetterConfig", "RoleArn"} {
		if got, want := normalized(t, target[k]), normalized(t, pushTarget[k]); !reflect.DeepEqual(got, want) || got == nil {
			t.Errorf("%s %v, want the push rules' %v", k, got, want)
		}
	}
}

// onlyOne is any one value of a non-empty map.
func onlyOne(t *testing.T, m map[string]map[string]any) map[string]any {
	t.Helper()
	for _, k := range sortedKeys(m) {
		return m[k]
	}
	t.Fatal("none found")
	return nil
}

// TestReferrersTrigger: one rule starts the replicate state machine for a
// referrer tag or a push by digest, with the event and "ferryTrigger".
func TestReferrersTrigger(t *testing.T) {
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml", "testdata/untag.yaml"} {
		b := build(t, cfg)
		rule := onlyTriggerRule(t, b, "Referrers")
		wantTarget(t, b, rule, `"ferryTrigger":"referrers"`)
		if d, _ := props(rule)["Description"].(string); !strings.Contains(d, "referrer pushed after its image") || !strings.Contains(d, "Validate checks it exactly") {
			t.Errorf("%s: description %q", cfg, d)
		}
	}
	// Only the rules' repositories, every rule's (tools' has a regular
	// expression tag, and still filters its repositories).
	wantPattern(t, onlyTriggerRule(t, build(t, "testdata/untag.yaml"), "Referrers"), referrerPattern("111111111111", "us-east-1",
		[]any{map[string]any{"prefix": "apps/"}, "web", map[string]any{"prefix": "tools/"}}))
}

// TestDeletesTrigger: with a destination that removes tags deleted in the
// source, one rule starts the replicate state machine on deletes of the
// repositories and tags of its rules; without one, there is no such rule.
func TestDeletesTrigger(t *testing.T) {
	b := build(t, "testdata/untag.yaml")
	b.templates["Ferry"].ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(5)) // two push rules, referrers, deletes, failures
	rule := onlyTriggerRule(t, b, "Deletes")
	// Only the apps rule has an untag destination: its repositories and
	// tags, and not the tools rule's (whose regular expression would leave
	// the tags unfiltered).
	wantPattern(t, rule, map[string]any{
		"source":      []any{"aws.ecr"},
		"detail-type": []any{"ECR Image Action"},
		"account":     []any{"111111111111"},
		"region":      []any{"us-east-1"},
		"detail": map[string]any{
			"action-type":     []any{"DELETE"},
			"result":          []any{"SUCCESS"},
			"repository-name": []any{map[string]any{"prefix": "apps/"}, "web"},
			"image-tag":       []any{map[string]any{"prefix": "release-"}, "latest"},
		},
	})
	wantTarget(t, b, rule, `"ferryTrigger":"deletes"`)

	ex := build(t, exampleConfigPath(t))
	if rules := triggerResources(ex, "Deletes"); len(rules) != 0 {
		t.Errorf("example: %d deletes rules, want none (every destination keeps deleted tags)", len(rules))
	}
	for id, r := range resources(ex.json["Ferry"], "AWS::Events::Rule") {
		if strings.Contains(flatten(props(r)["EventPattern"]), "DELETE") {
			t.Errorf("example: rule %s matches deletes", id)
		}
	}
}

// TestUntagGrant: ecr:BatchDeleteImage only in the role of the destination
// with onSourceDelete: untag, only on its repositories, only to write
// sessions; never with the default.
func TestUntagGrant(t *testing.T) {
	type grant struct {
		stack, where string
		statement    map[string]any
	}
	find := func(b *built) []grant {
		var out []grant
		for stack, tmpl := range b.json {
			for where, sts := range statements(tmpl) {
				for _, s := range sts {
					if slices.Contains(strs(s["Action"]), "ecr:BatchDeleteImage") {
						out = append(out, grant{stack, where, s})
					}
				}
			}
		}
		return out
	}
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml"} {
		for _, g := range find(build(t, cfg)) {
			t.Errorf("%s: %s %s allows ecr:BatchDeleteImage, and no destination has onSourceDelete: untag", cfg, g.stack, g.where)
		}
	}

	b := build(t, "testdata/untag.yaml")
	got := find(b)
	if len(got) != 1 {
		t.Fatalf("ecr:BatchDeleteImage in %d statements, want 1: %v", len(got), got)
	}
	g := got[0]
	if g.stack != "Ferry-Access-333333333333" {
		t.Errorf("ecr:BatchDeleteImage in stack %s, want only Ferry-Access-333333333333", g.stack)
	}
	want := map[string]any{
		"Sid":    "UntagRuleRepositories",
		"Effect": "Allow",
		"Action": "ecr:BatchDeleteImage",
		// The untag destination's repositories only: not tools/*, which
		// the same role writes for a destination that keeps deleted tags.
		"Resource": []any{
			"arn:aws:ecr:eu-west-1:333333333333:repository/copy/apps/*",
			"arn:aws:ecr:eu-west-1:333333333333:repository/copy/web",
		},
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "write"}},
	}
	if !reflect.DeepEqual(normalized(t, g.statement), normalized(t, want)) {
		t.Errorf("untag statement\n %v\nwant\n %v", g.statement, want)
	}
	// The same role still reads and pushes where it did.
	var pushOn []string
	for _, s := range statements(b.json[g.stack])[g.where] {
		if s["Sid"] == "PushToRuleRepositories" {
			pushOn = strs(s["Resource"])
		}
	}
	if !slices.Contains(pushOn, "arn:aws:ecr:eu-west-1:333333333333:repository/tools/*") {
		t.Errorf("role %s pushes to %v, want tools/* among them", g.where, pushOn)
	}
}

// TestTriggerPatternsMatchSampleEvents checks the synthesized patterns
// against ECR events with moto's EventBridge pattern matcher
// (moto.events.models.EventPattern, which knows "$or", "wildcard",
// "prefix" and "exists").
func TestTriggerPatternsMatchSampleEvents(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("no python3 with moto, which checks the trigger patterns against sample events: install it with pip install 'moto[server]==5.2.1'")
	}
	if out, err := exec.Command(python, "-c", "from moto.events.models import EventPattern; EventPattern.load").CombinedOutput(); err != nil {
		t.Fatalf("no moto EventBridge pattern matcher (%v: %s), which checks the trigger patterns against sample events: install it with pip install 'moto[server]==5.2.1'", err, out)
	}
	pattern := func(b *built, kind string) any {
		return props(onlyOne(t, triggerResources(b, kind)))["EventPattern"]
	}
	ex, edge, untag := build(t, exampleConfigPath(t)), build(t, "testdata/edge.yaml"), build(t, "testdata/untag.yaml")
	var releases any
	for _, r := range triggerResources(ex, "Pushreleases") {
		releases = props(r)["EventPattern"]
	}
	sig := "sha256-" + strings.Repeat("0123456789abcdef", 4) + ".sig"
	const absent = "\x00absent"
	event := func(account, region, action, repo, tag string) map[string]any {
		detail := map[string]any{
			"result":          "SUCCESS",
			"repository-name": repo,
			"image-digest":    "sha256:" + strings.Repeat("ab", 32),
			"action-type":     action,
		}
		if tag != absent {
			detail["image-tag"] = tag
		}
		return map[string]any{
			"version": "0", "id": "13cde686-328b-6117-af20-0e5566167482", "detail-type": "ECR Image Action",
			"source": "aws.ecr", "account": account, "time": "2026-11-16T01:54:34Z", "region": region,
			"resources": []any{}, "detail": detail,
		}
	}
	src := func(action, repo, tag string) map[string]any {
		return event("111111111111", "us-east-1", action, repo, tag)
	}
	type tc struct {
		name    string
		pattern any
		event   map[string]any
		want    bool
	}
	refs, deletes := pattern(ex, "Referrers"), pattern(untag, "Deletes")
	cases := []tc{
		{"referrers: a release tag is not a referrer", refs, src("PUSH", "team/app", "release-1"), false},
		{"referrers: cosign signature tag", refs, src("PUSH", "team/app", sig), true},
		{"referrers: cosign attestation tag", refs, src("PUSH", "team/app", strings.TrimSuffix(sig, ".sig")+".att"), true},
		{"referrers: cosign SBOM tag", refs, src("PUSH", "team/app", strings.TrimSuffix(sig, ".sig")+".sbom"), true},
		{"referrers: push by digest, empty image-tag", refs, src("PUSH", "team/app", ""), true},
		{"referrers: push by digest, no image-tag", refs, src("PUSH", "tools/golang", absent), true},
		{"referrers: a .sig that is not a cosign tag", refs, src("PUSH", "team/app", "v1.sig"), false},
		{"referrers: a repository no rule names", refs, src("PUSH", "other/app", sig), false},
		{"referrers: a delete", refs, src("DELETE", "team/app", sig), false},
		{"referrers: a failed push", refs, func() map[string]any {
			e := src("PUSH", "team/app", sig)
			e["detail"].(map[string]any)["result"] = "FAILURE"
			return e
		}(), false},
		{"referrers: another account", refs, event("999999999999", "us-east-1", "PUSH", "team/app", sig), false},
		{"referrers, edge: any repository", pattern(edge, "Referrers"), event("111111111111", "eu-west-1", "PUSH", "anything/at-all", ""), true},
		{"referrers, edge: still not a plain tag", pattern(edge, "Referrers"), event("111111111111", "eu-west-1", "PUSH", "apps/web", "latest"), false},
		{"push releases: a release tag", releases, src("PUSH", "team/app", "release-1"), true},
		{"push releases: another repository", releases, src("PUSH", "tools/golang", "release-1"), false},
		{"deletes: a release tag of apps", deletes, src("DELETE", "apps/api", "release-1"), true},
		{"deletes: latest of web", deletes, src("DELETE", "web", "latest"), true},
		{"deletes: a tag no untag rule selects", deletes, src("DELETE", "apps/api", "dev-1"), false},
		{"deletes: a repository of a rule that keeps deleted tags", deletes, src("DELETE", "tools/golang", "v1"), false},
		{"deletes: a push", deletes, src("PUSH", "apps/api", "release-1"), false},
	}
	if releases == nil {
		t.Fatal("no push rule for releases")
	}
	var matcherInput []map[string]any
	for _, c := range cases {
		matcherInput = append(matcherInput, map[string]any{"pattern": c.pattern, "event": c.event})
	}
	input, err := json.Marshal(matcherInput)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys
from moto.events.models import EventPattern
cases = json.load(sys.stdin)
print(json.dumps([EventPattern.load(json.dumps(c["pattern"])).matches_event(c["event"]) for c in cases]))
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("moto matcher: %v\n%s", err, stderr.String())
	}
	var got []bool
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("moto matcher said %s (%v), want %d results", out, err, len(cases))
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: matches %v, want %v\n pattern %s\n event %s", c.name, got[i], c.want, flatten(c.pattern), flatten(c.event))
		}
	}
}
